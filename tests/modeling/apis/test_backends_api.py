"""Model backends and query sets over the API: admins manage backends and never receive a key; researchers read
query sets; imports report file:line problems; connection tests are jobs."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from modeling.models import ModelBackend, QuerySet
from modeling.services.query_sets import query_set_load_default

pytestmark = pytest.mark.django_db
KEY_VARIABLE = "VALUEFLOW_TEST_API_KEY"


def test_admins_create_read_and_patch_backends_without_ever_seeing_a_key(admin_api, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "api-secret-value")
    response = admin_api.post(
        "/api/v1/backends/",
        {"name": "vLLM", "kind": "openai", "model": "qwen", "endpoint_url": "http://gpu:8000/v1",
         "api_key_env": KEY_VARIABLE, "generation": {"temperature": 0.8}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["api_key_env"] == KEY_VARIABLE and created["api_key_is_set"] is True
    assert created["generation"] == {"temperature": 0.8}
    assert "api-secret-value" not in str(created)

    listed = admin_api.get("/api/v1/backends/").json()
    assert [b["name"] for b in listed] == ["vLLM"] and "api-secret-value" not in str(listed)

    patched = admin_api.patch(f"/api/v1/backends/{created['id']}/", {"max_concurrency": 16}, format="json")
    assert patched.status_code == 200 and patched.json()["max_concurrency"] == 16
    assert ModelBackend.objects.get().endpoint_url == "http://gpu:8000/v1"


def test_api_refusals_say_which_field_and_why(admin_api):
    response = admin_api.post(
        "/api/v1/backends/", {"name": "x", "kind": "openai", "model": "m", "endpoint_url": ""}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "An OpenAI-compatible backend needs its endpoint URL, e.g. http://host:8000/v1.",
        "extra": {"field": "endpoint_url"},
    }
    missing = admin_api.get("/api/v1/backends/999999/")
    assert missing.status_code == 404 and missing.json()["message"] == "Model backend 999999 does not exist."


def test_researchers_may_not_see_backends(researcher_api):
    assert researcher_api.get("/api/v1/backends/").status_code == 403


def test_a_connection_test_is_started_as_a_job(admin_api):
    backend = admin_api.post(
        "/api/v1/backends/", {"name": "Local", "kind": "local", "model": "smollm2-135m-instruct"}, format="json"
    ).json()
    response = admin_api.post(f"/api/v1/backends/{backend['id']}/test/")
    assert response.status_code == 202
    assert response.json()["kind"] == "modeling.backend_test" and response.json()["status"] == "pending"


def test_query_sets_are_read_by_researchers_and_written_by_admins(researcher_api, admin_api):
    created = admin_api.post("/api/v1/query-sets/default/")
    assert created.status_code == 201 and len(created.json()["queries"]) == 30
    assert admin_api.post("/api/v1/query-sets/default/").status_code == 200

    listed = researcher_api.get("/api/v1/query-sets/").json()
    assert [(s["name"], s["n_queries"]) for s in listed] == [(created.json()["name"], 30)]
    detail = researcher_api.get(f"/api/v1/query-sets/{created.json()['id']}/").json()
    assert [query["position"] for query in detail["queries"]] == list(range(30))
    assert set(detail["queries"][0]) == {"id", "position", "text"}

    upload = SimpleUploadedFile("q.csv", b"query\nWhy?\n", content_type="text/csv")
    response = researcher_api.post("/api/v1/query-sets/", {"name": "R", "file": upload}, format="multipart")
    assert response.status_code == 403
    assert researcher_api.delete(f"/api/v1/query-sets/{created.json()['id']}/").status_code == 403


def test_a_bad_csv_is_refused_whole_with_its_problems(admin_api):
    upload = SimpleUploadedFile("q.csv", b"question\nWhy?\n", content_type="text/csv")
    response = admin_api.post("/api/v1/query-sets/", {"name": "Q", "file": upload}, format="multipart")
    assert response.status_code == 400
    problems = response.json()["extra"]["problems"]
    assert problems == ["q.csv:1: missing required column 'query' (found columns: question)"]
    good = SimpleUploadedFile("q.csv", b"query\nWhy?\n", content_type="text/csv")
    response = admin_api.post("/api/v1/query-sets/", {"name": "Q", "file": good}, format="multipart")
    assert response.status_code == 201 and response.json()["queries"][0]["text"] == "Why?"
    assert admin_api.delete(f"/api/v1/query-sets/{response.json()['id']}/").status_code == 204
    assert not QuerySet.objects.filter(name="Q").exists()


def test_the_schema_documents_the_new_endpoints(admin_api):
    query_set_load_default()
    schema = admin_api.get("/api/schema/").content.decode()
    for path in ("/api/v1/backends/", "/api/v1/backends/{backend_id}/test/", "/api/v1/query-sets/"):
        assert path in schema
