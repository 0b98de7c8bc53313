"""Celery interface of the labeling app: periodic lease reclamation, quality control, crowd sessions and the
stopping rule. Each task takes ids, calls one service and is safe to run twice."""

from celery import shared_task


@shared_task(name="labeling.tasks.assignments_expire_stale")
def assignments_expire_stale() -> int:
    from labeling.services.assignment import assignments_expire_stale as service

    return service()


@shared_task(name="labeling.tasks.campaign_items_apply_stopping")
def campaign_items_apply_stopping(campaign_id: int | None = None, value_id: int | None = None) -> int:
    """Retire items that reached their stopping targets. The modeling side sends it by name after publishing a
    fit of `value_id` (its intervals may now be narrow enough); without arguments it sweeps every running
    campaign (periodic)."""
    from labeling.models import Campaign
    from labeling.services.judgments import campaign_items_apply_stopping as service

    campaigns = Campaign.objects.filter(status=Campaign.Status.RUNNING)
    if campaign_id is not None:
        campaigns = campaigns.filter(pk=campaign_id)
    if value_id is not None:
        campaigns = campaigns.filter(values__id=value_id)
    return sum(service(campaign=campaign) for campaign in campaigns.distinct())


@shared_task(name="labeling.tasks.quality_update")
def quality_update() -> int:
    """Recompute annotators' quality figures in running campaigns with new judgments (and pause rule breakers)."""
    from labeling.services.quality import running_campaigns_quality_update

    return running_campaigns_quality_update()


@shared_task(name="labeling.tasks.adjudications_refresh")
def adjudications_refresh() -> int:
    """Queue newly contested pairs of running campaigns for researchers' adjudication."""
    from labeling.services.adjudication import running_campaigns_adjudications_refresh

    return running_campaigns_adjudications_refresh()


@shared_task(name="labeling.tasks.crowd_sessions_time_out")
def crowd_sessions_time_out() -> int:
    """Time out idle crowd sessions and give their open leases back."""
    from labeling.services.crowd import crowd_sessions_time_out as service

    return service()
