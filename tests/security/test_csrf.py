"""CSRF protection on every form: every HTML page a role can open is rendered, every POST form on it must carry
Django's csrfmiddlewaretoken, and a page that sends htmx requests must carry the token in hx-headers. Then every
HTML endpoint that takes POST refuses a request without the token (403) — Django's check, not the role check."""

import re

import pytest
from django.test import Client

from tests.permission_table import ADMIN, ANONYMOUS, ENDPOINTS
from tests.test_permission_matrix import objects, url_of  # noqa: F401 - `objects` is the shared sample fixture

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.IGNORECASE | re.DOTALL)
HTMX_UNSAFE = re.compile(r"\bhx-(?:post|put|patch|delete)=", re.IGNORECASE)
HX_HEADERS_TOKEN = re.compile(r"""<body[^>]*hx-headers='\{"X-CSRFToken": "[A-Za-z0-9]{32,}"\}'""")

HTML_PAGES = [
    e for e in ENDPOINTS if not e.is_api and e.get is not None and e.route not in ("api/schema/", "api/docs/")
]
HTML_POSTS = [e for e in ENDPOINTS if not e.is_api and e.post is not None and e.post != ANONYMOUS]


def logged_in(objects, role: str = ADMIN, **client_options) -> Client:  # type: ignore[no-untyped-def]  # noqa: F811
    client = Client(**client_options)
    client.force_login(objects.users[role])
    return client


@pytest.mark.parametrize("endpoint", HTML_PAGES, ids=lambda e: f"/{e.route}")
def test_every_post_form_carries_the_csrf_token(endpoint, objects, db):  # noqa: F811
    role = ANONYMOUS if endpoint.get == ANONYMOUS else ADMIN
    client = Client() if role == ANONYMOUS else logged_in(objects)
    response = client.get(url_of(endpoint, objects))
    if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
        pytest.skip(f"not an HTML page for the sample objects (HTTP {response.status_code})")
    html = response.content.decode()
    for attributes, inner in FORM.findall(html):
        if re.search(r"method\s*=\s*[\"']?post", attributes, re.IGNORECASE):
            assert 'name="csrfmiddlewaretoken"' in inner, f"/{endpoint.route}: a POST form without the token"
    if HTMX_UNSAFE.search(html):
        assert HX_HEADERS_TOKEN.search(html), f"/{endpoint.route}: htmx requests without the token in hx-headers"


@pytest.mark.parametrize("endpoint", HTML_POSTS, ids=lambda e: f"POST /{e.route}")
def test_a_post_without_the_token_is_refused(endpoint, objects, db):  # noqa: F811
    client = logged_in(objects, enforce_csrf_checks=True)
    response = client.post(url_of(endpoint, objects), {})
    assert response.status_code == 403, f"/{endpoint.route}: HTTP {response.status_code} without a CSRF token"
    assert b"CSRF" in response.content


def test_the_login_form_itself_needs_the_token(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403


def test_the_api_with_a_session_needs_the_token_too(objects, db):  # noqa: F811
    client = logged_in(objects, enforce_csrf_checks=True)
    response = client.post(f"/api/v1/campaigns/{objects.campaign.pk}/next/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


def test_the_forms_of_backend_and_query_set_pages_carry_the_token(objects, db):  # noqa: F811
    """The matrix's sample objects have no backend or query set (their pages answer 404 above): make one of each."""
    from modeling.services.backends import backend_create
    from modeling.services.query_sets import query_set_import

    backend = backend_create(name="Judge", kind="openai", model="judge-1", endpoint_url="http://127.0.0.1:9/v1")
    query_set = query_set_import(name="Two questions", data=b"query\nWhat matters?\nWhy help?\n", file_name="q.csv")
    client = logged_in(objects)
    for url in (f"/modeling/backends/{backend.pk}/", f"/modeling/query-sets/{query_set.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        forms = [inner for attributes, inner in FORM.findall(response.content.decode())
                 if re.search(r"method\s*=\s*[\"']?post", attributes, re.IGNORECASE)]
        assert forms, f"{url} shows no form"
        assert all('name="csrfmiddlewaretoken"' in inner for inner in forms), url
