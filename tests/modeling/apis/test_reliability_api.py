"""The reliability, planner and LLM-annotator endpoints of the API."""

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import user_create
from common.models import Job
from modeling.models import ModelBackend
from modeling.services.fits import fit_value
from modeling.services.llm_annotators import LLM_ANNOTATE_JOB_KIND
from modeling.services.planner import BUDGET_PLAN_JOB_KIND
from tests.factories.judgments import simulated_pairs
from tests.factories.labeling import running_campaign, value_with_pool
from tests.modeling.reliability_helpers import judge_pairs

pytestmark = pytest.mark.django_db


def test_the_reliability_endpoint_lists_estimates_with_intervals_and_the_metrics(researcher_api, researcher):
    value = value_with_pool(n_items=12)
    url = reverse("api-value-reliability", args=[value.theory.key, value.key])
    assert researcher_api.get(url).json() == {"fit_id": None, "metrics": {}, "annotators": []}
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    people = [user_create(username=f"api-rater{i}", password="x-pass-123", role=User.Role.ANNOTATOR) for i in range(2)]
    _, orderings = simulated_pairs(value=value, n=200, seed=1)
    judge_pairs(campaign, value, [(people[i % 2], o[0][0], o[1][0]) for i, o in enumerate(orderings)])
    fit = fit_value(value_id=value.pk)

    body = researcher_api.get(url).json()

    assert body["fit_id"] == fit.pk and "auto_pause" in body["metrics"]
    rows = {row["username"]: row for row in body["annotators"]}
    assert set(rows) == {"api-rater0", "api-rater1"}
    for row in rows.values():
        assert row["reliability_low"] < row["reliability"] < row["reliability_high"]
        assert row["side_bias_low"] < row["side_bias"] < row["side_bias_high"]
        assert row["n_judgments"] == 100 and row["is_llm"] is False and row["paused_in"] == []


def test_a_budget_plan_starts_a_job_and_bad_requests_say_what_is_wrong(researcher_api, researcher):
    url = reverse("api-budget-plan")

    started = researcher_api.post(url, {"n_items": 500, "protocol": "listwise", "k": 4, "target_spearman": 0.9},
                                  format="json")

    assert started.status_code == 202
    job = Job.objects.get(pk=started.json()["job_id"], kind=BUDGET_PLAN_JOB_KIND)
    assert job.params["settings"]["k"] == 4 and started.json()["status_url"].endswith(f"/jobs/{job.pk}/")
    no_pool = researcher_api.post(url, {"target_spearman": 0.9}, format="json")
    assert no_pool.status_code == 400 and "n_items" in no_pool.json()["extra"]["fields"]
    bad_k = researcher_api.post(url, {"n_items": 500, "protocol": "best_worst", "k": 2, "target_spearman": 0.9},
                                format="json")
    assert bad_k.status_code == 400 and "k for best_worst must be 4–6" in bad_k.json()["message"]
    campaign = running_campaign(values=[value_with_pool(n_items=9)], created_by=researcher, ci_width_target=4.0)
    from_campaign = researcher_api.post(url, {"campaign_id": campaign.pk}, format="json")
    assert from_campaign.status_code == 202
    params = Job.objects.get(pk=from_campaign.json()["job_id"]).params
    assert params["campaign_id"] == campaign.pk and params["settings"]["n_items"] == 9
    assert params["settings"]["target_ci_width"] == 4.0


def test_an_admin_adds_an_llm_annotator_through_the_api(admin_api, researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=5)], created_by=researcher)
    backend = ModelBackend.objects.create(
        name="api judge", kind="openai", model="m", endpoint_url="http://127.0.0.1:9/v1"
    )
    url = reverse("api-campaign-llm-annotators", args=[campaign.pk])

    started = admin_api.post(url, {"backend_id": backend.pk, "max_judgments": 10}, format="json")

    assert started.status_code == 202
    assert Job.objects.get(pk=started.json()["job_id"]).kind == LLM_ANNOTATE_JOB_KIND
    missing = admin_api.post(url, {"backend_id": 987654}, format="json")
    assert missing.status_code == 400 and missing.json()["message"] == "Model backend 987654 does not exist."
