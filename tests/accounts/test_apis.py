"""/api/v1/me/ and /api/v1/users/."""

from django.urls import reverse


def test_me_returns_the_callers_role(annotator_api):
    response = annotator_api.get(reverse("api-me"))
    assert response.status_code == 200
    assert response.json() | {"id": None} == {"id": None, "username": "ann", "role": "annotator", "is_active": True}


def test_me_needs_a_login(anonymous_api, db):
    response = anonymous_api.get(reverse("api-me"))
    assert response.status_code in (401, 403)
    assert "message" in response.json()


def test_user_list_is_for_admins_only(admin_api, researcher_api, annotator, researcher):
    assert researcher_api.get(reverse("api-user-list")).status_code == 403
    response = admin_api.get(reverse("api-user-list"))
    assert response.status_code == 200
    assert [(u["username"], u["role"]) for u in response.json()] == [
        ("adm", "admin"),
        ("ann", "annotator"),
        ("res", "researcher"),
    ]
