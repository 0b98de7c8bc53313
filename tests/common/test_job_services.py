from datetime import timedelta

import pytest
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import register_job_handler
from common.models import Job
from common.services import job_cancel, job_create, job_run, jobs_reap_stale

pytestmark = pytest.mark.django_db

CALLS: list[dict] = []


def recording_handler(ctx):
    ctx.report(0.5, "half way")
    CALLS.append(ctx.params)
    return {"echo": ctx.params.get("n")}


def refusing_handler(ctx):
    raise ApplicationError("The file names no value column.")


def crashing_handler(ctx):
    raise ZeroDivisionError("division by zero")


register_job_handler("tests.record", f"{__name__}.recording_handler")
register_job_handler("tests.refuse", f"{__name__}.refusing_handler")
register_job_handler("tests.crash", f"{__name__}.crashing_handler")


def test_a_job_runs_once_even_if_delivered_twice():
    CALLS.clear()
    job = job_create(kind="tests.record", params={"n": 3})
    assert job_run(job_id=job.pk).status == Job.Status.SUCCEEDED
    again = job_run(job_id=job.pk)
    assert again.result == {"echo": 3}
    assert again.progress == 1.0
    assert len(CALLS) == 1


def test_a_refused_job_says_why_and_a_crash_keeps_its_traceback():
    refused = job_run(job_id=job_create(kind="tests.refuse").pk)
    assert refused.status == Job.Status.FAILED
    assert refused.error == "The file names no value column."
    crashed = job_run(job_id=job_create(kind="tests.crash").pk)
    assert crashed.status == Job.Status.FAILED
    assert "ZeroDivisionError" in crashed.error and "Traceback" in crashed.error


def test_unknown_kinds_are_refused_before_anything_is_stored():
    with pytest.raises(LookupError):
        job_create(kind="tests.nope")
    assert Job.objects.count() == 0


def test_a_dedupe_key_keeps_one_active_job():
    first = job_create(kind="tests.record", dedupe_key="refit:value:1")
    assert job_create(kind="tests.record", dedupe_key="refit:value:1").pk == first.pk
    job_run(job_id=first.pk)
    assert job_create(kind="tests.record", dedupe_key="refit:value:1").pk != first.pk


def test_only_pending_jobs_can_be_cancelled():
    job = job_create(kind="tests.record")
    assert job_cancel(job=job).status == Job.Status.CANCELLED
    assert job_run(job_id=job.pk).status == Job.Status.CANCELLED
    running = job_create(kind="tests.record")
    Job.objects.filter(pk=running.pk).update(status=Job.Status.RUNNING)
    with pytest.raises(ApplicationError):
        job_cancel(job=running)


def test_the_reaper_requeues_a_job_whose_worker_died_and_gives_up_after_three_attempts(settings):
    settings.VALUEFLOW_JOB_STALE_AFTER_S = 60
    job = job_create(kind="tests.record")
    stale = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, heartbeat_at=stale, attempts=1)
    assert jobs_reap_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, heartbeat_at=stale, attempts=3)
    jobs_reap_stale()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "stopped responding" in job.error


def test_the_reaper_sends_again_a_pending_job_no_worker_ever_received(settings, django_capture_on_commit_callbacks):
    settings.VALUEFLOW_JOB_STALE_AFTER_S = 60
    job = job_create(kind="tests.record", dedupe_key="refit:value:9")
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks() as callbacks:
        assert jobs_reap_stale() == 1
    assert len(callbacks) == 1  # the job is sent to the broker again
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING
    assert "sent again" in job.message
