"""The session's user, looked up by accounts.backends.UserBackend on every request: always the stored row."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.backends import UserBackend
from accounts.models import User
from accounts.services import user_role_set


@pytest.fixture
def logged_in(annotator) -> Client:
    client = Client()
    client.force_login(annotator)
    return client


def test_a_session_reads_its_user_with_one_query(logged_in, annotator):
    with CaptureQueriesContext(connection) as queries:
        response = logged_in.get(reverse("api-me"))
    assert response.json()["username"] == "ann"
    assert len([query for query in queries if "accounts_user" in query["sql"]]) == 1


def test_a_role_change_takes_effect_on_the_next_request(logged_in, annotator, platform_admin):
    assert logged_in.get(reverse("api-me")).json()["role"] == "annotator"
    user_role_set(user=annotator, role=User.Role.RESEARCHER, changed_by=platform_admin)
    assert logged_in.get(reverse("api-me")).json()["role"] == "researcher"


def test_a_deactivated_or_deleted_user_is_logged_out_at_once(logged_in, annotator):
    assert logged_in.get(reverse("api-me")).status_code == 200
    User.objects.filter(pk=annotator.pk).update(is_active=False)
    assert logged_in.get(reverse("api-me")).status_code in (401, 403)
    User.objects.filter(pk=annotator.pk).update(is_active=True)
    assert logged_in.get(reverse("api-me")).status_code == 200
    annotator.delete()
    assert logged_in.get(reverse("api-me")).status_code in (401, 403)


def test_a_new_password_ends_the_other_sessions(logged_in, annotator):
    assert logged_in.get(reverse("api-me")).status_code == 200
    annotator.set_password("another-valueflow-pass")
    annotator.save()
    assert logged_in.get(reverse("api-me")).status_code in (401, 403)


def test_a_session_id_that_is_no_user_id_is_anonymous(annotator):
    assert UserBackend().get_user("not-a-number") is None
    assert UserBackend().get_user(annotator.pk + 1000) is None
    user = UserBackend().get_user(str(annotator.pk))  # sessions store the id as text
    assert user == annotator and user.role == annotator.role and user.password == annotator.password

