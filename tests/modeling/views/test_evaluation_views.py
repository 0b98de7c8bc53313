"""Steering evaluation pages through the Django client: the form and its live plan, the draft page with the plan
and Launch, the running page's self-reload, the report with one dose–response plot per model × value, CSV
exports in the reference formats, run comparison, and role checks."""

import csv
import io

import pytest

from common.services import job_run
from modeling.models import SteeringEvaluation
from modeling.services.evaluations import EvaluationSettings, evaluation_create, evaluation_launch
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
def setup(tmp_path, servers):
    steered, judging = scripted_endpoints(servers, ScriptedSteeredModel(), OracleJudge())
    return {
        "value": scored_value(tmp_path), "query_set": small_query_set(count=2), "steered": steered, "judging": judging
    }


def form_data(setup, **changes):
    data = {
        "name": "Persona run",
        "backends": [setup["steered"].pk],
        "values": [setup["value"].pk],
        "prompt_style": "persona",
        "levels": ["-2", "0", "2"],
        "include_baseline": "on",
        "query_set": setup["query_set"].pk,
        "judge": "llm",
        "judge_backend": setup["judging"].pk,
        "window_size": 6,
        "windows_per_response": 2,
        "seed": 3,
    }
    data.update(changes)
    return data


def finished_run(setup, user, name="Persona run", levels=(-2, 0, 2)) -> SteeringEvaluation:
    settings = EvaluationSettings(
        name=name, backend_ids=[setup["steered"].pk], value_ids=[setup["value"].pk], query_set_id=setup["query_set"].pk,
        levels=levels, judge="llm", judge_backend_id=setup["judging"].pk, windows_per_response=2,
    )
    evaluation = evaluation_create(settings=settings, created_by=user)
    job_run(job_id=evaluation_launch(evaluation=evaluation, user=user).pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "finished"
    return evaluation


def test_the_form_shows_the_plan_as_fields_change_and_saves_a_draft(setup, admin_role_client):
    page = admin_role_client.get("/modeling/evaluations/new/")
    assert page.status_code == 200 and b'data-testid="evaluation-plan"' in page.content

    plan = admin_role_client.post("/modeling/evaluations/plan/", form_data(setup), HTTP_HX_REQUEST="true")
    html = plan.content.decode()
    # 2 queries × (baseline + 3 levels) generations; each scored once on the value with 2 windows
    assert 'data-testid="plan-generations">8<' in html and 'data-testid="plan-judge-calls">16<' in html
    assert "<html" not in html  # only the partial

    problem = admin_role_client.post("/modeling/evaluations/plan/", form_data(setup, window_size=2, judge="human"))
    assert "Window size k must be between 3 and 8" in problem.content.decode()

    saved = admin_role_client.post("/modeling/evaluations/new/", form_data(setup))
    evaluation = SteeringEvaluation.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/modeling/evaluations/{evaluation.pk}/"
    draft = admin_role_client.get(saved["Location"]).content.decode()
    assert 'data-testid="plan-generations">8<' in draft and 'data-testid="evaluation-launch"' in draft


def test_a_refused_design_shows_the_reason_at_its_field(setup, admin_role_client):
    response = admin_role_client.post("/modeling/evaluations/new/", form_data(setup, judge_backend=""))
    assert response.status_code == 422
    assert "An LLM judge needs a judge model backend." in response.content.decode()
    assert not SteeringEvaluation.objects.exists()


def test_launching_starts_a_job_and_the_running_page_reloads_when_the_run_ends(setup, admin_role_client):
    admin_role_client.post("/modeling/evaluations/new/", form_data(setup))
    evaluation = SteeringEvaluation.objects.get()
    launched = admin_role_client.post(f"/modeling/evaluations/{evaluation.pk}/launch/")
    assert launched.status_code == 302
    evaluation.refresh_from_db()
    assert evaluation.status == "running" and evaluation.job.kind == "modeling.steering_evaluation"
    running = admin_role_client.get(f"/modeling/evaluations/{evaluation.pk}/").content.decode()
    assert f'id="job-{evaluation.job.pk}"' in running and "?watch=running" in running

    watch = f"/modeling/evaluations/{evaluation.pk}/?watch=running"
    assert admin_role_client.get(watch, HTTP_HX_REQUEST="true").status_code == 204
    job_run(job_id=evaluation.job.pk)
    finished = admin_role_client.get(watch, HTTP_HX_REQUEST="true")
    assert finished.status_code == 200 and finished["HX-Refresh"] == "true"


def test_the_report_plots_dose_response_and_exports_reference_csvs(setup, researcher_client, platform_admin):
    evaluation = finished_run(setup, platform_admin)
    page = researcher_client.get(f"/modeling/evaluations/{evaluation.pk}/").content.decode()
    assert page.count('data-testid="dose-response"') == 1
    assert "Dose–response of Benevolence for Scripted model: level -2:" in page
    assert 'data-testid="regime">strong<' in page

    backend = setup["steered"]
    responses = researcher_client.get(f"/modeling/evaluations/{evaluation.pk}/export/{backend.pk}/responses.csv")
    assert responses["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(responses.content.decode())))
    assert rows[0] == ["query", "dataset", "response", "target_value", "prompt_intensity"]
    assert len(rows) == 1 + 8
    targets = {(r[3], r[4]) for r in rows[1:]}
    assert targets == {("", ""), ("benevolence", "-2"), ("benevolence", "0"), ("benevolence", "2")}
    assert all(r[1] == "Three questions" for r in rows[1:])

    scores = list(csv.reader(io.StringIO(
        researcher_client.get(f"/modeling/evaluations/{evaluation.pk}/export/{backend.pk}/scores.csv").content.decode()
    )))
    assert scores[0] == ["query", "dataset", "response", "benevolence_score"]
    assert all(-10 <= float(r[3]) <= 10 for r in scores[1:]) and len(scores) == 9
    other = researcher_client.get(f"/modeling/evaluations/{evaluation.pk}/export/{backend.pk}/other.csv")
    assert other.status_code == 404


def test_two_finished_runs_compare_side_by_side(setup, researcher_client, platform_admin):
    first = finished_run(setup, platform_admin, name="All levels")
    second = finished_run(setup, platform_admin, name="Positive only", levels=(0, 1, 2))
    listing = researcher_client.get("/modeling/evaluations/").content.decode()
    assert "All levels" in listing and "Positive only" in listing
    page = researcher_client.get(f"/modeling/evaluations/compare/?ids={first.pk}&ids={second.pk}").content.decode()
    assert 'data-testid="comparison-table"' in page and "Negative reach" in page
    assert page.count("svt:benevolence") == 1
    alone = researcher_client.get(f"/modeling/evaluations/compare/?ids={first.pk}").content.decode()
    assert "Choose at least two finished evaluations" in alone


def test_annotators_cannot_see_evaluations_and_researchers_cannot_launch(setup, annotator_client, researcher_client):
    assert annotator_client.get("/modeling/evaluations/").status_code == 403
    assert researcher_client.get("/modeling/evaluations/new/").status_code == 403
    assert researcher_client.post("/modeling/evaluations/new/", form_data(setup)).status_code == 403
