"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, against pytest-django's live server.

Set VALUEFLOW_SCREENSHOT_DIR to keep the screenshots the tests take (e.g. to look at the layout); otherwise they go
to the test's temporary directory.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from accounts.models import User
from accounts.services import user_create
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); bin/test does.")
    # Playwright's sync API runs an asyncio event loop in this thread, and Django refuses database access from a
    # thread with a running loop unless told otherwise. The tests' own queries are ordinary synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _new_page(browser: Browser, viewport: ViewportSize, java_script: bool = True) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport, java_script_enabled=java_script)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop_page(browser: Browser) -> Iterator[Page]:
    yield from _new_page(browser, DESKTOP)


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    yield from _new_page(browser, PHONE)


@pytest.fixture
def phone_page_without_javascript(browser: Browser) -> Iterator[Page]:
    yield from _new_page(browser, PHONE, java_script=False)


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("VALUEFLOW_SCREENSHOT_DIR", tmp_path / "screenshots"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def role_users(transactional_db) -> dict[str, User]:
    """One account per role; the live server sees them because the test database is not wrapped in a transaction."""
    return {
        role: user_create(username=f"{role}-user", password=PASSWORD, role=role)
        for role in (User.Role.ANNOTATOR, User.Role.RESEARCHER, User.Role.ADMIN)
    }
