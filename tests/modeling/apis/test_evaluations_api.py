"""The steering evaluation API: a dry run returns the plan only, a create returns the draft with its plan, launch
returns 202 with the job, the detail carries progress and report, errors name their field, and roles hold."""

import pytest

from common.services import job_run
from modeling.models import SteeringEvaluation
from tests.modeling.evaluation_helpers import (
    OracleJudge,
    ScriptedSteeredModel,
    loopback_servers,
    scored_value,
    scripted_endpoints,
    small_query_set,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def servers():
    with loopback_servers() as pair:
        yield pair


@pytest.fixture
def body(tmp_path, servers):
    steered, judging = scripted_endpoints(servers, ScriptedSteeredModel(), OracleJudge())
    return {
        "name": "API run",
        "backends": [steered.pk],
        "values": [scored_value(tmp_path).pk],
        "query_set": small_query_set(count=2).pk,
        "levels": [-1, 1],
        "judge": "llm",
        "judge_backend": judging.pk,
        "windows_per_response": 2,
    }


def test_a_dry_run_returns_the_plan_and_stores_nothing(admin_api, body):
    response = admin_api.post("/api/v1/evaluations/", {**body, "dry_run": True}, format="json")
    assert response.status_code == 200
    assert response.json()["planned"]["generations"] == 6 and response.json()["planned"]["judge_calls"] == 12
    assert not SteeringEvaluation.objects.exists()


def test_create_launch_and_read_the_report(admin_api, researcher_api, body):
    created = admin_api.post("/api/v1/evaluations/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["status"] == "draft" and data["planned"]["generations"] == 6 and data["job"] is None
    launched = admin_api.post(f"/api/v1/evaluations/{data['id']}/launch/")
    assert launched.status_code == 202 and launched.json()["status"] == "running"
    job_run(job_id=launched.json()["job"]["id"])

    detail = researcher_api.get(f"/api/v1/evaluations/{data['id']}/").json()
    assert detail["status"] == "finished" and detail["job"]["status"] == "succeeded"
    assert detail["progress"] == {"planned": 6, "generated": 6, "windows": 12, "invalid_windows": 0, "scores": 6}
    (series,) = detail["report"]["series"]
    assert [level["level"] for level in series["levels"]] == [-1, 1]
    assert researcher_api.get("/api/v1/evaluations/").json()[0]["id"] == data["id"]
    relaunch = admin_api.post(f"/api/v1/evaluations/{data['id']}/launch/")
    assert relaunch.status_code == 409 and "only a draft or a failed evaluation" in relaunch.json()["message"]


def test_errors_name_the_field_and_roles_are_checked(admin_api, researcher_api, body):
    refused = admin_api.post("/api/v1/evaluations/", {**body, "window_size": 12}, format="json")
    assert refused.status_code == 400 and refused.json()["extra"]["field"] == "window_size"
    assert researcher_api.post("/api/v1/evaluations/", body, format="json").status_code == 403
    missing = admin_api.post("/api/v1/evaluations/999999/collect/", {}, format="json")
    assert missing.status_code == 404
