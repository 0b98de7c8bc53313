"""Every URL pattern × every method it takes × every role (anonymous, annotator, researcher, admin), checked
against tests/permission_table.py.

A role at or above the table's least role must get past the permission check: no 401/403, no redirect to the
login page, never a 5xx. A role below it must be turned away: 403 for logged-in users; for anonymous visitors a
redirect to the login page on HTML pages and 401/403 on the API.
"""

import csv
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from accounts.services import user_create
from common.models import Job
from common.services import job_create
from labeling.models import Assignment, Campaign, Text, Value
from labeling.services.assignment import assignment_next
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status
from labeling.services.imports import texts_import
from labeling.services.taxonomy import taxonomy_load
from modeling.models import EmbeddingModel
from modeling.services.hives import hives_base_version_create
from tests.permission_table import ADMIN_SITE, ADMIN_SITE_PREFIX, ANONYMOUS, ENDPOINTS, ROLES, Endpoint

RANK = {role: rank for rank, role in enumerate(ROLES)}
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


# --- the URL conf ---------------------------------------------------------------------------------------------


def project_routes(patterns=None, prefix: str = "") -> dict[str, URLPattern]:
    """Every URL pattern of the project as its full route, walking includes; the Django admin counts as one."""
    routes: dict[str, URLPattern] = {}
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route == ADMIN_SITE_PREFIX:
                routes[route] = entry  # type: ignore[assignment]
            else:
                routes.update(project_routes(entry.url_patterns, route))
        else:
            routes[route] = entry
    return routes


def view_class(pattern: URLPattern) -> type | None:
    """The class behind a class-based view or DRF APIView, None for a function view."""
    return getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)


# --- sample objects the parametrised routes point at -------------------------------------------------------


@dataclass
class SampleObjects:
    users: dict[str, User]
    other_annotator: User
    annotators_job: Job
    value: Value
    text: Text
    campaign: Campaign
    annotators_assignment: Assignment
    hives_version: EmbeddingModel
    # Ids nothing has (see NO_SAMPLE_SNAPSHOT and NOT_THE_CALLERS_OWN in permission_table.py).
    missing_snapshot_id: int = 2_000_000_000
    missing_judgment_id: int = 2_000_000_000


@pytest.fixture(scope="module")
def objects(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction that is rolled back afterwards (each test runs in a
    savepoint inside it), through the same services the platform uses."""
    with django_db_blocker.unblock(), transaction.atomic():
        users = {
            role: user_create(username=f"matrix-{role}", password="matrix-pass", role=role)
            for role in ROLES
            if role != ANONYMOUS
        }
        taxonomy_load()
        value = Value.objects.select_related("theory").get(theory__key="svt", key="benevolence")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sample.csv"
            with path.open("w", newline="") as handle:
                csv.writer(handle).writerows(
                    [
                        ["text", "theory", "value"],
                        ["Neighbours cooked for the family after the flood.", "svt", "benevolence"],
                        ["She kept her promise to visit her grandmother every week.", "svt", "benevolence"],
                    ]
                )
            texts_import(format="csv", paths=[path], imported_by=users["researcher"])
        campaign = campaign_create(
            settings=CampaignSettings(name="Permission matrix campaign"), values=[value], created_by=users["researcher"]
        )
        campaign = campaign_set_status(campaign=campaign, status=Campaign.Status.RUNNING)
        assignment = assignment_next(campaign=campaign, annotator=users["annotator"]).assignment
        assert assignment is not None, "the sample campaign handed the annotator no comparison"
        job = job_create(
            kind="labeling.import_texts",
            params={"format": "csv", "paths": []},
            created_by=users["annotator"],
            title="Sample job of an annotator",
        )
        yield SampleObjects(
            users=users,
            other_annotator=user_create(username="matrix-annotator-2", password="matrix-pass", role="annotator"),
            annotators_job=job,
            value=value,
            text=Text.objects.filter(pool_items__value=value).first(),
            campaign=campaign,
            annotators_assignment=assignment,
            # Registered only: its embedding job is enqueued on commit, and this transaction never commits.
            hives_version=hives_base_version_create(created_by=users["researcher"])[0],
        )
        transaction.set_rollback(True)


def client_for(role: str, objects: SampleObjects) -> Client:
    client = Client()
    if role != ANONYMOUS:
        client.force_login(objects.users[role])
    return client


def url_of(endpoint: Endpoint, objects: SampleObjects) -> str:
    kwargs = endpoint.kwargs(objects) if endpoint.kwargs else {}
    missing = set(PARAMETER.findall(endpoint.route)) - set(kwargs)
    assert not missing, f"permission_table.py gives no sample value for {sorted(missing)} in {endpoint.route!r}"
    return "/" + PARAMETER.sub(lambda match: str(kwargs[match.group(1)]), endpoint.route)


def redirects_to_login(response, login_url: str) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    location = urlsplit(response["Location"])
    return location.path == login_url and "next=" in location.query


def describe(response) -> str:
    location = f" → {response['Location']}" if response.has_header("Location") else ""
    return f"HTTP {response.status_code}{location}"


# --- the matrix -----------------------------------------------------------------------------------------------


def _cases():
    for endpoint in ENDPOINTS:
        for method in endpoint.methods:
            for role in ROLES:
                yield pytest.param(endpoint, method, role, id=f"{method} /{endpoint.route} as {role}")


def send(client: Client, method: str, url: str):
    """An empty request: a form POST as a browser sends it, or an empty JSON object for PUT and PATCH."""
    if method == "GET":
        return client.get(url)
    if method == "POST":
        return client.post(url, {})
    if method == "DELETE":
        return client.delete(url)
    return client.generic(method, url, data="{}", content_type="application/json")


@pytest.mark.parametrize(("endpoint", "method", "role"), list(_cases()))
def test_role_may_or_may_not_use_endpoint(endpoint: Endpoint, method: str, role: str, objects, db):
    least_role = endpoint.methods[method]
    url = url_of(endpoint, objects)
    response = send(client_for(role, objects), method, url)
    login_url = resolve_url(settings.LOGIN_URL)

    assert response.status_code < 500, f"{method} {url} as {role}: {describe(response)}"
    if RANK[role] >= RANK[least_role]:
        assert response.status_code not in (401, 403), f"{method} {url} refused {role}: {describe(response)}"
        assert not redirects_to_login(response, login_url), f"{method} {url} sent {role} to log in"
        if response.status_code == 404:
            assert endpoint.missing_object_ok, f"{method} {url} as {role}: 404 — the sample object is missing"
    elif role == ANONYMOUS and endpoint.is_api:
        assert response.status_code in (401, 403), f"{method} {url} let an anonymous caller in: {describe(response)}"
    elif role == ANONYMOUS:
        assert redirects_to_login(response, login_url), f"{method} {url} did not ask to log in: {describe(response)}"
    else:
        assert response.status_code == 403, f"{method} {url} let {role} in: {describe(response)}"


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.get is None], ids=lambda endpoint: f"GET /{endpoint.route}"
)
def test_post_only_endpoints_refuse_get(endpoint: Endpoint, objects, db):
    response = client_for("admin", objects).get(url_of(endpoint, objects))
    assert response.status_code == 405


@pytest.mark.parametrize("role", ROLES)
def test_django_admin_is_for_staff_only(role: str, objects, db):
    response = client_for(role, objects).get("/" + ADMIN_SITE.route)
    if role == "admin":
        assert response.status_code == 200
    else:
        assert redirects_to_login(response, "/" + ADMIN_SITE.route + "login/"), describe(response)


@pytest.mark.parametrize("route", ["jobs/<int:job_id>/", "api/v1/jobs/<int:job_id>/"])
def test_jobs_of_other_people_are_hidden_not_forbidden(route: str, objects, db):
    client = Client()
    client.force_login(objects.other_annotator)
    url = "/" + route.replace("<int:job_id>", str(objects.annotators_job.pk))
    assert client.get(url).status_code == 404


def test_annotators_list_only_their_own_jobs_over_the_api(objects, db):
    client = Client()
    client.force_login(objects.other_annotator)
    assert client.get("/api/v1/jobs/").json() == []
    own = client_for("annotator", objects).get("/api/v1/jobs/").json()
    assert [job["id"] for job in own] == [objects.annotators_job.pk]


# --- the table itself -----------------------------------------------------------------------------------------


def test_every_url_pattern_is_declared_in_the_permission_table():
    declared = {endpoint.route for endpoint in ENDPOINTS} | {ADMIN_SITE.route}
    undeclared = sorted(set(project_routes()) - declared)
    assert undeclared == [], "declare these URL patterns in tests/permission_table.py: " + ", ".join(undeclared)


def test_the_permission_table_declares_no_route_that_does_not_exist():
    declared = [endpoint.route for endpoint in ENDPOINTS]
    assert sorted(set(declared) - set(project_routes())) == []
    assert len(declared) == len(set(declared)), "a route is declared twice"


def test_the_table_uses_known_roles_and_every_entry_allows_something():
    for endpoint in ENDPOINTS:
        assert set(endpoint.methods.values()) <= set(ROLES), endpoint.route
        assert endpoint.methods, f"{endpoint.route}: declared with no method anyone may use"


def test_api_views_take_exactly_the_methods_the_table_declares():
    """An API method the table does not declare (say, a new DELETE) would escape the matrix: the table must list it."""
    routes = project_routes()
    mismatches = []
    for endpoint in ENDPOINTS:
        cls = view_class(routes[endpoint.route])
        if cls is None or not endpoint.is_api:
            continue
        implemented = {method.upper() for method in ("get", "post", "put", "patch", "delete") if hasattr(cls, method)}
        if implemented != set(endpoint.methods):
            mismatches.append(f"{endpoint.route}: view takes {sorted(implemented)}, table {sorted(endpoint.methods)}")
    assert mismatches == []
