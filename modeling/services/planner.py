"""Budget planning: before launch, the judgments a pool needs for a target (simulated with the real engine,
modeling/ml/planning.py); during a run, the campaign's projected completion and the judgments adaptive selection
saved against the planner's random-design estimate.

A plan simulates a few hundred fits, so it runs as a job (`modeling.budget_plan`) whose result the planner page and
the API read back.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import numpy as np
from django.db.models import Q
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from common.services import job_create
from labeling.models import Campaign, CampaignItem, Judgment
from modeling.ml.planning import NOISE_SPREADS, PlanSettings, plan
from modeling.models import ItemScore, PublishedFit

BUDGET_PLAN_JOB_KIND = "modeling.budget_plan"
# The spread of true utilities assumed when a running campaign's fit cannot tell (too few judged texts).
DEFAULT_SPREAD = NOISE_SPREADS["moderate"]
RATE_WINDOW = timedelta(hours=1)
MIN_JUDGED_FOR_SPREAD = 10


def plan_settings_build(
    *,
    n_items: int,
    protocol: str,
    k: int,
    noise: str = "moderate",
    target_ci_width: float | None = None,
    target_spearman: float | None = None,
    spam_share: float = 0.0,
    seeds: int = 3,
    spread: float | None = None,
) -> PlanSettings:
    """Check a researcher's planning request and turn it into simulation settings; every problem is named."""
    if spread is None:
        if noise not in NOISE_SPREADS:
            raise ApplicationError(
                f"Unknown noise level {noise!r}: choose one of {', '.join(NOISE_SPREADS)}.", extra={"field": "noise"}
            )
        spread = NOISE_SPREADS[noise]
    try:
        return PlanSettings(
            n_items=int(n_items), protocol=protocol, k=int(k), spread=float(spread),
            target_ci_width=target_ci_width, target_spearman=target_spearman,
            spam_share=float(spam_share), seeds=int(seeds),
        )
    except ValueError as exc:
        raise ApplicationError(f"Cannot plan this campaign: {exc}", extra={"field": "settings"}) from None


def budget_plan_start(*, settings: PlanSettings, requested_by: Any, campaign: Campaign | None = None) -> Job:
    """Start the simulation job; with a campaign, its run-time projection is added to the result."""
    params: dict[str, Any] = {"settings": asdict(settings)}
    if campaign is not None:
        params["campaign_id"] = campaign.pk
    targets = []
    if settings.target_ci_width is not None:
        targets.append(f"95 % interval ≤ {settings.target_ci_width:g} points")
    if settings.target_spearman is not None:
        targets.append(f"Spearman ≥ {settings.target_spearman:g}")
    return job_create(
        kind=BUDGET_PLAN_JOB_KIND,
        params=params,
        created_by=requested_by,
        title=f"Budget plan: {settings.n_items:,} texts, {settings.protocol} k={settings.k}, {' and '.join(targets)}",
    )


def budget_plan_job(context: JobContext) -> dict[str, Any]:
    """Job handler for "modeling.budget_plan" (params: settings, optional campaign_id)."""
    try:
        settings = PlanSettings(**context.params["settings"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplicationError(
            f"A budget-plan job needs valid settings: {exc}", extra={"params": context.params}
        ) from None
    result: dict[str, Any] = {"plan": plan(settings, report=context.report).to_dict()}
    campaign_id = context.params.get("campaign_id")
    if campaign_id is not None:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise ApplicationError(f"Campaign {campaign_id} no longer exists.", extra={"campaign_id": campaign_id})
        context.report(0.9, "Comparing the campaign's progress with the random design…")
        result["projection"] = campaign_projection(campaign=campaign, seeds=settings.seeds)
    return result


def campaign_plan_defaults(*, campaign: Campaign) -> dict[str, Any]:
    """Pool size, protocol and k of a campaign (the planner form's values when a campaign is chosen)."""
    return {
        "n_items": CampaignItem.objects.filter(campaign=campaign).count(),
        "protocol": campaign.protocol,
        "k": campaign.list_size,
        "target_ci_width": campaign.ci_width_target,
    }


def campaign_projection(*, campaign: Campaign, seeds: int = 3, now: Any = None) -> dict[str, Any]:
    """Per value of a campaign: judgments so far and their rate, the published median interval width, the
    judgments still needed (for the campaign's interval target, by the random-design planner; else for its
    judgments-per-text target) with an estimated completion time, and — for adaptive sampling — the judgments a
    random design would have needed to reach today's interval width, against those actually used."""
    now = now or timezone.now()
    rows = []
    for value in campaign.values.all().select_related("theory"):
        judgments = Judgment.objects.filter(
            campaign=campaign, value=value, is_quality_check=False, retraction__isnull=True
        )
        done = judgments.count()
        recent = judgments.filter(created_at__gte=now - RATE_WINDOW).count()
        started = campaign.started_at or now
        hours = max((now - started).total_seconds() / 3600.0, 1e-9)
        rate_per_hour = recent / (RATE_WINDOW.total_seconds() / 3600.0) if recent else done / hours if done else 0.0
        n_items = CampaignItem.objects.filter(campaign=campaign, value=value).count()
        width, spread = _published_width_and_spread(value_id=value.pk, campaign=campaign)
        row: dict[str, Any] = {
            "value": value.qualified_key,
            "n_items": n_items,
            "judgments": done,
            "judgments_per_hour": round(rate_per_hour, 1),
            "median_ci_width": width,
            "spread_logits": spread,
        }
        k = campaign.list_size
        if campaign.ci_width_target:
            needed = _random_design_judgments(campaign, n_items, spread, campaign.ci_width_target, seeds)
            row["target"] = f"median 95 % interval ≤ {campaign.ci_width_target:g} points (random design)"
        else:
            needed = int(math.ceil(campaign.judgments_per_item * n_items / k))
            row["target"] = f"{campaign.judgments_per_item} judgments per text"
        row["judgments_needed"] = needed
        remaining = None if needed is None else max(0, needed - done)
        row["judgments_remaining"] = remaining
        if remaining is not None and rate_per_hour > 0:
            row["projected_completion"] = (now + timedelta(hours=remaining / rate_per_hour)).isoformat()
        else:
            row["projected_completion"] = None
        if campaign.sampling == Campaign.Sampling.ADAPTIVE and width is not None and done > 0:
            random_needed = _random_design_judgments(campaign, n_items, spread, width, seeds)
            row["random_design_judgments_for_current_width"] = random_needed
            row["saved_by_adaptive"] = None if not random_needed else round(1.0 - done / random_needed, 3)
        rows.append(row)
    return {"campaign": campaign.pk, "name": campaign.name, "sampling": campaign.sampling, "values": rows}


def _published_width_and_spread(*, value_id: int, campaign: Campaign) -> tuple[float | None, float]:
    """Median 95 % interval width of the campaign's judged texts in the published fit, and the spread (standard
    deviation) of their utilities, the planner's stand-in for the unknown true spread."""
    pointer = PublishedFit.objects.filter(value_id=value_id).values_list("fit_id", flat=True).first()
    if pointer is None:
        return None, DEFAULT_SPREAD
    scores = ItemScore.objects.filter(
        Q(n_judgments__gt=0),
        fit_id=pointer,
        pool_item_id__in=CampaignItem.objects.filter(campaign=campaign, value_id=value_id).values("pool_item_id"),
    ).values_list("utility", "ci_low", "ci_high")
    rows = np.array(list(scores), dtype=float).reshape(-1, 3)
    if rows.shape[0] == 0:
        return None, DEFAULT_SPREAD
    width = float(np.median(rows[:, 2] - rows[:, 1]))
    spread = float(rows[:, 0].std()) if rows.shape[0] >= MIN_JUDGED_FOR_SPREAD else DEFAULT_SPREAD
    return round(width, 3), round(max(spread, 0.1), 3)


def _random_design_judgments(campaign: Campaign, n_items: int, spread: float, width: float, seeds: int) -> int | None:
    if n_items < max(campaign.list_size, 3) or not 0 < width <= 20:
        return None
    settings = PlanSettings(
        n_items=n_items, protocol=campaign.protocol, k=campaign.list_size, spread=spread,
        target_ci_width=width, seeds=seeds,
    )
    return plan(settings).judgments
