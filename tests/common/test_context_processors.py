"""The role-based navigation built for the base layout."""

import pytest
from django.urls import NoReverseMatch, reverse


def _labels_on(client, url: str) -> list[str]:
    response = client.get(url)
    return [item["label"] for item in response.context["nav_items"]]


@pytest.mark.parametrize(
    ("client_fixture", "must_see", "must_not_see"),
    [
        ("annotator_client", {"Home", "API"}, {"Texts", "Import", "Jobs", "Users"}),
        ("researcher_client", {"Home", "Jobs"}, {"Users"}),
        ("admin_role_client", {"Home", "Jobs", "Users"}, set()),
    ],
)
def test_each_role_sees_its_own_menu(request, client_fixture, must_see, must_not_see):
    labels = set(_labels_on(request.getfixturevalue(client_fixture), reverse("accounts:login")))
    assert must_see <= labels
    assert not labels & must_not_see


def test_researchers_also_see_texts_and_import_when_those_pages_exist(researcher_client):
    labels = _labels_on(researcher_client, reverse("accounts:login"))
    for label, url_name in (("Texts", "labeling:text_list"), ("Import", "labeling:import_upload")):
        try:
            reverse(url_name)
        except NoReverseMatch:  # the page is not part of this build; the menu must skip it
            assert label not in labels
        else:
            assert label in labels


@pytest.mark.django_db
def test_anonymous_visitors_get_no_menu(client):
    assert client.get(reverse("accounts:login")).context["nav_items"] == []


def test_the_current_page_is_marked_and_home_is_not_marked_everywhere(admin_role_client):
    response = admin_role_client.get(reverse("accounts:user_list"))
    active = [item["label"] for item in response.context["nav_items"] if item["active"]]
    assert active == ["Users"]
    assert 'aria-current="page">Users</a>' in response.content.decode()
