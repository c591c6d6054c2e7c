"""Shared fixtures for the lab's browser tests: a real server, Debian's headless Chromium, and a page that
fails its test at teardown when the page logged a console error or threw an uncaught exception."""
from __future__ import annotations

from pathlib import Path

import pytest

from .pages import WORKBENCH

CHROMIUM = Path("/usr/bin/chromium")


def _playwright_api():
    try:
        import playwright.sync_api as api
    except ImportError:
        pytest.skip("playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed")
    return api


@pytest.fixture(scope="module")
def server_url():
    from tinylm.lab.app import create_app
    from tinylm.lab.server import BackgroundServer

    with BackgroundServer(create_app(max_active=2)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    api = _playwright_api()
    with api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class PageErrors:
    """Console errors and uncaught exceptions of one page, in order.

    A test that deliberately sends bad input sees the server answer 4xx, and Chromium logs every failed
    request as a console error ("Failed to load resource: ... status of 400"); such a test names the one
    request it expects to fail with ``allow_http(400, "/api/uploads/checkpoint")``. Nothing else is excused."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._allowed: list[tuple[int, str]] = []

    def console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url") or ""
        if any(f"status of {status} " in message.text and path in url for status, path in self._allowed):
            return
        self.entries.append(f"console error: {message.text}" + (f" ({url})" if url else ""))

    def uncaught(self, error) -> None:
        self.entries.append(f"uncaught page error: {error}")

    def allow_http(self, status: int, path: str) -> None:
        self._allowed.append((status, path))


@pytest.fixture
def page_errors() -> PageErrors:
    """What the `page` fixture recorded (tests may excuse a deliberate failed request, see PageErrors)."""
    return PageErrors()


def _open_lab(browser, server_url, errors: PageErrors, **context_options):
    context = browser.new_context(accept_downloads=True, **context_options)
    page = context.new_page()
    page.on("console", errors.console)
    page.on("pageerror", errors.uncaught)
    page.goto(server_url + WORKBENCH)
    page.wait_for_function("window.tinylab && window.tinylab.runner")
    return context, page


def _close_and_judge(context, page, errors: PageErrors) -> None:
    page.wait_for_timeout(100)     # let errors from the test's last actions arrive before judging
    context.close()
    if errors.entries:
        pytest.fail("the page logged errors:\n  " + "\n  ".join(errors.entries), pytrace=False)


@pytest.fixture
def page(browser, server_url, page_errors):
    """The lab at 1400x1000; the test fails if the page logged any console error or uncaught exception."""
    context, page = _open_lab(browser, server_url, page_errors, viewport={"width": 1400, "height": 1000})
    yield page
    _close_and_judge(context, page, page_errors)


@pytest.fixture
def phone_page(browser, server_url, page_errors):
    """The lab as a phone shows it (390x844 CSS px, 2 device px each, touch); same error rule as `page`."""
    context, page = _open_lab(browser, server_url, page_errors, viewport={"width": 390, "height": 844},
                              device_scale_factor=2, is_mobile=True, has_touch=True)
    yield page
    _close_and_judge(context, page, page_errors)
