"""Login, logout and the admins' user management page."""

import logging

import pytest
from django.urls import reverse

from accounts.models import User
from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_login_page_renders_labelled_fields(client):
    response = client.get(reverse("accounts:login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html
    assert 'class="skip-link" href="#main"' in html


def test_login_with_the_right_password_lands_on_home(client, researcher):
    response = client.post(reverse("accounts:login"), {"username": "res", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_login_with_a_wrong_password_says_so(client, researcher):
    response = client.post(reverse("accounts:login"), {"username": "res", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_and_ends_the_session(annotator_client):
    assert annotator_client.get(reverse("accounts:logout")).status_code == 405
    response = annotator_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in annotator_client.session


def test_user_list_shows_every_account_with_its_role(admin_role_client, annotator, researcher):
    response = admin_role_client.get(reverse("accounts:user_list"))
    html = response.content.decode()
    assert response.status_code == 200
    for username in ("ann", "res", "adm"):
        assert f'<th scope="row">{username}</th>' in html
    assert f'<label class="visually-hidden" for="role-{annotator.pk}">New role for ann</label>' in html
    # An admin cannot demote themselves, so their own row offers no form.
    assert "Your own role" in html


def test_role_change_is_saved_shown_and_audit_logged(admin_role_client, annotator, platform_admin, caplog):
    url = reverse("accounts:user_role_update", args=[annotator.pk])
    with caplog.at_level(logging.INFO, logger="valueflow.audit"):
        response = admin_role_client.post(url, {"role": "researcher"}, follow=True)
    annotator.refresh_from_db()
    assert annotator.role == User.Role.RESEARCHER
    assert "ann is now Researcher." in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "valueflow.audit"]
    assert record.getMessage() == (
        f"role changed: user=ann (id {annotator.pk}) from=annotator to=researcher by=adm (id {platform_admin.pk})"
    )


def test_promoting_to_admin_grants_django_admin_access(admin_role_client, researcher):
    admin_role_client.post(reverse("accounts:user_role_update", args=[researcher.pk]), {"role": "admin"})
    researcher.refresh_from_db()
    assert researcher.role == User.Role.ADMIN
    assert researcher.is_staff


def test_setting_the_same_role_changes_nothing_and_logs_nothing(admin_role_client, annotator, caplog):
    with caplog.at_level(logging.INFO, logger="valueflow.audit"):
        response = admin_role_client.post(
            reverse("accounts:user_role_update", args=[annotator.pk]), {"role": "annotator"}, follow=True
        )
    assert "already is Annotator; nothing changed" in response.content.decode()
    assert not [r for r in caplog.records if r.name == "valueflow.audit"]


def test_an_unknown_role_is_refused_with_a_clear_message(admin_role_client, annotator):
    response = admin_role_client.post(
        reverse("accounts:user_role_update", args=[annotator.pk]), {"role": "owner"}, follow=True
    )
    annotator.refresh_from_db()
    assert annotator.role == User.Role.ANNOTATOR
    assert "Could not change the role of ann: Unknown role &#x27;owner&#x27;" in response.content.decode()


def test_an_admin_cannot_demote_themselves(admin_role_client, platform_admin):
    response = admin_role_client.post(
        reverse("accounts:user_role_update", args=[platform_admin.pk]), {"role": "annotator"}, follow=True
    )
    platform_admin.refresh_from_db()
    assert platform_admin.role == User.Role.ADMIN
    assert "Admins cannot remove their own admin role" in response.content.decode()


def test_role_changes_need_a_post(admin_role_client, annotator):
    assert admin_role_client.get(reverse("accounts:user_role_update", args=[annotator.pk])).status_code == 405


def test_researchers_cannot_change_roles(researcher_client, annotator):
    response = researcher_client.post(reverse("accounts:user_role_update", args=[annotator.pk]), {"role": "admin"})
    annotator.refresh_from_db()
    assert response.status_code == 403
    assert annotator.role == User.Role.ANNOTATOR


def test_a_page_above_your_role_explains_itself(researcher_client):
    response = researcher_client.get(reverse("accounts:user_list"))
    html = response.content.decode()
    assert response.status_code == 403
    assert "This page is not open to your role" in html
    assert "You are logged in as res (Researcher)." in html
