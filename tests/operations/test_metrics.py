"""/metrics in Prometheus's text format: judgments, lease backlog, refit lag per value, jobs and their durations;
served to a bearer token, or to loopback when no token is configured."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from common.models import Job
from labeling.models import Judgment
from labeling.services.assignment import assignment_next
from modeling.services.fits import fit_value
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def parse(text: str) -> dict[tuple[str, str], float]:
    """{(metric name, label string): value}; also checks every line is a comment or a valid sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a valid exposition line: {line!r}"
        samples[(match["name"], match["labels"] or "")] = float(match["value"])
    return samples


@pytest.fixture
def busy_value(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=8, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    truth = {item_id: float(i) for i, item_id in enumerate(value.pool_items.values_list("id", flat=True))}
    judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=3)
    # Backdate the judgments: the lag is the age of the oldest one no published fit holds yet.
    Judgment.objects.filter(value=value).update(created_at=timezone.now() - timedelta(seconds=90))
    assignment_next(campaign=campaign, annotator=other_annotator)  # one open lease
    return value, campaign


def test_metrics_report_judgments_leases_and_the_refit_lag_before_and_after_a_fit(client, busy_value):
    value, campaign = busy_value
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.content.decode())
    assert samples[("valueflow_judgments_total", "")] == 3
    assert samples[("valueflow_open_assignments", f'campaign="{campaign.pk}"')] == 1
    assert samples[("valueflow_expired_open_assignments", "")] == 0
    lag = samples[("valueflow_refit_lag_seconds", 'value="svt:care"')]
    assert 90 <= lag < 150
    assert samples[("valueflow_refit_lag_seconds_max", "")] == lag

    fit_value(value_id=value.pk)
    after = parse(client.get("/metrics").content.decode())
    assert after[("valueflow_refit_lag_seconds", 'value="svt:care"')] == 0


def test_job_durations_form_a_cumulative_histogram_per_kind(client, db):
    start = timezone.now() - timedelta(hours=1)
    for seconds in (0.3, 4.0, 45.0):
        Job.objects.create(kind="modeling.fit_value", status=Job.Status.SUCCEEDED, started_at=start,
                           finished_at=start + timedelta(seconds=seconds))
    Job.objects.create(kind="modeling.fit_value", status=Job.Status.PENDING)
    samples = parse(client.get("/metrics").content.decode())
    kind = 'kind="modeling.fit_value"'
    assert samples[("valueflow_job_duration_seconds_bucket", f'{kind},le="0.5"')] == 1
    assert samples[("valueflow_job_duration_seconds_bucket", f'{kind},le="5"')] == 2
    assert samples[("valueflow_job_duration_seconds_bucket", f'{kind},le="60"')] == 3
    assert samples[("valueflow_job_duration_seconds_bucket", f'{kind},le="+Inf"')] == 3
    assert samples[("valueflow_job_duration_seconds_count", kind)] == 3
    assert samples[("valueflow_job_duration_seconds_sum", kind)] == pytest.approx(49.3)
    assert samples[("valueflow_jobs", f'{kind},status="pending"')] == 1


def test_without_a_token_only_loopback_may_scrape(db):
    remote = Client(REMOTE_ADDR="203.0.113.9")
    response = remote.get("/metrics")
    assert response.status_code == 403
    assert "loopback" in response.json()["message"]
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200


def test_with_a_token_every_scraper_must_send_it(db, settings):
    settings.VALUEFLOW_METRICS_TOKEN = "s3cret-scrape-token"
    remote = Client(REMOTE_ADDR="203.0.113.9")
    assert remote.get("/metrics").status_code == 403
    assert Client().get("/metrics").status_code == 403  # loopback needs it too once a token is set
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200
