"""Admin pages for model backends and the query set pages: forms that show refusals next to their field, the key
variable shown as set or missing but never its value, connection tests as jobs, CSV imports and the default set."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from common.models import Job
from modeling.models import ModelBackend, QuerySet
from modeling.services.backends import backend_create
from modeling.services.query_sets import DEFAULT_QUERY_SET_NAME, query_set_load_default

pytestmark = pytest.mark.django_db
KEY_VARIABLE = "VALUEFLOW_TEST_VIEW_KEY"


def endpoint_form(**fields):
    data = {"name": "Hosted", "kind": "openai", "model": "gpt-x", "endpoint_url": "https://api.example.org/v1",
            "api_key_env": KEY_VARIABLE, "max_concurrency": 4, "timeout_s": 30, "max_retries": 2, "generation": "",
            "is_active": "on"}
    return {**data, **fields}


def test_admins_add_an_endpoint_and_the_list_shows_whether_its_key_is_set(admin_role_client, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "super-secret-key")
    response = admin_role_client.post("/modeling/backends/new/", endpoint_form(generation='{"temperature": 0.5}'))
    assert response.status_code == 302
    backend = ModelBackend.objects.get(name="Hosted")
    assert backend.generation == {"temperature": 0.5} and backend.api_key_env == KEY_VARIABLE

    page = admin_role_client.get("/modeling/backends/").content.decode()
    assert KEY_VARIABLE in page and 'data-testid="key-set"' in page
    assert "super-secret-key" not in page
    monkeypatch.delenv(KEY_VARIABLE)
    assert 'data-testid="key-missing"' in admin_role_client.get("/modeling/backends/").content.decode()


def test_a_pasted_key_is_refused_next_to_the_field_and_not_echoed(admin_role_client):
    response = admin_role_client.post("/modeling/backends/new/", endpoint_form(api_key_env="sk-live-0123456789abcdef"))
    assert response.status_code == 422
    page = response.content.decode()
    assert "looks like an API key itself" in page
    assert not ModelBackend.objects.exists()


def test_bad_generation_json_is_refused_with_the_position(admin_role_client):
    response = admin_role_client.post("/modeling/backends/new/", endpoint_form(generation='{"temperature": }'))
    assert response.status_code == 422
    assert "Not valid JSON" in response.content.decode() and "column 17" in response.content.decode()


def test_admins_edit_a_backend(admin_role_client):
    backend = backend_create(name="Local", kind="local", model="smollm2-135m-instruct")
    page = admin_role_client.get(f"/modeling/backends/{backend.pk}/")
    assert page.status_code == 200 and 'value="smollm2-135m-instruct"' in page.content.decode()
    response = admin_role_client.post(
        f"/modeling/backends/{backend.pk}/",
        {"name": "Local SmolLM2", "kind": "local", "model": "smollm2-135m-instruct", "max_concurrency": 1,
         "timeout_s": 60, "max_retries": 0, "generation": '{"max_new_tokens": 120}'},
    )
    assert response.status_code == 302
    backend.refresh_from_db()
    assert (backend.name, backend.generation, backend.is_active) == ("Local SmolLM2", {"max_new_tokens": 120}, False)


def test_testing_a_connection_starts_a_job_and_shows_its_progress(admin_role_client):
    backend = backend_create(name="Local", kind="local", model="smollm2-135m-instruct")
    response = admin_role_client.post(f"/modeling/backends/{backend.pk}/test/", headers={"HX-Request": "true"})
    job = Job.objects.get(kind="modeling.backend_test")
    assert response.status_code == 200 and f'id="job-{job.pk}"' in response.content.decode()
    assert job.params == {"backend_id": backend.pk}
    # Without JavaScript the list page shows the same progress bar.
    response = admin_role_client.post(f"/modeling/backends/{backend.pk}/test/")
    assert response.status_code == 302 and f"?job={job.pk}" in response["Location"]
    assert f'id="job-{job.pk}"' in admin_role_client.get(response["Location"]).content.decode()


def test_researchers_read_query_sets_but_cannot_import(researcher_client):
    query_set, _ = query_set_load_default()
    page = researcher_client.get("/modeling/query-sets/").content.decode()
    assert DEFAULT_QUERY_SET_NAME in page and 'data-testid="query-set-import"' not in page
    detail = researcher_client.get(f"/modeling/query-sets/{query_set.pk}/").content.decode()
    query_list = detail.split('data-testid="query-list"')[1].split("</ol>")[0]
    assert query_list.count("<li>") == 30 and "query-set-delete" not in detail
    upload = SimpleUploadedFile("q.csv", b"query\nWhy?\n", content_type="text/csv")
    assert researcher_client.post("/modeling/query-sets/", {"name": "X", "file": upload}).status_code == 403


def test_admins_import_a_csv_and_see_every_problem_of_a_bad_one(admin_role_client):
    bad = SimpleUploadedFile("bad.csv", b"query,source\nWhy?,a\n,b\nWhy?,c\n", content_type="text/csv")
    response = admin_role_client.post("/modeling/query-sets/", {"name": "Mine", "file": bad})
    assert response.status_code == 422
    page = response.content.decode()
    assert "bad.csv:3: query is empty" in page and "bad.csv:4: the same query as line 2" in page
    assert not QuerySet.objects.exists()

    good = SimpleUploadedFile("good.csv", b"query\nWhy?\nHow?\n", content_type="text/csv")
    response = admin_role_client.post("/modeling/query-sets/", {"name": "Mine", "file": good})
    query_set = QuerySet.objects.get(name="Mine")
    assert response.status_code == 302 and response["Location"] == f"/modeling/query-sets/{query_set.pk}/"
    assert list(query_set.queries.values_list("text", flat=True)) == ["Why?", "How?"]


def test_admins_load_the_default_set_once_and_delete_an_unused_set(admin_role_client):
    first = admin_role_client.post("/modeling/query-sets/default/")
    second = admin_role_client.post("/modeling/query-sets/default/", follow=True)
    assert first.status_code == 302 and "was already loaded" in second.content.decode()
    query_set = QuerySet.objects.get(name=DEFAULT_QUERY_SET_NAME)
    response = admin_role_client.post(f"/modeling/query-sets/{query_set.pk}/delete/")
    assert response.status_code == 302 and not QuerySet.objects.exists()
