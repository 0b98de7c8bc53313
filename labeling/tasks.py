"""Celery interface of the labeling app: periodic lease reclamation."""

from celery import shared_task


@shared_task(name="labeling.tasks.assignments_expire_stale")
def assignments_expire_stale() -> int:
    from labeling.services.assignment import assignments_expire_stale as service

    return service()
