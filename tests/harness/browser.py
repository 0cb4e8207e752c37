"""A real headless browser for the status page and dashboard tests: Debian's Chromium
driven by Playwright, and axe-core (bundled by axe-playwright-python) as the
accessibility checker.

Playwright never downloads a browser here: it launches the system ``chromium`` that
hack/setup-debian.sh installs. Screenshots go to ``build/test-artefacts/`` (kept after the
run, ignored by git) so a failure can be looked at.
"""

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts"
_AXE = Axe()


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("chromium is not installed: run `make setup-debian`")
    return found


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the length of the block."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # No sandbox: the tests may run as root (CI machines), where Chromium refuses
            # its sandbox. Every page it opens is on 127.0.0.1 and served by the tests.
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Saves the whole page as build/test-artefacts/<name>.png and returns the path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (empty: none).

    Every rule axe-core runs by default is checked: landmarks, headings, contrast, names
    of links, buttons and form fields, language, and so on.
    """
    results = _AXE.run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}: "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in results.response["violations"]
    ]
