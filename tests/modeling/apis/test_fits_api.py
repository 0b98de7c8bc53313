"""The intensities API of one value: ranked scores with intervals, fit history, refit (202 + job) and annotator
agreement — researchers only."""

import pytest
from django.urls import reverse

from common.models import Job
from labeling.models import Judgment, PoolItem
from modeling.models import Fit
from modeling.services.fits import FIT_JOB_KIND, fit_value
from tests.factories.judgments import judgments_bulk_create, simulated_pairs
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def fitted_value(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=10, value_key="universalism")
    campaign = running_campaign(values=[value], created_by=researcher)
    _, orderings = simulated_pairs(value=value, n=80, seed=4, spread=3.0)
    judgments_bulk_create(campaign=campaign, value=value, annotators=[annotator, other_annotator], orderings=orderings)
    fit_value(value_id=value.pk)
    return value


def _url(name: str, value) -> str:
    return reverse(name, args=[value.theory.key, value.key])


def test_intensities_are_ranked_with_intervals_and_paged(researcher_api, fitted_value):
    response = researcher_api.get(_url("api-value-intensities", fitted_value), {"limit": 4})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 10 and len(body["results"]) == 4 and body["next"]
    first = body["results"][0]
    strongest = PoolItem.objects.filter(value=fitted_value).order_by("-intensity").first()
    assert first["pool_item_id"] == strongest.pk and first["text_id"] == strongest.text_id
    assert first["intensity"] == pytest.approx(strongest.intensity)
    assert first["ci_low"] <= first["intensity"] <= first["ci_high"]
    assert first["se"] > 0 and first["n_judgments"] > 0 and first["excerpt"].startswith("Text ")
    intensities = [row["intensity"] for row in body["results"]]
    assert intensities == sorted(intensities, reverse=True)


def test_intensities_can_be_searched(researcher_api, fitted_value):
    text = PoolItem.objects.filter(value=fitted_value).order_by("id")[2].text.content
    response = researcher_api.get(_url("api-value-intensities", fitted_value), {"q": text})
    assert [row["excerpt"] for row in response.json()["results"]] == [text]


def test_the_fit_history_marks_the_published_fit(researcher_api, fitted_value):
    second = fit_value(value_id=fitted_value.pk)

    response = researcher_api.get(_url("api-value-fits", fitted_value))

    results = response.json()["results"]
    newest_first = Fit.objects.filter(value=fitted_value).order_by("-id").values_list("id", flat=True)
    assert [row["id"] for row in results] == list(newest_first)
    assert results[0]["id"] == second.pk and results[0]["is_published"] is True
    assert results[1]["is_published"] is False
    assert results[0]["n_judgments"] == 80 and results[0]["median_ci_width"] > 0
    assert results[0]["warm_started_from"] == results[1]["id"]


def test_refit_answers_202_with_the_job(researcher_api, fitted_value):
    response = researcher_api.post(_url("api-value-refit", fitted_value))

    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.kind == FIT_JOB_KIND and job.params == {"value_id": fitted_value.pk}
    assert response.json()["status_url"] == reverse("api-job-detail", args=[job.pk])


def test_annotator_agreement(researcher_api, fitted_value, other_annotator):
    # The second annotator answered slower; the table is as of the published fit, so refit to see it.
    Judgment.objects.filter(annotator=other_annotator).update(latency_ms=3500)
    fit_value(value_id=fitted_value.pk)

    response = researcher_api.get(_url("api-value-annotators", fitted_value))

    rows = {row["username"]: row for row in response.json()}
    assert set(rows) == {"ann", "ann2"}
    assert rows["ann"]["n_judgments"] == 40 and rows["ann"]["n_pairs"] == 40
    assert (rows["ann"]["median_latency_ms"], rows["ann2"]["median_latency_ms"]) == (2000, 3500)
    assert 0.5 < rows["ann"]["agreement"] <= 1


@pytest.mark.parametrize("name", ["api-value-intensities", "api-value-fits", "api-value-annotators"])
def test_annotators_get_403(annotator_api, fitted_value, name):
    assert annotator_api.get(_url(name, fitted_value)).status_code == 403


def test_annotators_cannot_start_a_refit(annotator_api, fitted_value):
    assert annotator_api.post(_url("api-value-refit", fitted_value)).status_code == 403
    assert not Job.objects.filter(kind=FIT_JOB_KIND).exists()


def test_an_unknown_value_is_404(researcher_api):
    response = researcher_api.get(reverse("api-value-intensities", args=["svt", "no-such-value"]))
    assert response.status_code == 404
