"""Annotator reliability in the live refit, and the quality control that acts on a newly published consensus.

During a refit (`modeling.services.fits.fit_value`):
- `reliability_fit` estimates every annotator's reliability and first-position bias jointly with the intensities
  (modeling/ml/reliability.py), warm-started from the published fit's estimates, and weights judgments by it;
- `annotator_estimates_store` writes one `AnnotatorEstimate` per annotator of the fit (with the annotator's
  Kendall τ against the consensus).

After the fit is published (`fit_after_publish`):
- auto-pause (`annotators_auto_pause`): in every running campaign on the value that sets a reliability threshold,
  an active member whose reliability's UPPER 95 % bound lies below it is paused through labeling's
  `member_set_state`, with the evidence as the reason. A researcher reviews and reinstates; a reinstated annotator
  is not paused again for reliability (like labeling's other rules, the "reliability" flag is then cleared);
- gold promotion (`gold_pairs_promote`): pairs whose fitted order is near certain (posterior probability ≥ 0.99)
  and whose intensity gap is large (≥ 6 points) become `GoldComparison(source="promoted")` of the value's
  campaigns, at most `MAX_PROMOTED_PER_CAMPAIGN` active ones each; promoted pairs the new fit no longer supports are
  retired;
- the agreement metrics job is scheduled (modeling/services/agreement.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from scipy.stats import norm

from common.services import job_create
from labeling.models import Campaign, CampaignItem, CampaignMember, GoldComparison
from labeling.services.quality import member_set_state
from modeling.ml.plackett_luce.data import ComparisonData
from modeling.ml.reliability import (
    DEFAULT_PRIOR_SD_BIAS,
    DEFAULT_PRIOR_SD_RELIABILITY,
    Z95,
    AnnotatorLayout,
    ReliabilityFit,
    fit_with_reliability,
)
from modeling.models import AnnotatorEstimate, Fit, ItemScore, PublishedFit
from modeling.selectors import model_annotator_ids

logger = logging.getLogger("valueflow.reliability")

# Auto-pause acts only on annotators with at least this many judgments in the fit, on top of the confidence bound:
# the bound is conditional on the consensus, which is itself shaky while an annotator has judged little.
MIN_JUDGMENTS_FOR_PAUSE = 20
RELIABILITY_RULE = "reliability"
# Gold promotion (issue: order probability ≥ 0.99 and a gap of ≥ 6 intensity points, capped per campaign).
GOLD_MIN_ORDER_PROBABILITY = 0.99
GOLD_MIN_INTENSITY_GAP = 6.0
MAX_PROMOTED_PER_CAMPAIGN = 20
# Candidate items for promotion: the judged items with the narrowest intervals (pairs are scored only among them,
# so promotion stays cheap at 100K items).
GOLD_CANDIDATE_ITEMS = 300
METRICS_JOB_KIND = "modeling.fit_metrics"
# Agreement metrics refit the data a dozen times; during a busy campaign they are refreshed at most this often.
METRICS_DELAY_S = 30.0


@dataclass
class ValueReliabilityFit:
    """The outcome of `reliability_fit`: the engine's result and estimates, with the annotators' user ids."""

    fitted: ReliabilityFit
    annotator_user_ids: np.ndarray  # annotator index a → user id
    layout: AnnotatorLayout
    data: ComparisonData  # the judgments at their own weights (before reliability weighting)


def _published_estimates(value_id: int, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The published fit's raw (reliability, side bias) per annotator, to warm-start the alternation; annotators new
    since then start at (1, 0)."""
    pointer = PublishedFit.objects.filter(value_id=value_id).values_list("fit_id", "fit__config").first()
    if pointer is None:
        return None
    fit_id, config = pointer
    reference = ((config or {}).get("engine", {}).get("reliability", {}) or {}).get("reference_reliability")
    rows = AnnotatorEstimate.objects.filter(fit_id=fit_id).values_list("annotator_id", "reliability", "side_bias")
    known = {annotator: (reliability, bias) for annotator, reliability, bias in rows}
    if not known or not reference:
        return None
    r = np.array([known.get(int(u), (1.0, 0.0))[0] * reference for u in user_ids])
    b = np.array([known.get(int(u), (1.0, 0.0))[1] for u in user_ids])
    return r, b


def reliability_fit(
    data: ComparisonData,
    *,
    value_id: int,
    annotator_ids: np.ndarray,
    first_shown: np.ndarray,
    init: np.ndarray | None,
    **fit_kwargs: Any,
) -> ValueReliabilityFit:
    """Fit the value's intensities with every annotator's reliability and side bias (see the module docstring).
    ``annotator_ids`` and ``first_shown`` follow the judgments of ``data`` in order."""
    user_ids, annotator_index = np.unique(np.asarray(annotator_ids, dtype=np.int64), return_inverse=True)
    judgment_weight = np.zeros(data.n_judgments)
    judgment_weight[data.stage_judgment] = data.stage_weight
    layout = AnnotatorLayout(
        judgment_annotator=annotator_index.astype(np.int64),
        judgment_first=np.asarray(first_shown, dtype=np.int64),
        n_annotators=int(user_ids.size),
        # researchers' adjudications enter with a weight above 1 and keep it whatever the researcher's reliability
        fixed_weight=judgment_weight > 1.0,
    )
    fitted = fit_with_reliability(
        data,
        layout,
        init=init,
        init_reliability=_published_estimates(value_id, user_ids),
        prior_sd_reliability=DEFAULT_PRIOR_SD_RELIABILITY,
        prior_sd_bias=DEFAULT_PRIOR_SD_BIAS,
        **fit_kwargs,
    )
    return ValueReliabilityFit(fitted=fitted, annotator_user_ids=user_ids, layout=layout, data=data)


def annotator_estimates_store(*, fit: Fit, fitted: ValueReliabilityFit) -> int:
    """One AnnotatorEstimate per annotator of the fit, with their Kendall τ against the fitted consensus."""
    from modeling.ml.agreement import annotator_agreement

    estimates = fitted.fitted.estimates
    _, _, tau = annotator_agreement(fitted.data, fitted.fitted.result.utilities, fitted.layout)
    rows = [
        AnnotatorEstimate(
            fit_id=fit.pk,
            annotator_id=int(user_id),
            reliability=float(estimates.reliability[a]),
            reliability_se=float(estimates.reliability_se[a]),
            side_bias=float(estimates.side_bias[a]),
            side_bias_se=float(estimates.side_bias_se[a]),
            n_judgments=int(estimates.n_judgments[a]),
            consensus_tau=float(tau[a]) if np.isfinite(tau[a]) else None,
        )
        for a, user_id in enumerate(fitted.annotator_user_ids)
    ]
    AnnotatorEstimate.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


# ----- after publishing ---------------------------------------------------------------------------------------------


def fit_after_publish(*, fit: Fit) -> None:
    """Quality control on a newly published fit. Each part is independent; a failure is logged and the fit stays
    published (the next refit tries again)."""
    outcome: dict[str, Any] = {}
    for name, step in (("auto_pause", annotators_auto_pause), ("gold_promotion", gold_pairs_promote)):
        try:
            outcome[name] = step(fit=fit)
        except Exception:  # noqa: BLE001 - quality control must not fail a published refit
            logger.exception("%s after fit %s failed", name, fit.pk)
            outcome[name] = {"error": "failed; see the worker log"}
    fit.metrics = fit_metrics_merge(fit_id=fit.pk, metrics=outcome)
    try:
        job_create(
            kind=METRICS_JOB_KIND,
            params={"value_id": fit.value_id},
            title=f"Agreement metrics of value {fit.value_id}",
            queue="refit",
            dedupe_key=f"fit-metrics:value:{fit.value_id}",
            countdown_s=METRICS_DELAY_S,
        )
    except Exception:  # noqa: BLE001 - an unreachable broker: the next publication schedules them again
        logger.warning("could not schedule agreement metrics for value %s", fit.value_id, exc_info=True)


def fit_metrics_merge(*, fit_id: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merge keys into Fit.metrics under the fit's row lock (the metrics job writes other keys concurrently);
    returns the merged metrics."""
    with transaction.atomic():
        fit = Fit.objects.select_for_update().only("metrics").get(pk=fit_id)
        merged = {**(fit.metrics or {}), **metrics}
        Fit.objects.filter(pk=fit_id).update(metrics=merged)
    return merged


def reliability_evidence(*, estimate: AnnotatorEstimate, threshold: float, value_key: str) -> str:
    upper = estimate.reliability + Z95 * estimate.reliability_se
    return (
        f"reliability {estimate.reliability:.2f} ± {Z95 * estimate.reliability_se:.2f} (95 % upper bound "
        f"{upper:.2f}) is below the campaign's threshold {threshold:.2f} on {value_key} "
        f"(fit #{estimate.fit_id}, {estimate.n_judgments} judgments)"
    )


def annotators_auto_pause(*, fit: Fit) -> dict[str, Any]:
    """Pause, in each running campaign on the fit's value with a reliability threshold, the active members whose
    reliability is confidently below it (upper 95 % bound < threshold, at least MIN_JUDGMENTS_FOR_PAUSE judgments).
    Returns {"paused": [user ids], "campaigns": n}."""
    campaigns = list(
        Campaign.objects.filter(
            values=fit.value_id, status=Campaign.Status.RUNNING, reliability_threshold__isnull=False
        ).distinct()
    )
    paused: list[int] = []
    if not campaigns:
        return {"paused": paused, "campaigns": 0}
    estimates = {
        e.annotator_id: e
        for e in AnnotatorEstimate.objects.filter(fit=fit, n_judgments__gte=MIN_JUDGMENTS_FOR_PAUSE)
    }
    value_key = fit.value.qualified_key
    for campaign in campaigns:
        threshold = float(campaign.reliability_threshold)  # type: ignore[arg-type]
        below = [
            annotator
            for annotator, e in estimates.items()
            if e.reliability + Z95 * e.reliability_se < threshold
        ]
        members = CampaignMember.objects.filter(campaign=campaign, annotator_id__in=below)
        for member_id in members.values_list("pk", flat=True):
            if _do_member_reliability_pause(
                member_id=member_id, estimates=estimates, threshold=threshold, value_key=value_key, fit=fit
            ):
                paused.append(CampaignMember.objects.values_list("annotator_id", flat=True).get(pk=member_id))
    return {"paused": paused, "campaigns": len(campaigns)}


def _do_member_reliability_pause(
    *, member_id: int, estimates: dict[int, AnnotatorEstimate], threshold: float, value_key: str, fit: Fit
) -> bool:
    """Lock the member, record the evidence in qc["reliability"] and pause them unless a researcher already cleared
    the reliability rule. A member found active after an earlier reliability pause was reinstated by a researcher:
    the rule is then cleared for them."""
    with transaction.atomic():
        member = CampaignMember.objects.select_for_update().get(pk=member_id)
        estimate = estimates[member.annotator_id]
        qc = dict(member.qc or {})
        records = dict(qc.get(RELIABILITY_RULE) or {})
        cleared = set(qc.get("cleared", []))
        earlier = records.get(value_key) or {}
        if earlier.get("paused_by_fit") and member.state == CampaignMember.State.ACTIVE:
            cleared.add(RELIABILITY_RULE)
        evidence = reliability_evidence(estimate=estimate, threshold=threshold, value_key=value_key)
        acting = member.state == CampaignMember.State.ACTIVE and RELIABILITY_RULE not in cleared
        records[value_key] = {
            "fit_id": fit.pk,
            "reliability": estimate.reliability,
            "reliability_se": estimate.reliability_se,
            "upper": estimate.reliability + Z95 * estimate.reliability_se,
            "threshold": threshold,
            "n_judgments": estimate.n_judgments,
            "flagged": True,
            "paused_by_fit": (
                fit.pk if acting else None if RELIABILITY_RULE in cleared else earlier.get("paused_by_fit")
            ),
        }
        qc[RELIABILITY_RULE] = records
        qc["cleared"] = sorted(cleared)
        if acting:
            # shown on labeling's review page beside the other rules; reinstating clears it
            qc["flags"] = [f for f in qc.get("flags", []) if f.get("rule") != RELIABILITY_RULE] + [
                {"rule": RELIABILITY_RULE, "evidence": evidence}
            ]
        CampaignMember.objects.filter(pk=member.pk).update(qc=qc)
        member.qc = qc
        if not acting:
            return False
        member_set_state(member=member, state=CampaignMember.State.PAUSED, reason=f"quality control: {evidence}")
    logger.info("paused annotator %s in campaign %s: %s", member.annotator_id, member.campaign_id, evidence)
    return True


def gold_pairs_promote(*, fit: Fit) -> dict[str, Any]:
    """Promote near-certain, large-gap pairs of the fit to gold comparisons of the value's unfinished campaigns and
    retire promoted pairs the fit no longer supports. Returns {"promoted": n, "retired": n}."""
    scores = list(
        ItemScore.objects.filter(fit=fit, n_judgments__gt=0).values_list("pool_item_id", "utility", "se", "intensity")
    )
    by_item = {row[0]: row for row in scores}
    retired = _retire_unsupported(fit=fit, by_item=by_item)
    campaigns = list(Campaign.objects.filter(values=fit.value_id).exclude(status=Campaign.Status.FINISHED).distinct())
    if not campaigns or len(scores) < 2:
        return {"promoted": 0, "retired": retired}
    pairs = _certain_pairs(scores)
    promoted = 0
    for campaign in campaigns:
        room = MAX_PROMOTED_PER_CAMPAIGN - GoldComparison.objects.filter(
            campaign=campaign, source=GoldComparison.Source.PROMOTED, is_active=True
        ).count()
        if room <= 0 or not pairs:
            continue
        involved = {item for pair in pairs for item in pair[:2]}
        in_campaign = set(
            CampaignItem.objects.filter(campaign=campaign, pool_item_id__in=involved).values_list(
                "pool_item_id", flat=True
            )
        )
        existing = {
            frozenset(pair)
            for pair in GoldComparison.objects.filter(campaign=campaign, value_id=fit.value_id).values_list(
                "stronger_id", "weaker_id"
            )
        }
        new: list[GoldComparison] = []
        used: set[int] = set()
        for stronger, weaker, probability, gap in pairs:
            if len(new) >= room:
                break
            if stronger in used or weaker in used or not {stronger, weaker} <= in_campaign:
                continue
            if frozenset((stronger, weaker)) in existing:
                continue
            used.update((stronger, weaker))
            new.append(
                GoldComparison(
                    campaign=campaign, value_id=fit.value_id, stronger_id=stronger, weaker_id=weaker,
                    source=GoldComparison.Source.PROMOTED, intensity_gap=gap, order_probability=probability,
                )
            )
        promoted += len(GoldComparison.objects.bulk_create(new, ignore_conflicts=True))
    return {"promoted": promoted, "retired": retired}


def order_probability(u_high: np.ndarray, se_high: np.ndarray, u_low: np.ndarray, se_low: np.ndarray) -> np.ndarray:
    """Posterior probability that the first utility exceeds the second (independent normal posteriors)."""
    spread = np.sqrt(np.square(se_high) + np.square(se_low))
    return norm.cdf((np.asarray(u_high) - np.asarray(u_low)) / np.maximum(spread, 1e-12))


def _certain_pairs(scores: list[tuple[int, float, float, float]]) -> list[tuple[int, int, float, float]]:
    """(stronger, weaker, order probability, intensity gap) of qualifying pairs among the most certain items, the
    smallest qualifying gaps first (the most informative gold that is still unambiguous)."""
    rows = sorted(scores, key=lambda row: row[2])[:GOLD_CANDIDATE_ITEMS]
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    u = np.array([row[1] for row in rows])
    se = np.array([row[2] for row in rows])
    intensity = np.array([row[3] for row in rows])
    high, low = np.triu_indices(len(rows), 1)
    swap = u[high] < u[low]
    high, low = np.where(swap, low, high), np.where(swap, high, low)
    probability = order_probability(u[high], se[high], u[low], se[low])
    gap = intensity[high] - intensity[low]
    good = np.flatnonzero((probability >= GOLD_MIN_ORDER_PROBABILITY) & (gap >= GOLD_MIN_INTENSITY_GAP))
    good = good[np.argsort(gap[good], kind="stable")]
    return [(int(ids[high[g]]), int(ids[low[g]]), float(probability[g]), float(gap[g])) for g in good]


def _retire_unsupported(*, fit: Fit, by_item: dict[int, tuple[int, float, float, float]]) -> int:
    """Deactivate the value's active promoted gold pairs whose order or gap the new fit no longer supports."""
    retire = []
    promoted = GoldComparison.objects.filter(
        value_id=fit.value_id, source=GoldComparison.Source.PROMOTED, is_active=True
    ).values_list("pk", "stronger_id", "weaker_id")
    for pk, stronger, weaker in promoted:
        if stronger not in by_item or weaker not in by_item:
            continue
        _, u_s, se_s, i_s = by_item[stronger]
        _, u_w, se_w, i_w = by_item[weaker]
        probability = float(order_probability(np.array(u_s), np.array(se_s), np.array(u_w), np.array(se_w)))
        if probability < GOLD_MIN_ORDER_PROBABILITY or i_s - i_w < GOLD_MIN_INTENSITY_GAP:
            retire.append(pk)
    if retire:
        GoldComparison.objects.filter(pk__in=retire).update(is_active=False)
    return len(retire)


# ----- reads for the annotators page and API ------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorReliabilityRow:
    annotator_id: int
    username: str
    is_llm: bool
    n_judgments: int
    reliability: float
    reliability_low: float
    reliability_high: float
    side_bias: float
    side_bias_low: float
    side_bias_high: float
    consensus_tau: float | None
    weight: float
    paused_in: list[str]  # campaigns where the annotator is paused (names)


def value_annotator_estimates(*, fit: Fit, max_weight: float = 2.0) -> list[AnnotatorReliabilityRow]:
    """The fit's annotator estimates with 95 % intervals, least reliable first (those a researcher reviews)."""
    estimates = list(AnnotatorEstimate.objects.filter(fit=fit).select_related("annotator"))
    paused: dict[int, list[str]] = {}
    for annotator_id, name in CampaignMember.objects.filter(
        annotator_id__in=[e.annotator_id for e in estimates],
        state=CampaignMember.State.PAUSED,
        campaign__values=fit.value_id,
    ).values_list("annotator_id", "campaign__name"):
        paused.setdefault(annotator_id, []).append(name)
    models = model_annotator_ids(e.annotator_id for e in estimates)
    rows = [
        AnnotatorReliabilityRow(
            annotator_id=e.annotator_id,
            username=e.annotator.username,
            is_llm=e.annotator_id in models,
            n_judgments=e.n_judgments,
            reliability=e.reliability,
            reliability_low=e.reliability - Z95 * e.reliability_se,
            reliability_high=e.reliability + Z95 * e.reliability_se,
            side_bias=e.side_bias,
            side_bias_low=e.side_bias - Z95 * e.side_bias_se,
            side_bias_high=e.side_bias + Z95 * e.side_bias_se,
            consensus_tau=e.consensus_tau,
            weight=float(np.clip(e.reliability, 0.0, max_weight)),
            paused_in=paused.get(e.annotator_id, []),
        )
        for e in estimates
    ]
    rows.sort(key=lambda row: (row.reliability_high, row.username))
    return rows
