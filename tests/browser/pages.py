"""Small actions on the lab page shared by the browser tests."""
from pathlib import Path

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# the lab opens on the course; the panels these tests drive are all on the workbench view
WORKBENCH = "/#/workbench"


def full_speed(page) -> None:
    """Unthrottled runs keep the suite quick (the page's default pace is for a learner's eyes)."""
    page.eval_on_selector("#speed", "e => { e.value = '100'; e.dispatchEvent(new Event('input')); }")


def shot(page, name, selector=None, full_page=False) -> None:
    """A screenshot in artifacts/screenshots/ (of one element when ``selector`` is given)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if selector:
        page.locator(selector).screenshot(path=str(SHOTS / f"{name}.png"))
    else:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def start_names_run(page, steps=300, sample_every=100, seed="browser") -> None:
    """Start a microgpt run on names from the runner's form, at full speed; return once it has started."""
    page.select_option("#preset", "microgpt")
    page.fill("#steps", str(steps))
    page.fill("#sample-every", str(sample_every))
    page.fill("#seed", seed)
    full_speed(page)
    page.click("#start")
    page.wait_for_function("window.tinylab.runner.start_event !== null", timeout=60_000)
