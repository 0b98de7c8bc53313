"""Job lifecycle: create (and enqueue on commit), run (idempotently), report progress, reap dead runs."""

import logging
import time
import traceback
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext, job_handler_for
from common.models import Job

logger = logging.getLogger(__name__)

# Progress writes are throttled so a handler may report on every batch without hammering the database.
_PROGRESS_MIN_INTERVAL_S = 0.5


def job_create(
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    created_by: Any = None,
    title: str = "",
    queue: str = "default",
    dedupe_key: str = "",
    countdown_s: float = 0.0,
) -> Job:
    """Create a pending job and send it to a worker once the surrounding transaction commits (after countdown_s
    seconds, for debounced work).

    With a dedupe key, an already pending or running job with the same key is returned instead of a new one.
    """
    job_handler_for(kind)  # fail fast on an unknown kind, before anything is stored
    if dedupe_key:
        existing = Job.objects.filter(dedupe_key=dedupe_key, status__in=Job.ACTIVE_STATUSES).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind,
                params=params or {},
                created_by=created_by if getattr(created_by, "pk", None) else None,
                title=title or kind,
                queue=queue,
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        # Another request created the active job for this key between our check and our insert.
        return Job.objects.get(dedupe_key=dedupe_key, status__in=Job.ACTIVE_STATUSES)
    _enqueue_on_commit(job, countdown_s=countdown_s)
    return job


def _enqueue_on_commit(job: Job, *, countdown_s: float = 0.0) -> None:
    from common.tasks import job_run

    job_id, queue = job.pk, job.queue
    options = {"queue": queue, "countdown": countdown_s} if countdown_s > 0 else {"queue": queue}
    transaction.on_commit(lambda: job_run.apply_async(args=(job_id,), **options))


def job_run(*, job_id: int) -> Job:
    """Run a pending job's handler. A job that is already running elsewhere or finished is left alone."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != Job.Status.PENDING:
            logger.info("job %s is %s; nothing to do", job_id, job.status)
            return job
        now = timezone.now()
        job.status = Job.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.attempts += 1
        job.error = ""
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "error"])

    context = JobContext(job_id=job.pk, params=dict(job.params), report=_progress_reporter(job.pk))
    try:
        result = job_handler_for(job.kind)(context)
    except ApplicationError as exc:
        return _job_finish(job.pk, status=Job.Status.FAILED, error=exc.message, message=exc.message)
    except Exception as exc:  # noqa: BLE001 - a job records any failure and says why
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        return _job_finish(job.pk, status=Job.Status.FAILED, error=error, message=f"Failed: {exc}"[:500])
    return _job_finish(job.pk, status=Job.Status.SUCCEEDED, result=result or {}, message="Done.", progress=1.0)


def _job_finish(
    job_id: int,
    *,
    status: str,
    error: str = "",
    message: str = "",
    result: dict[str, Any] | None = None,
    progress: float | None = None,
) -> Job:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "message": message[:500]}
    if error:
        fields["error"] = error
    if result is not None:
        fields["result"] = result
    if progress is not None:
        fields["progress"] = progress
    Job.objects.filter(pk=job_id).update(**fields)
    return Job.objects.get(pk=job_id)


def _progress_reporter(job_id: int):  # type: ignore[no-untyped-def]
    last_write = [0.0]

    def report(progress: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last_write[0] < _PROGRESS_MIN_INTERVAL_S and progress < 1.0:
            return
        last_write[0] = now
        Job.objects.filter(pk=job_id).update(
            progress=max(0.0, min(1.0, float(progress))), message=message[:500], heartbeat_at=timezone.now()
        )

    return report


def job_cancel(*, job: Job) -> Job:
    """Cancel a job that has not started yet; a running job finishes its current step first."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled."
    )
    if not updated:
        job.refresh_from_db()
        if not job.is_terminal:
            raise ApplicationError("Only a pending job can be cancelled.", extra={"status": job.status})
    job.refresh_from_db()
    return job


def jobs_reap_stale(*, max_attempts: int = 3) -> int:
    """Requeue running jobs whose worker died (no heartbeat for VALUEFLOW_JOB_STALE_AFTER_S); fail them after
    max_attempts. Returns how many jobs were touched."""
    cutoff = timezone.now() - timedelta(seconds=settings.VALUEFLOW_JOB_STALE_AFTER_S)
    touched = 0
    for job_id in Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            job = Job.objects.select_for_update(skip_locked=True).filter(pk=job_id, status=Job.Status.RUNNING).first()
            if job is None:
                continue
            touched += 1
            if job.attempts >= max_attempts:
                job.status = Job.Status.FAILED
                job.finished_at = timezone.now()
                job.error = f"The worker stopped responding {job.attempts} times; giving up."
                job.message = "Failed: worker lost."
                job.save(update_fields=["status", "finished_at", "error", "message"])
            else:
                job.status = Job.Status.PENDING
                job.message = "Worker lost; requeued."
                job.save(update_fields=["status", "message"])
                _enqueue_on_commit(job)
    # A job whose message never reached a worker (the broker was down when it was sent) stays pending for ever and,
    # with a dedupe key, blocks every later job of its kind: send it again. job_run ignores a duplicate delivery.
    for job in Job.objects.filter(status=Job.Status.PENDING, started_at__isnull=True, created_at__lt=cutoff):
        touched += 1
        Job.objects.filter(pk=job.pk).update(message="Not picked up by a worker; sent again.")
        _enqueue_on_commit(job)
    return touched
