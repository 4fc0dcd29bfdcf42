"""Headless Chromium (Debian's package) driven by Playwright, against the live test server.

Playwright's own browser download is not used: ``CHROMIUM_PATH`` (default
``/usr/bin/chromium``) is launched directly. Missing Chromium skips the tests with
a reason, or fails them under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import require

# Playwright's sync API runs an event loop in this thread; the ORM calls the test
# itself makes (fixtures) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Block third-party cookies, as Safari, Firefox and many Chrome users do: the embedded survey
    # (tests/browser/test_embed.py) must work without them.
    "--test-third-party-cookie-phaseout",
]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = chromium_path()
    require(bool(path), "needs Chromium: apt-get install chromium (or set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "needs the playwright Python package (requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
