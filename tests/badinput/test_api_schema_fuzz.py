"""Schemathesis against the OpenAPI schema, in-process on the WSGI application: for every API operation, a few
generated requests as an annotator and as a researcher (HTTP basic auth). No request may get a 5xx; every 4xx
carries the API's error body with a message. Bounded to a few examples per operation to stay fast."""

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from accounts.models import User
from accounts.services import user_create
from labeling.services.taxonomy import taxonomy_load
from tests.factories.labeling import running_campaign, value_with_pool

PASSWORD = "fuzz-pass-123456"
EXAMPLES_PER_OPERATION = 4


@pytest.fixture
def api_schema(db):
    """The schema, served by the WSGI application in this process. Like Django's test client, requests here must
    not close the database connection when they finish: it holds the test's transaction."""
    from django.core import signals
    from django.db import close_old_connections

    from config.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_accounts(db):
    """An annotator, a researcher, the taxonomy and a running campaign, so generated ids sometimes hit something."""
    user_create(username="fuzz-annotator", password=PASSWORD, role=User.Role.ANNOTATOR)
    researcher = user_create(username="fuzz-researcher", password=PASSWORD, role=User.Role.RESEARCHER)
    taxonomy_load()
    running_campaign(values=[value_with_pool(n_items=6, value_key="care")], created_by=researcher, name="Fuzz")


def basic(username: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def check_operation(operation) -> int:  # type: ignore[no-untyped-def]
    """Generated requests for one operation, each sent as an annotator and as a researcher; returns how many."""
    sent = [0]

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def one_case(case) -> None:  # type: ignore[no-untyped-def]
        for role in ("annotator", "researcher"):
            response = case.call(headers=basic(f"fuzz-{role}"))
            sent[0] += 1
            where = f"{case.method} {case.formatted_path} as {role}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if 400 <= response.status_code < 500 and response.headers.get("Content-Type", "").startswith(
                "application/json"
            ):
                body = response.json()
                assert isinstance(body, dict) and body.get("message"), f"{where}: {body!r}"

    one_case()
    return sent[0]


def test_no_generated_request_gets_a_server_error(api_schema, fuzz_accounts):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30, "the schema lists fewer operations than the API has"
    sent = sum(check_operation(operation) for operation in operations)
    assert sent >= 2 * len(operations)
