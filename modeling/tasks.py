"""Celery interface to the modeling services: ids in, one service call.

`refit_request` is sent by name from labeling after each committed judgment (labeling never imports modeling);
`refits_catch_up` runs on the beat schedule as the safety net for refits lost with their worker. The refit itself
runs as a Job ("modeling.fit_value") through common.tasks.job_run on the "refit" queue.
"""

from celery import shared_task


@shared_task(name="modeling.tasks.refit_request", soft_time_limit=30, time_limit=60)
def refit_request(value_id: int) -> int | None:
    """Schedule a debounced refit of one value; returns the refit job id (None when nothing needs refitting)."""
    from modeling.services.fits import refit_request as service

    job = service(value_id=value_id)
    return job.pk if job is not None else None


@shared_task(name="modeling.tasks.refits_catch_up", soft_time_limit=60, time_limit=120)
def refits_catch_up() -> list[int]:
    """Request a refit of every value whose published fit misses judgments; returns their ids."""
    from modeling.services.fits import refits_catch_up as service

    return service()


# Named check_… rather than hives_…: CELERY_TASK_ROUTES sends modeling.tasks.hives_* to the "gpu" queue, and this
# check is a cheap count that must run where there is no GPU worker too.
@shared_task(name="modeling.tasks.check_hives_retrain", soft_time_limit=60, time_limit=120)
def check_hives_retrain() -> int | None:
    """Start a HiVES training run if enough new labelled texts arrived; returns the new version's id."""
    from modeling.services.hives import hives_retrain_check

    version = hives_retrain_check()
    return version.pk if version is not None else None


@shared_task(name="modeling.tasks.evaluation_work", soft_time_limit=3000, time_limit=3300)
def evaluation_work(evaluation_id: int, stage: str) -> int:
    """Help a running steering evaluation: process unclaimed batches of one stage; returns how many."""
    from modeling.services.evaluations import evaluation_work as service

    return service(evaluation_id=evaluation_id, stage=stage)


@shared_task(name="modeling.tasks.evaluations_collect_human", soft_time_limit=300, time_limit=360)
def evaluations_collect_human() -> list[int]:
    """Collect the judgments of evaluations waiting for human judges; returns the ids of those now finished."""
    from modeling.services.evaluation_humans import evaluations_collect_waiting

    return evaluations_collect_waiting()
