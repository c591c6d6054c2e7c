"""Small actions on the lab page shared by the browser tests."""


def full_speed(page) -> None:
    """Unthrottled runs keep the suite quick (the page's default pace is for a learner's eyes)."""
    page.eval_on_selector("#speed", "e => { e.value = '100'; e.dispatchEvent(new Event('input')); }")
