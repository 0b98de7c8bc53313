"""Celery interface to the job service: ids in, one service call."""

from celery import shared_task


@shared_task(name="common.tasks.job_run", acks_late=True, reject_on_worker_lost=False)
def job_run(job_id: int) -> None:
    from common.services import job_run as service

    service(job_id=job_id)


@shared_task(name="common.tasks.jobs_reap_stale")
def jobs_reap_stale() -> int:
    from common.services import jobs_reap_stale as service

    return service()
