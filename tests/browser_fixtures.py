"""The browser fixture the status page and dashboard tests share (tests/harness/browser.py)."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.harness.browser import headless_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module (starting it costs about a second). Not one per
    session: Playwright's sync API keeps an event loop running in the thread while it is
    open, and every later test of the worker calling ``asyncio.run`` would fail."""
    with headless_chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no cookies or storage shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
