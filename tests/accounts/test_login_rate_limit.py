"""After VALUEFLOW_LOGIN_MAX_FAILURES failed log-ins for one username from one address, the log-in form and HTTP
basic auth answer 429 with a clear message — even with the right password — until the window passes; other
addresses and other usernames are unaffected, and a successful log-in clears the count."""

import base64

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import PASSWORD

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.VALUEFLOW_LOGIN_MAX_FAILURES = LIMIT
    settings.VALUEFLOW_LOGIN_WINDOW_S = 120
    cache.clear()
    yield
    cache.clear()


def log_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_the_form_refuses_a_username_that_failed_too_often_from_this_address(annotator):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(LIMIT):
        assert log_in(client, "ann", "wrong-password").status_code == 200  # the form with its error
    blocked = log_in(client, "ann", PASSWORD)
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == "120"
    assert "Too many failed log-ins for this username from your address (3)" in blocked.content.decode()
    assert "_auth_user_id" not in client.session  # the right password did not get in

    elsewhere = Client(REMOTE_ADDR="198.51.100.8")
    assert log_in(elsewhere, "ann", PASSWORD).status_code == 302  # the owner, elsewhere, is not locked out


def test_other_usernames_from_the_same_address_are_not_blocked(annotator, researcher):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(LIMIT):
        log_in(client, "ann", "wrong-password")
    assert log_in(client, "res", PASSWORD).status_code == 302


def test_a_successful_log_in_clears_the_failures(annotator):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(LIMIT - 1):
        log_in(client, "ann", "wrong-password")
    assert log_in(client, "ann", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        log_in(client, "ann", "wrong-password")
    assert log_in(client, "ann", PASSWORD).status_code == 302


def test_basic_auth_shares_the_limit_and_answers_429_with_a_message(annotator):
    def basic(password: str) -> dict[str, str]:
        token = base64.b64encode(f"ann:{password}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {token}"}

    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(LIMIT):
        assert client.get("/api/v1/me/", **basic("wrong-password")).status_code in (401, 403)
    response = client.get("/api/v1/me/", **basic(PASSWORD))
    assert response.status_code == 429
    assert response.json()["message"].startswith("Too many failed log-ins for this username")


def test_a_blocked_log_in_is_audit_logged(annotator, caplog):
    client = Client(REMOTE_ADDR="198.51.100.7")
    with caplog.at_level("WARNING", logger="valueflow.audit"):
        for _ in range(LIMIT):
            log_in(client, "ann", "wrong-password")
    assert "login blocked: 3 failed log-ins for username 'ann' from 198.51.100.7" in caplog.text
