"""The annotators page (reliability and side bias with intervals, agreement metrics, paused members), the admin
page that adds an LLM annotator, and the budget planner page with its simulation job."""

import numpy as np
import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import user_create
from common.models import Job
from common.services import job_run
from labeling.models import CampaignMember
from modeling.models import ModelBackend
from modeling.services.agreement import fit_metrics_compute
from modeling.services.fits import fit_value
from modeling.services.llm_annotators import LLM_ANNOTATE_JOB_KIND
from modeling.services.planner import BUDGET_PLAN_JOB_KIND
from tests.factories.judgments import simulated_pairs
from tests.factories.labeling import running_campaign, value_with_pool
from tests.modeling.reliability_helpers import judge_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged_value(researcher):  # type: ignore[no-untyped-def]
    value = value_with_pool(n_items=15)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False, reliability_threshold=0.5)
    people = [user_create(username=f"rater{i}", password="x-pass-123", role=User.Role.ANNOTATOR) for i in range(3)]
    model = user_create(username="llm-judge", password="x-pass-123", role=User.Role.ANNOTATOR)
    ModelBackend.objects.create(name="Judge", kind="openai", model="m", annotator_account=model)
    _, orderings = simulated_pairs(value=value, n=480, seed=3)
    # the people answer the first three quarters of the pairs; the model answers the rest backwards
    rows = [(people[i % 3], o[0][0], o[1][0]) for i, o in enumerate(orderings[:360])]
    rows += [(model, o[1][0], o[0][0]) for o in orderings[360:]]
    judge_pairs(campaign, value, rows, seed=4)
    fit = fit_value(value_id=value.pk)
    fit_metrics_compute(fit=fit)
    return value, campaign, model


def _annotators_url(value) -> str:  # type: ignore[no-untyped-def]
    return reverse("modeling:value_annotators", args=[value.theory.key, value.key])


def test_the_annotators_page_shows_each_reliability_with_its_interval_and_the_agreement_metrics(
    researcher_client, judged_value
):
    value, campaign, model = judged_value

    response = researcher_client.get(_annotators_url(value))

    html = response.content.decode()
    assert response.status_code == 200
    for name in ("rater0", "rater1", "rater2", "llm-judge"):
        assert name in html
    assert 'data-testid="reliability-table"' in html and "Split-half reliability" in html
    assert "LLM annotators against the humans" in html and 'aria-label="reliability ' in html
    # the model answered backwards: confidently unreliable, paused in the campaign, and shown so
    assert CampaignMember.objects.get(campaign=campaign, annotator=model).state == CampaignMember.State.PAUSED
    assert f"paused · {campaign.name}" in html
    link = reverse("modeling:value_annotators", args=[value.theory.key, value.key])
    assert link in researcher_client.get(
        reverse("modeling:value_intensities", args=[value.theory.key, value.key])
    ).content.decode()


def test_the_live_part_of_the_annotators_page_renders_alone_for_htmx(researcher_client, judged_value):
    value, _, _ = judged_value
    response = researcher_client.get(_annotators_url(value), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="annotators-live")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="annotators-live"')
    assert "<html" not in html


def test_a_value_without_a_fit_says_so(researcher_client):
    value = value_with_pool(n_items=4)
    html = researcher_client.get(_annotators_url(value)).content.decode()
    assert 'data-testid="no-fit"' in html


def test_an_admin_adds_an_llm_annotator_and_sees_its_job(admin_role_client, platform_admin, researcher):
    value = value_with_pool(n_items=6)
    campaign = running_campaign(values=[value], created_by=researcher)
    backend = ModelBackend.objects.create(
        name="Local judge", kind="openai", model="m", endpoint_url="http://127.0.0.1:9/v1"
    )
    url = reverse("modeling:llm_annotator_add")

    assert campaign.name in admin_role_client.get(url).content.decode()
    response = admin_role_client.post(url, {"campaign": campaign.pk, "backend": backend.pk, "max_judgments": 25})

    html = response.content.decode()
    assert response.status_code == 200 and "llm-local-judge is annotating" in html
    job = Job.objects.get(kind=LLM_ANNOTATE_JOB_KIND)
    assert job.params["max_judgments"] == 25 and f'id="job-{job.pk}"' in html
    refused = admin_role_client.post(url, {"campaign": campaign.pk, "backend": backend.pk, "max_judgments": 0})
    assert refused.status_code == 422 and "greater than or equal to 1" in refused.content.decode()


def test_the_planner_runs_a_simulation_job_and_shows_the_budget(researcher_client):
    url = reverse("modeling:planner")
    assert researcher_client.get(url).status_code == 200

    response = researcher_client.post(url, {"n_items": 80, "protocol": "pairwise", "k": 2, "noise": "moderate",
                                            "target_spearman": 0.85, "seeds": 1})

    job = Job.objects.get(kind=BUDGET_PLAN_JOB_KIND)
    assert response.status_code == 302 and response["Location"].endswith(f"?job={job.pk}")
    pending = researcher_client.get(response["Location"]).content.decode()
    assert f'hx-get="{url}?job={job.pk}"' in pending  # polls itself until the job is done
    job_run(job_id=job.pk)
    done = researcher_client.get(response["Location"], HTTP_HX_REQUEST="true", HTTP_HX_TARGET="plan-result")
    html = done.content.decode()
    job.refresh_from_db()
    plan = job.result["plan"]
    assert plan["reachable"] and f"{plan['judgments']:,} judgments" in html
    assert 'data-testid="plan-evaluations"' in html and "hx-trigger" not in html


def test_the_planner_projects_a_running_campaign(researcher_client, judged_value):
    _, campaign, _ = judged_value
    response = researcher_client.post(reverse("modeling:planner"), {
        "campaign": campaign.pk, "protocol": "pairwise", "k": 2, "noise": "moderate", "target_ci_width": 6, "seeds": 1})
    job = Job.objects.get(kind=BUDGET_PLAN_JOB_KIND)
    job_run(job_id=job.pk)
    job.refresh_from_db()

    projection = job.result["projection"]["values"][0]
    assert projection["judgments"] == 480 and projection["n_items"] == 15
    assert projection["judgments_needed"] == 15 * 15 // 2 + 1  # the campaign's 15 judgments per text
    html = researcher_client.get(response["Location"]).content.decode()
    assert f"{campaign.name} so far" in html
    assert np.isfinite(projection["median_ci_width"])


def test_a_plan_without_a_target_is_refused_with_the_reason(researcher_client):
    response = researcher_client.post(reverse("modeling:planner"), {"n_items": 80, "protocol": "listwise", "k": 2,
                                                                    "noise": "moderate", "seeds": 1})
    html = response.content.decode()
    assert response.status_code == 422
    assert "Give a target" in html and "Listwise ranking (k = 3…8, ties allowed) compares 3–8 texts." in html
    assert not Job.objects.filter(kind=BUDGET_PLAN_JOB_KIND).exists()
