"""Model backend services: validation of every field, secrets read from the environment and never stored, building
working chat backends from rows, and the connection test (over real HTTP for endpoints)."""

import pytest
import torch

from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from modeling.ml.llm.backends import LocalTransformersBackend, OpenAICompatibleBackend
from modeling.ml.llm.server import serve_backend
from modeling.ml.llm.tiny import TINY_MODEL_ID, tiny_chat_model
from modeling.models import ModelBackend
from modeling.services.backends import (
    BACKEND_TEST_JOB,
    backend_api_key_is_set,
    backend_build,
    backend_create,
    backend_generation_params,
    backend_test_connection,
    backend_test_job,
    backend_test_start,
    backend_update,
)

pytestmark = pytest.mark.django_db
torch.set_num_threads(1)
KEY_VARIABLE = "VALUEFLOW_TEST_BACKEND_KEY"


def endpoint(**fields) -> ModelBackend:
    defaults = {"name": "Endpoint", "kind": "openai", "model": "served-model", "endpoint_url": "http://127.0.0.1:9/v1"}
    return backend_create(**{**defaults, **fields})


@pytest.fixture(scope="module")
def tiny_server():
    model, tokenizer = tiny_chat_model(seed=2)
    local = LocalTransformersBackend.from_loaded(model, tokenizer, name="tiny")
    with serve_backend(local, model_name="tiny-chat", api_key="s3cret-value") as server:
        yield server


def test_a_local_backend_is_created_with_clean_generation_settings(platform_admin):
    backend = backend_create(
        name=" SmolLM2 ", kind="local", model="smollm2-135m-instruct", generation={"temperature": 1, "seed": 3},
        created_by=platform_admin,
    )
    backend.refresh_from_db()
    assert backend.name == "SmolLM2" and backend.created_by == platform_admin
    assert backend.generation == {"temperature": 1.0, "seed": 3}
    assert isinstance(backend.generation["temperature"], float)
    params = backend_generation_params(backend=backend, overrides={"max_new_tokens": 40})
    assert params == {"temperature": 1.0, "seed": 3, "max_new_tokens": 40}


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"endpoint_url": ""}, "endpoint_url", "needs its endpoint URL"),
        ({"endpoint_url": "ftp://host/v1"}, "endpoint_url", "must be an http:// or https:// address"),
        ({"endpoint_url": "http://user:pw@host/v1"}, "endpoint_url", "Do not put credentials in the endpoint URL"),
        ({"api_key_env": "sk-proj-abcdefghijklmnop"}, "api_key_env", "looks like an API key itself"),
        ({"api_key_env": "a" * 48}, "api_key_env", "looks like an API key itself"),
        ({"api_key_env": "MY-KEY"}, "api_key_env", "is not an environment variable name"),
        ({"gguf_file": "model.gguf"}, "gguf_file", "GGUF file applies to local models only"),
        ({"max_concurrency": 0}, "max_concurrency", "between 1 and 256"),
        ({"timeout_s": 0}, "timeout_s", "above 0 and at most 3600"),
        ({"max_retries": 21}, "max_retries", "between 0 and 20"),
        ({"kind": "magic"}, "kind", "is not one of local, openai"),
        ({"model": "  "}, "model", "Name the model"),
        ({"generation": {"top_k": 5}}, "generation", "Unknown generation setting 'top_k'"),
        ({"generation": {"temperature": 3}}, "generation", "temperature .* between 0 and 2, got 3"),
        ({"generation": {"max_new_tokens": 1.5}}, "generation", "max_new_tokens .* must be an integer"),
        ({"generation": {"seed": True}}, "generation", "seed .* must be an integer"),
    ],
)
def test_bad_endpoint_settings_are_refused_naming_the_field(fields, field, problem):
    with pytest.raises(ApplicationError, match=problem) as caught:
        endpoint(**fields)
    assert caught.value.extra["field"] == field
    assert not ModelBackend.objects.exists()


def test_local_models_take_no_endpoint_or_key():
    with pytest.raises(ApplicationError, match="A local model has no endpoint URL"):
        backend_create(name="x", kind="local", model="m", endpoint_url="http://h/v1")
    with pytest.raises(ApplicationError, match="A local model needs no API key"):
        backend_create(name="x", kind="local", model="m", api_key_env="KEY")
    with pytest.raises(ApplicationError, match="must be a .gguf file name"):
        backend_create(name="x", kind="local", model="/models/m", gguf_file="weights.bin")


def test_names_are_unique_on_create_and_update():
    endpoint(name="A")
    other = endpoint(name="B")
    with pytest.raises(ApplicationError, match="named 'A' already exists"):
        endpoint(name="A")
    with pytest.raises(ApplicationError, match="named 'A' already exists"):
        backend_update(backend=other, name="A")


def test_update_changes_only_what_is_given_and_refuses_unknown_fields():
    backend = endpoint(max_retries=5)
    backend_update(backend=backend, timeout_s=12)
    backend.refresh_from_db()
    assert (backend.timeout_s, backend.max_retries, backend.model) == (12.0, 5, "served-model")
    with pytest.raises(ApplicationError, match="Cannot change created_by"):
        backend_update(backend=backend, created_by=None)


def test_the_key_is_read_from_the_environment_at_request_time(monkeypatch):
    backend = endpoint(api_key_env=KEY_VARIABLE)
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    assert not backend_api_key_is_set(backend)
    with pytest.raises(ApplicationError, match=f"environment variable {KEY_VARIABLE}, which is not set"):
        backend_build(backend=backend)
    monkeypatch.setenv(KEY_VARIABLE, "first-key")
    chat = backend_build(backend=backend)
    assert isinstance(chat, OpenAICompatibleBackend)
    monkeypatch.setenv(KEY_VARIABLE, "rotated-key")
    assert chat._headers()["Authorization"] == "Bearer rotated-key"
    assert backend_api_key_is_set(backend)
    # Only the variable's name is stored.
    stored = ModelBackend.objects.filter(pk=backend.pk).values().get()
    assert "rotated-key" not in str(stored) and "first-key" not in str(stored)


def test_connection_test_over_http_succeeds_with_the_key_and_reports_a_wrong_one(tiny_server, monkeypatch):
    backend = endpoint(endpoint_url=tiny_server.base_url, model="tiny-chat", api_key_env=KEY_VARIABLE, max_retries=0)
    monkeypatch.setenv(KEY_VARIABLE, "s3cret-value")
    outcome = backend_test_connection(backend=backend)
    assert outcome.ok, outcome.message
    assert outcome.message.startswith("Endpoint answered in") and isinstance(outcome.answer, str)

    monkeypatch.setenv(KEY_VARIABLE, "not-the-key")
    outcome = backend_test_connection(backend=backend)
    assert not outcome.ok
    assert "HTTP 401" in outcome.message and "not-the-key" not in outcome.message


def test_connection_test_reports_an_unreachable_endpoint_without_raising():
    backend = endpoint(endpoint_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2)
    outcome = backend_test_connection(backend=backend)
    assert not outcome.ok and "cannot connect" in outcome.message


def test_local_backends_are_built_once_per_process_and_answer():
    backend = backend_create(name="Tiny", kind="local", model=TINY_MODEL_ID, generation={"batch_size": 2})
    first = backend_build(backend=backend)
    assert backend_build(backend=backend) is first
    assert isinstance(first, LocalTransformersBackend) and first.batch_size == 2
    outcome = backend_test_connection(backend=backend)
    assert outcome.ok, outcome.message


def test_the_connection_test_job_records_the_outcome(platform_admin, tiny_server):
    backend = endpoint(endpoint_url=tiny_server.base_url, model="tiny-chat", max_retries=0)
    job = backend_test_start(backend=backend, user=platform_admin)
    assert (job.kind, job.queue, job.params) == (BACKEND_TEST_JOB, "default", {"backend_id": backend.pk})
    assert backend_test_start(backend=backend, user=platform_admin) == job  # one test at a time per backend

    context = JobContext(job_id=job.pk, params=job.params, report=lambda progress, message: None)
    with pytest.raises(ApplicationError, match="HTTP 401"):
        backend_test_job(context)  # the server wants a key this backend does not send
    backend_update(backend=backend, api_key_env="")
    tiny_server.api_key = None
    try:
        result = backend_test_job(context)
    finally:
        tiny_server.api_key = "s3cret-value"
    assert result["ok"] is True and result["message"].startswith("Endpoint answered")
    assert Job.objects.filter(kind=BACKEND_TEST_JOB).count() == 1
