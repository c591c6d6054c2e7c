"""The lab page as a person meets it: on a phone, with its errors where they happened, readable controls, a
favicon, and no console or page errors (the conftest's `page`/`phone_page` fixtures fail a test on any)."""
from __future__ import annotations

import re

import pytest

from .pages import full_speed, shot, start_names_run

pytestmark = pytest.mark.browser
PHONE_WIDTH = 390


def run_to_the_end(page, steps=200, sample_every=100, seed="quality"):
    start_names_run(page, steps, sample_every, seed)
    page.wait_for_function("window.tinylab.runner.state === 'finished'", timeout=120_000)


def panel_error(page, panel):
    """The visible error line inside the panel (a section id), or None."""
    line = page.locator(f"#{panel} .panel-error:not([hidden])")
    return line.inner_text() if line.count() else None


def rgb(css: str) -> tuple[float, ...]:
    parts = [float(v) for v in re.findall(r"[\d.]+", css)]
    return tuple(parts[:3]) + ((parts[3],) if len(parts) > 3 else (1.0,))


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    def luminance(c):
        lin = [(v / 255 / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4) for v in c[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_phone_width_has_no_horizontal_scroll(phone_page):
    page = phone_page
    run_to_the_end(page)
    page.click("#in-compute")                                  # the widest table on the page, filled
    page.wait_for_function("document.querySelectorAll('#in-table tbody tr').length === 8", timeout=30_000)
    page.wait_for_function("document.querySelector('#r-val').textContent !== '–'")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the page is {width} px wide on a {PHONE_WIDTH} px screen"
    # every readout is on screen, not cut off at the right edge
    rights = page.eval_on_selector_all(".readouts > div", "els => els.map(e => e.getBoundingClientRect().right)")
    assert rights and max(rights) <= PHONE_WIDTH
    # the wide table scrolls inside its own box instead of widening the page
    box = page.evaluate("""(() => { const b = document.querySelector('#in-table').closest('.table-box');
        return {client: b.clientWidth, scroll: b.scrollWidth, overflow: getComputedStyle(b).overflowX}; })()""")
    assert box["client"] <= PHONE_WIDTH and box["overflow"] == "auto"
    # charts fit their card and stay crisp: the backing store is the CSS size times the device pixel ratio
    charts = page.eval_on_selector_all("canvas", """els => els.filter(c => c.clientWidth).map(c =>
        ({css: c.clientWidth, backing: c.width, right: c.getBoundingClientRect().right}))""")
    assert charts
    for chart in charts:
        assert chart["right"] <= PHONE_WIDTH, chart
        assert abs(chart["backing"] - 2 * chart["css"]) <= 1, chart
    shot(page, "phone-top")
    shot(page, "phone-full", full_page=True)


def test_desktop_screenshot_after_a_run(page):
    run_to_the_end(page, seed="desktop")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shot(page, "desktop-full", full_page=True)


def test_an_error_shows_in_the_panel_that_caused_it_and_clears_stale_results(page, page_errors):
    # no run yet: the sandbox says so in the sandbox, not in a banner at the top
    page.click("#sb-names")
    page.wait_for_function("document.querySelector('#sandbox .panel-error') && "
                           "!document.querySelector('#sandbox .panel-error').hidden")
    assert "start a run first" in panel_error(page, "sandbox")
    assert page.locator("#error").is_hidden()

    run_to_the_end(page, steps=60, sample_every=0, seed="panel")
    page.fill("#in-doc", "emma")
    page.click("#in-compute")
    page.wait_for_function("document.querySelectorAll('#in-table tbody tr').length === 8", timeout=30_000)
    assert panel_error(page, "inspector") is None

    page_errors.allow_http(400, "/query")                     # a character the model never saw: refused
    page.fill("#in-doc", "emmaΩ")
    page.click("#in-compute")
    page.wait_for_selector("#inspector .panel-error:not([hidden])", timeout=30_000)
    assert "vocabulary" in panel_error(page, "inspector")
    assert page.locator("#in-table tbody tr").count() == 0     # the previous document's numbers are gone
    assert page.inner_text("#in-summary") == ""
    assert page.locator("#error").is_hidden()
    assert page.locator(".panel-error:not([hidden])").count() == 1   # only the panel that failed says so
    shot(page, "inspector-error", "#inspector")

    page.fill("#in-doc", "anna")                               # a good document again: the error goes
    page.click("#in-compute")
    page.wait_for_function("document.querySelectorAll('#in-table tbody tr').length === 8", timeout=30_000)
    assert panel_error(page, "inspector") is None


def test_queries_wait_for_a_starting_run_instead_of_failing(page):
    page.fill("#steps", "300")
    page.fill("#sample-every", "0")
    page.fill("#seed", "early")
    full_speed(page)
    page.click("#start")
    page.click("#in-compute")                 # at once: the run's worker is still starting
    page.click("#sb-names")
    # a worker's start (a fresh process importing numpy) can take tens of seconds on a loaded 2-core machine
    page.wait_for_function("document.querySelectorAll('#in-table tbody tr').length === 8", timeout=150_000)
    page.wait_for_function("document.querySelectorAll('#sb-list li').length === 15", timeout=150_000)
    assert panel_error(page, "inspector") is None and panel_error(page, "sandbox") is None
    page.wait_for_function("window.tinylab.runner.state === 'finished'", timeout=120_000)


def test_start_button_stays_readable_on_hover(page):
    page.hover("#start")
    page.wait_for_timeout(200)                # past any transition
    color, background = page.eval_on_selector(
        "#start", "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert rgb(color) != rgb(background)
    assert contrast(rgb(color), rgb(background)) >= 4.5, (color, background)


def test_favicon_loads(page):
    icon = page.evaluate("""(async () => {
        const link = document.querySelector('link[rel~=icon]');
        const response = await fetch(link.href);
        const image = new Image();
        const loaded = new Promise((ok, fail) => { image.onload = ok; image.onerror = fail; });
        image.src = link.href;
        await loaded;
        return {status: response.status, type: response.headers.get('content-type'), width: image.naturalWidth};
    })()""")
    assert icon["status"] == 200 and icon["type"].startswith("image/") and icon["width"] > 0
