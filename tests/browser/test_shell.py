"""The page shell in a real browser: keyboard-only login for each role, the role's navigation, the skip link,
logout, and the phone layout whose menu button works by keyboard (and whose navigation shows without JavaScript)."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from labeling.services.taxonomy import taxonomy_load
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

# Menu entries each role must and must not see (pages not built yet are simply absent from every menu).
NAVIGATION = {
    User.Role.ANNOTATOR: (
        {"Home", "Annotate", "Taxonomy", "API"},
        {"Texts", "Import", "Campaigns", "Intensities", "Snapshots", "Jobs", "Users"},
    ),
    User.Role.RESEARCHER: ({"Home", "Taxonomy", "Texts", "Import", "Jobs", "API"}, {"Users"}),
    User.Role.ADMIN: ({"Home", "Taxonomy", "Texts", "Import", "Jobs", "Users", "API"}, set()),
}


def log_in_by_keyboard(page: Page, base_url: str, username: str) -> None:
    """Type the username, Tab to the password, type it, press Enter — no mouse."""
    page.goto(f"{base_url}/accounts/login/")
    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.locator("#id_password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base_url}/")


def nav_labels(page: Page) -> set[str]:
    return set(page.locator('nav[aria-label="Main"] a').all_inner_texts())


def tab_until_focused(page: Page, selector: str, max_presses: int = 30) -> None:
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{selector} never received focus within {max_presses} Tab presses")


@pytest.mark.parametrize("role", [User.Role.ANNOTATOR, User.Role.RESEARCHER, User.Role.ADMIN])
def test_each_role_logs_in_by_keyboard_sees_its_menu_and_logs_out(
    role, live_server, desktop_page: Page, role_users, screenshot_dir: Path
):
    taxonomy_load()
    page = desktop_page
    log_in_by_keyboard(page, live_server.url, role_users[role].username)

    expect(page.get_by_test_id("current-role")).to_have_text(role.label)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {role}-user")
    expect(page.get_by_test_id("theory-card")).to_have_count(4)
    must_see, must_not_see = NAVIGATION[role]
    labels = nav_labels(page)
    assert must_see <= labels, f"{role} misses {sorted(must_see - labels)}"
    assert not labels & must_not_see, f"{role} must not see {sorted(labels & must_not_see)}"
    expect(page.locator('nav[aria-label="Main"] a[aria-current="page"]')).to_have_text("Home")
    page.screenshot(path=str(screenshot_dir / f"home-desktop-{role}.png"), full_page=True)

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/?next=")


def test_home_page_links_into_the_taxonomy(live_server, desktop_page: Page, role_users):
    taxonomy_load()
    page = desktop_page
    log_in_by_keyboard(page, live_server.url, role_users[User.Role.ANNOTATOR].username)
    first_value = page.get_by_test_id("target-value").first
    name = first_value.inner_text()
    first_value.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    page.goto(f"{live_server.url}/")
    page.get_by_test_id("theory-card").first.get_by_role("link").first.click()
    assert page.url.startswith(f"{live_server.url}/taxonomy/")


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(live_server, desktop_page: Page, role_users):
    page = desktop_page
    log_in_by_keyboard(page, live_server.url, role_users[User.Role.RESEARCHER].username)
    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="Skip to main content")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_a_wrong_password_shows_an_error_next_to_the_form(
    live_server, desktop_page: Page, role_users, screenshot_dir: Path
):
    page = desktop_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.keyboard.type("annotator-user")
    page.keyboard.press("Tab")
    page.keyboard.type("not-the-password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    assert page.url == f"{live_server.url}/accounts/login/"
    page.screenshot(path=str(screenshot_dir / "login-error.png"), full_page=True)


def test_an_admin_changes_a_role_by_keyboard_and_sees_the_confirmation(
    live_server, desktop_page: Page, role_users, screenshot_dir: Path
):
    page = desktop_page
    log_in_by_keyboard(page, live_server.url, role_users[User.Role.ADMIN].username)
    page.goto(f"{live_server.url}/accounts/users/")
    role_select = page.get_by_label("New role for annotator-user")
    role_select.focus()
    role_select.select_option("researcher")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Save role of annotator-user")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/accounts/users/")
    expect(page.get_by_role("status")).to_have_text("annotator-user is now Researcher.")
    page.screenshot(path=str(screenshot_dir / "users-role-changed.png"), full_page=True)
    role_users[User.Role.ANNOTATOR].refresh_from_db()
    assert role_users[User.Role.ANNOTATOR].role == User.Role.RESEARCHER


def test_on_a_phone_the_menu_button_opens_and_closes_the_menu_by_keyboard(
    live_server, phone_page: Page, role_users, screenshot_dir: Path
):
    page = phone_page
    log_in_by_keyboard(page, live_server.url, role_users[User.Role.RESEARCHER].username)
    button = page.get_by_role("button", name="Menu")
    menu = page.get_by_test_id("site-menu")
    expect(button).to_be_visible()
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    page.screenshot(path=str(screenshot_dir / "home-phone-closed.png"), full_page=True)

    tab_until_focused(page, "#menu-button")
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    expect(page.get_by_role("link", name="Jobs")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "home-phone-menu-open.png"), full_page=True)

    # The next Tab stop is the first menu entry, so the open menu is reachable by keyboard.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Home")).to_be_focused()

    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Space")
    expect(menu).to_be_visible()
    page.keyboard.press("Space")
    expect(menu).to_be_hidden()


def test_on_a_phone_without_javascript_the_navigation_is_always_shown(
    live_server, phone_page_without_javascript: Page, role_users
):
    page = phone_page_without_javascript
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "annotator-user")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_test_id("site-menu")).to_be_visible()
    expect(page.get_by_role("link", name="Taxonomy")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
