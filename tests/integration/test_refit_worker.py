"""Live refits on a real Celery worker: a refit requested the way labeling requests it publishes; a worker killed
with SIGKILL in the middle of the next refit leaves the previous fit published and every judgment stored; a fresh
worker's catch-up then publishes a fit that covers every judgment."""

import time

import pytest

from accounts.models import User
from accounts.services import user_create
from common.models import Job
from config.celery_app import app
from labeling.models import Judgment, PoolItem, Text
from modeling.models import Fit, PublishedFit
from modeling.services.fits import refit_dedupe_key, refit_request
from tests.factories.judgments import judgments_bulk_create, simulated_pairs
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The first refit fits a small pool quickly. Then an import grows the pool to 2,000 texts, the largest the dense
# choix backend takes: a fit there lasts seconds on our machines, a window wide enough to kill the worker inside it
# without a hook in the code under test.
FIRST_POOL, GROWN_POOL = 200, 2000
FIRST_JUDGMENTS = 300
MORE_JUDGMENTS = 4000


def _grow_pool(value, *, to: int) -> None:  # type: ignore[no-untyped-def]
    have = PoolItem.objects.filter(value=value).count()
    texts = Text.objects.bulk_create(
        Text(content=f"Imported text {i} on {value.key}.", content_hash=f"{value.pk:08d}{i:056d}")
        for i in range(have, to)
    )
    PoolItem.objects.bulk_create(PoolItem(value=value, text=text) for text in texts)


def _wait(predicate, *, timeout_s: float, poll_s: float = 0.05, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _job_done(job: Job) -> Job | None:
    job.refresh_from_db()
    return job if job.is_terminal else None


def test_a_worker_killed_mid_refit_loses_nothing_and_the_catch_up_finishes_the_job(
    celery_worker_process, researcher, monkeypatch
):
    # Workers started below consider a job dead two seconds after its last heartbeat (production: five minutes).
    monkeypatch.setenv("VALUEFLOW_JOB_STALE_AFTER_S", "2")
    value = value_with_pool(n_items=FIRST_POOL)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    crowd = [user_create(username=f"w{i}", password="x-pass-123", role=User.Role.ANNOTATOR) for i in range(8)]
    _, orderings = simulated_pairs(value=value, n=FIRST_JUDGMENTS, seed=3)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings)

    worker = celery_worker_process("refit,default")
    # Exactly what labeling sends after a judgment commits: the task by name, no import of modeling.
    app.send_task("modeling.tasks.refit_request", kwargs={"value_id": value.pk})
    first_job = _wait(
        lambda: Job.objects.filter(dedupe_key=refit_dedupe_key(value.pk)).first(),
        timeout_s=30, poll_s=0.1, what="the refit request to create a job",
    )
    _wait(lambda: _job_done(first_job), timeout_s=60, poll_s=0.2, what="the first refit")
    assert first_job.status == Job.Status.SUCCEEDED, worker.log()[-3000:]
    first_fit = PublishedFit.objects.get(value=value).fit
    assert first_fit.watermark == Judgment.objects.filter(value=value).latest("id").pk
    assert first_fit.backend == "choix"

    # The pool grows and many judgments arrive: the request starts a refit at once, and the worker dies in it.
    _grow_pool(value, to=GROWN_POOL)
    _, more = simulated_pairs(value=value, n=MORE_JUDGMENTS, seed=4)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=more)
    doomed_job = refit_request(value_id=value.pk)
    assert doomed_job is not None and doomed_job.pk != first_job.pk
    doomed_fit = _wait(
        lambda: Fit.objects.filter(value=value, job=doomed_job, status=Fit.Status.RUNNING).first(),
        timeout_s=30, poll_s=0.02, what="the second refit to start",
    )
    time.sleep(0.3)  # inside the fit: reading the judgments and fitting 2,000 texts take seconds
    worker.kill()

    doomed_fit.refresh_from_db()
    assert doomed_fit.status == Fit.Status.RUNNING, "the refit finished before the worker was killed"
    assert PublishedFit.objects.get(value=value).fit_id == first_fit.pk
    assert PoolItem.objects.filter(value=value, published_fit_id=first_fit.pk).count() == FIRST_POOL
    assert PoolItem.objects.filter(value=value, published_fit_id__isnull=True).count() == GROWN_POOL - FIRST_POOL
    assert Judgment.objects.filter(value=value).count() == FIRST_JUDGMENTS + MORE_JUDGMENTS
    doomed_job.refresh_from_db()
    assert doomed_job.status == Job.Status.RUNNING  # nobody is left to finish it

    # A fresh worker; the beat's periodic tasks (sent here by name) reap the dead job and catch the value up.
    celery_worker_process("refit,default")
    time.sleep(2.5)  # let the dead job's heartbeat go stale
    app.send_task("common.tasks.jobs_reap_stale", queue="default")
    app.send_task("modeling.tasks.refits_catch_up", queue="default")

    latest = Judgment.objects.filter(value=value).latest("id").pk
    published = _wait(
        lambda: PublishedFit.objects.select_related("fit").filter(value=value, fit__watermark=latest).first(),
        timeout_s=60, poll_s=0.2, what="the catch-up refit to publish",
    )
    assert published.fit.n_judgments == FIRST_JUDGMENTS + MORE_JUDGMENTS
    assert published.fit.n_items == GROWN_POOL
    assert published.fit.status == Fit.Status.SUCCEEDED
    assert set(PoolItem.objects.filter(value=value).values_list("published_fit_id", flat=True)) == {published.fit_id}
    doomed_fit.refresh_from_db()
    assert doomed_fit.status == Fit.Status.FAILED and "stopped" in doomed_fit.error
    # The fit publishes inside the job; the job is marked finished a moment later, once its task returns.
    _wait(lambda: _job_done(doomed_job), timeout_s=30, poll_s=0.1, what="the re-sent job to finish")
    assert doomed_job.status == Job.Status.SUCCEEDED  # the same job, handed out again and finished
    assert not Job.objects.filter(dedupe_key=refit_dedupe_key(value.pk), status__in=Job.ACTIVE_STATUSES).exists()
