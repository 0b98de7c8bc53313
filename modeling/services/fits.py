"""Live refits of one value's intensities: run a Plackett–Luce fit, store it, publish it atomically, and schedule
refits (debounced after new judgments, on a researcher's request, and by a periodic catch-up).

The life of a refit:

1. `fit_value` creates a RUNNING `Fit` row first (committed on its own), so a worker killed at any later point
   leaves evidence and never a half-published fit.
2. It reads the value's judgments up to a *watermark* (the newest judgment id at read time) through
   `labeling.fit_data`, warm-starts from the published fit's utilities (matched by PoolItem id, so items added
   since start at 0), fits (choix up to 2,000 items, the O(m) fitters above) with every annotator's reliability
   and side bias estimated alongside and judgments weighted by them (modeling/services/reliability.py), maps
   utilities onto [−10, 10] and writes the `ItemScore` and `AnnotatorEstimate` rows.
3. `fit_publish` then, in ONE transaction holding the value's `PublishedFit` row lock, points the value at the new
   fit and copies the scores onto the pool items — but only if the new fit read newer data than the published
   one, so a slow refit that finishes late never replaces a newer publication. A published fit then drives
   quality control (auto-pause, gold promotion) and schedules its agreement metrics (`fit_after_publish`).

Judgments are never touched here, so a crash loses none: the next refit (the debounced request, the catch-up beat
task, or the job reaper's retry) reads them all again.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from common.services import job_create
from labeling.fit_data import ValueComparisons, fit_judgments, value_comparisons
from labeling.models import Judgment, PoolItem, Value
from modeling.models import Fit, ItemScore, PublishedFit
from modeling.services.reliability import (
    ValueReliabilityFit,
    annotator_estimates_store,
    fit_after_publish,
    reliability_fit,
)

logger = logging.getLogger(__name__)

FIT_JOB_KIND = "modeling.fit_value"
REFIT_QUEUE = "refit"

# A "neither text expresses the value" answer tells us both texts sit near the neutral end, but the annotator did
# not weigh one against the other as they do when they press "tie"; counting it as a full tie would let a crowd of
# such answers pull a mildly opposing text and a neutral one together as hard as deliberate ties. Half weight keeps
# the information without that pull.
DEFAULT_NEITHER_WEIGHT = 0.5
# Pseudo-comparisons per item against the phantom item of utility 0 (the prior that lets early, disconnected data
# fit). Measured with `benchmark accuracy` (1,000 texts, 15 pairwise judgments each): strength 1.0 pulled extreme
# texts toward neutral so far that the 95 % intervals covered the truth for only 81.5 % of texts; 0.3 covers 96 %
# with the same Spearman (0.945). See docs/benchmarks.md.
PRIOR_STRENGTH = 0.3
FIT_TOLERANCE = 1e-3
CHOIX_MAX_ITEMS = 2000
WRITE_BATCH = 5000
# After a refit publishes, newer judgments that arrived meanwhile are picked up by a follow-up request this soon.
FOLLOW_UP_DELAY_S = 2.0


def refit_dedupe_key(value_id: int) -> str:
    return f"refit:value:{value_id}"


# ----- the fit ------------------------------------------------------------------------------------------------------


def fit_value(
    *, value_id: int, job_context: JobContext | None = None, neither_weight: float = DEFAULT_NEITHER_WEIGHT
) -> Fit:
    """Refit one value from all its non-retracted judgments and publish the result if it is the newest.

    Returns the new Fit (SUCCEEDED, published or not). On any error the Fit is marked FAILED with the reason and the
    error is raised again; the previously published fit stays published.
    """
    value = Value.objects.filter(pk=value_id).first()
    if value is None:
        raise ApplicationError(f"Cannot refit value {value_id}: no such value.", extra={"value_id": value_id})
    report = job_context.report if job_context is not None else (lambda progress, message="": None)
    _abandon_dead_fits(value_id, job_id=job_context.job_id if job_context is not None else None)
    published = PublishedFit.objects.filter(value_id=value_id).select_related("fit").first()
    fit = Fit.objects.create(
        value=value,
        status=Fit.Status.RUNNING,
        job_id=job_context.job_id if job_context is not None else None,
        warm_started_from=published.fit if published is not None else None,
        config={
            "neither_weight": neither_weight,
            "prior_strength": PRIOR_STRENGTH,
            "tol": FIT_TOLERANCE,
            "choix_max_items": CHOIX_MAX_ITEMS,
            "backend_requested": "auto",
            "ties": "Davidson–Luce groups; tie parameters estimated per tied-group size",
        },
    )
    try:
        report(0.05, f"Reading the judgments of {value.qualified_key}…")
        started = time.perf_counter()
        data = value_comparisons(value_id=value_id, neither_weight=neither_weight)
        read_seconds = time.perf_counter() - started
        report(0.3, f"Fitting {data.n_items} items from {data.n_judgments} judgments…")
        scores = _fit_scores(data, warm_start=_published_utilities(published, data))
        report(0.7, "Writing item scores…")
        _store_scores(fit=fit, data=data, scores=scores, read_seconds=read_seconds)
        if scores.annotators is not None:
            annotator_estimates_store(fit=fit, fitted=scores.annotators)
        report(0.9, "Publishing…")
        published_now = fit_publish(fit=fit)
    except Exception as exc:
        Fit.objects.filter(pk=fit.pk).update(
            status=Fit.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000], finished_at=timezone.now()
        )
        raise
    fit.refresh_from_db()
    if published_now:
        _after_publish(value_id=value_id)
        # quality control on the new consensus: auto-pause, gold promotion, agreement metrics (modeling/services/
        # reliability.py); a failure there is logged and never undoes the published fit
        fit_after_publish(fit=fit)
    _follow_up_if_behind(value_id=value_id, watermark=fit.watermark)
    logger.info(
        "refit of %s: fit %s, watermark %s, %s judgments, %s, published=%s",
        value.qualified_key, fit.pk, fit.watermark, fit.n_judgments, fit.backend, published_now,
    )
    return fit


def fit_value_job(context: JobContext) -> dict[str, Any]:
    """Job handler for kind "modeling.fit_value" (params: value_id, optional neither_weight)."""
    params = context.params
    try:
        value_id = int(params["value_id"])
    except (KeyError, TypeError, ValueError):
        raise ApplicationError("A refit job needs an integer value_id parameter.", extra={"params": params}) from None
    neither_weight = float(params.get("neither_weight", DEFAULT_NEITHER_WEIGHT))
    fit = fit_value(value_id=value_id, job_context=context, neither_weight=neither_weight)
    return {
        "fit_id": fit.pk,
        "value_id": value_id,
        "published": PublishedFit.objects.filter(value_id=value_id, fit_id=fit.pk).exists(),
        "watermark": fit.watermark,
        "n_items": fit.n_items,
        "n_judgments": fit.n_judgments,
        "backend": fit.backend,
        "seconds": fit.seconds,
    }


@dataclass(frozen=True)
class _Scores:
    utilities: np.ndarray
    se: np.ndarray
    intensity: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    engine: dict[str, Any]
    scale: dict[str, Any]
    annotators: ValueReliabilityFit | None = None  # reliabilities and side biases estimated with the utilities


def _published_utilities(published: PublishedFit | None, data: ValueComparisons) -> np.ndarray | None:
    """The published fit's utilities in this read's dense order (0 for items it did not score), for a warm start."""
    if published is None:
        return None
    init = np.zeros(data.n_items)
    published_scores = ItemScore.objects.filter(fit_id=published.fit_id)
    for pool_item_id, utility in published_scores.values_list("pool_item_id", "utility"):
        index = data.index_of.get(pool_item_id)
        if index is not None:
            init[index] = utility
    return init


def _comparison_data(data: ValueComparisons):  # type: ignore[no-untyped-def]
    """Engine-shaped data: pairs (vectorised) and longer orderings in one block per protocol tie allowance, plus
    the best–worst tuples; (None, None) without any judgment. Beside the data, per judgment in the engine's order:
    (annotator user ids, dense index of the text shown first), for the annotators' reliability and side bias."""
    from modeling.ml.plackett_luce import ComparisonData

    parts = []
    annotators, first_shown = [], []
    for ties_allowed in (False, True):
        rows = np.flatnonzero(data.pair_ties_allowed == ties_allowed)
        if rows.size:
            annotators.append(data.pair_annotators[rows])
            first_shown.append(data.pair_first_shown[rows])
            parts.append(
                ComparisonData.from_pairs(
                    data.n_items,
                    data.pair_first[rows],
                    data.pair_second[rows],
                    tied=data.pair_tied[rows],
                    weights=data.pair_weights[rows],
                    ties_allowed=ties_allowed,
                )
            )
    for tie_size in np.unique(data.max_tie_sizes):
        rows = np.flatnonzero(data.max_tie_sizes == tie_size)
        annotators.append(data.ordering_annotators[rows])
        first_shown.append(data.ordering_first_shown[rows])
        parts.append(
            ComparisonData.from_orderings(
                data.n_items, [data.orderings[r] for r in rows], data.weights[rows], max_tie_size=int(tie_size)
            )
        )
    if data.best_worst:
        parts.append(ComparisonData.from_best_worst(data.n_items, data.best_worst, data.best_worst_weights))
        annotators.append(data.best_worst_annotators)
        first_shown.append(data.best_worst_first_shown)
    if not parts:
        return None, None
    comparisons = parts[0] if len(parts) == 1 else ComparisonData.concat(*parts)
    return comparisons, (np.concatenate(annotators), np.concatenate(first_shown))


def _fit_scores(data: ValueComparisons, *, warm_start: np.ndarray | None) -> _Scores:
    from modeling.ml.plackett_luce.likelihood import prior_information

    comparisons, sources = _comparison_data(data)
    annotators = None
    if comparisons is None:
        # Nothing judged yet: every item sits at the prior, utility 0 with the prior's standard error.
        utilities = np.zeros(data.n_items)
        se = 1.0 / np.sqrt(prior_information(utilities, PRIOR_STRENGTH))
        engine: dict[str, Any] = {
            "backend": "prior",
            "backend_reason": "no judgments yet: every item scored from the prior alone",
            "log_likelihood": 0.0,
            "iterations": 0,
            "converged": True,
            "seconds": 0.0,
        }
    else:
        # The intensities and every annotator's reliability and side bias, estimated together; judgments are
        # weighted by their annotator's reliability (modeling/ml/reliability.py).
        annotators = reliability_fit(
            comparisons,
            value_id=data.value_id,
            annotator_ids=sources[0],
            first_shown=sources[1],
            init=warm_start,
            backend="auto",
            prior_strength=PRIOR_STRENGTH,
            tol=FIT_TOLERANCE,
            choix_max_items=CHOIX_MAX_ITEMS,
        )
        result = annotators.fitted.result
        utilities, se, engine = result.utilities, result.se, result.summary()
        engine["reliability"] = annotators.fitted.summary()
    scale = _intensity_scale(data, utilities)
    ci_low, ci_high = scale.interval(utilities, se)
    scale_params = scale.to_dict()
    scale_params["n_anchors"] = int(_anchor_mask(data).sum()) if scale.method == "anchors" else 0
    return _Scores(utilities, se, scale.intensity(utilities), ci_low, ci_high, engine, scale_params, annotators)


def _anchor_mask(data: ValueComparisons) -> np.ndarray:
    """Items whose imported intensity anchors the scale: a prior intensity AND at least one judgment (an unjudged
    item sits at utility 0 whatever its rating, so it would only blur the map)."""
    return np.isfinite(data.prior_intensities) & (data.item_judgment_counts > 0)


def _intensity_scale(data: ValueComparisons, utilities: np.ndarray):  # type: ignore[no-untyped-def]
    """Imported ratings (PoolItem.prior_intensity) calibrate the utility → intensity map; they do not fix any
    utility. Holding them fixed would let one noisy import override what the crowd's rankings say about the order;
    as anchors of the map they only set the scale, and the crowd still decides the order. Without two usable
    anchors the map is the quantile map centred on the prior's neutral point."""
    from modeling.ml.plackett_luce import IntensityScale

    anchors = _anchor_mask(data)
    if anchors.sum() >= 2:
        try:
            return IntensityScale.from_anchors(utilities[anchors], data.prior_intensities[anchors])
        except ValueError as exc:
            # Imported ratings that run against the crowd's order cannot calibrate it; say so in the logs.
            logger.warning("value %s: anchors unusable (%s); using the quantile scale", data.value_id, exc)
    return IntensityScale.from_quantiles(utilities)


def _store_scores(*, fit: Fit, data: ValueComparisons, scores: _Scores, read_seconds: float) -> None:
    """Write the ItemScores in batches, then mark the fit SUCCEEDED with its facts."""
    counts = data.item_judgment_counts
    ItemScore.objects.bulk_create(
        (
            ItemScore(
                fit_id=fit.pk,
                pool_item_id=int(data.item_ids[i]),
                utility=float(scores.utilities[i]),
                se=float(scores.se[i]),
                intensity=float(scores.intensity[i]),
                ci_low=float(scores.ci_low[i]),
                ci_high=float(scores.ci_high[i]),
                n_judgments=int(counts[i]),
            )
            for i in range(data.n_items)
        ),
        batch_size=WRITE_BATCH,
    )
    widths = scores.ci_high - scores.ci_low
    judged = counts > 0
    config = dict(fit.config)
    config["engine"] = scores.engine
    # Summaries of the outputs, kept with the fit so the dashboard's history needs no pass over the item scores.
    config["summary"] = {
        "median_ci_width": float(np.median(widths[judged])) if judged.any() else None,
        "median_ci_width_all": float(np.median(widths)) if widths.size else None,
        "n_judged_items": int(judged.sum()),
        "n_unjudged_items": int((~judged).sum()),
        "n_dropped_judgments": data.n_dropped,
        "read_seconds": round(read_seconds, 4),
    }
    Fit.objects.filter(pk=fit.pk).update(
        status=Fit.Status.SUCCEEDED,
        backend=str(scores.engine["backend"]),
        config=config,
        watermark=data.watermark,
        n_items=data.n_items,
        n_judgments=data.n_judgments,
        log_likelihood=float(scores.engine["log_likelihood"]),
        iterations=int(scores.engine["iterations"]),
        converged=bool(scores.engine["converged"]),
        seconds=float(scores.engine["seconds"]),
        scale=scores.scale,
        finished_at=timezone.now(),
    )


def _abandon_dead_fits(value_id: int, *, job_id: int | None) -> None:
    """Mark as FAILED the RUNNING fits of this value that will never finish: an earlier attempt of this same job
    (its worker died and the job reaper handed the job out again), or any fit older than the reaper's stale limit
    (one refit job per value runs at a time, so an old RUNNING fit has lost its worker)."""
    cutoff = timezone.now() - timedelta(seconds=settings.VALUEFLOW_JOB_STALE_AFTER_S)
    dead = Q(created_at__lt=cutoff) | Q(job_id=job_id) if job_id is not None else Q(created_at__lt=cutoff)
    Fit.objects.filter(dead, value_id=value_id, status=Fit.Status.RUNNING).update(
        status=Fit.Status.FAILED,
        error="The worker running this fit stopped before it finished; a later refit replaced it.",
        finished_at=timezone.now(),
    )


# ----- publishing ---------------------------------------------------------------------------------------------------


def fit_publish(*, fit: Fit) -> bool:
    """Make `fit` the value's published fit and copy its scores onto the pool items, in one transaction.

    Publishes only a SUCCEEDED fit that read newer data than the published one: a higher watermark, or the same
    watermark read later (a later read sees the same judgments and any retractions since). Returns whether it
    published. Readers see either the old fit everywhere or the new one everywhere.
    """
    if fit.status != Fit.Status.SUCCEEDED:
        fit.refresh_from_db(fields=["status", "watermark"])
        if fit.status != Fit.Status.SUCCEEDED:
            raise ApplicationError(
                f"Fit {fit.pk} is {fit.status}; only a succeeded fit can be published.", extra={"fit_id": fit.pk}
            )
    with transaction.atomic():
        pointer, created = PublishedFit.objects.select_for_update().get_or_create(
            value_id=fit.value_id, defaults={"fit": fit}
        )
        if not created:
            current = Fit.objects.filter(pk=pointer.fit_id).values_list("watermark", flat=True).first() or 0
            if (fit.watermark, fit.pk) <= (current, pointer.fit_id):
                logger.info(
                    "fit %s not published: fit %s (watermark %s) is as new or newer", fit.pk, pointer.fit_id, current
                )
                return False
            pointer.fit = fit
            pointer.save(update_fields=["fit", "published_at"])
        _do_copy_scores_to_pool(fit)
    return True


def _do_copy_scores_to_pool(fit: Fit) -> None:
    """Call while holding the value's PublishedFit lock, inside the publishing transaction.

    One UPDATE with a correlated lookup per column (each an index probe on ItemScore's unique (fit, pool_item)) is
    linear in the pool; `bulk_update` builds a CASE with one branch per row, which PostgreSQL evaluates row by row
    (2,000 items took seconds under the lock)."""
    score = ItemScore.objects.filter(fit_id=fit.pk, pool_item_id=OuterRef("pk"))
    PoolItem.objects.filter(pk__in=ItemScore.objects.filter(fit_id=fit.pk).values("pool_item_id")).update(
        intensity=Subquery(score.values("intensity")[:1]),
        ci_low=Subquery(score.values("ci_low")[:1]),
        ci_high=Subquery(score.values("ci_high")[:1]),
        utility=Subquery(score.values("utility")[:1]),
        utility_se=Subquery(score.values("se")[:1]),
        published_fit_id=fit.pk,
    )


# ----- scheduling ---------------------------------------------------------------------------------------------------


def refit_request(*, value_id: int) -> Job | None:
    """Debounced refit after new judgments (sent by labeling, throttled there to one per value per second).

    With at least VALUEFLOW_REFIT_AFTER_JUDGMENTS judgments newer than the published watermark, the refit starts
    now; with fewer, in VALUEFLOW_REFIT_AFTER_SECONDS, so a burst of judgments costs one refit. One refit job per
    value is pending or running at a time (the dedupe key), so repeated requests are harmless. Returns None when
    the published fit already covers every judgment (nothing new, nothing retracted).
    """
    if not Value.objects.filter(pk=value_id).exists():
        raise ApplicationError(f"Cannot refit value {value_id}: no such value.", extra={"value_id": value_id})
    published = Fit.objects.filter(pk__in=PublishedFit.objects.filter(value_id=value_id).values("fit_id")).first()
    watermark = published.watermark if published is not None else 0
    threshold = settings.VALUEFLOW_REFIT_AFTER_JUDGMENTS
    new = Judgment.objects.filter(value_id=value_id, id__gt=watermark)[:threshold].count()
    if new == 0 and (published is None or _covers_all_judgments(published)):
        return None
    countdown = 0.0 if new >= threshold else float(settings.VALUEFLOW_REFIT_AFTER_SECONDS)
    return _refit_schedule(value_id=value_id, countdown_s=countdown)


def refit_now(*, value: Value, requested_by: Any) -> Job:
    """A researcher's "Refit now": start (or hurry) the value's refit job."""
    return _refit_schedule(value_id=value.pk, countdown_s=0.0, requested_by=requested_by)


def refits_catch_up() -> list[int]:
    """The periodic safety net: request an immediate refit of every value whose published fit misses judgments —
    newer ones (a refit lost with its worker, or never requested), late-committed ones, or retractions since.
    Returns the ids of the values it requested."""
    published = {
        value_id: (watermark, n_judgments)
        for value_id, watermark, n_judgments in PublishedFit.objects.values_list(
            "value_id", "fit__watermark", "fit__n_judgments"
        )
    }
    stale = []
    rows = Judgment.objects.values("value_id").annotate(
        latest=Max("id"), included=Count("id", filter=Q(retraction__isnull=True, is_quality_check=False))
    )
    for row in rows.order_by("value_id"):
        watermark, n_judgments = published.get(row["value_id"], (0, 0))
        # When nothing is newer than the watermark, every judgment was readable at the fit: any difference in the
        # count is a judgment committed late below the watermark, or a retraction.
        if row["latest"] > watermark or row["included"] != n_judgments:
            stale.append(row["value_id"])
    for value_id in stale:
        _refit_schedule(value_id=value_id, countdown_s=0.0)
    return stale


def _covers_all_judgments(fit: Fit) -> bool:
    included = fit_judgments(value_id=fit.value_id).filter(id__lte=fit.watermark).count()
    return included == fit.n_judgments


def _value_label(value_id: int) -> str:
    row = Value.objects.filter(pk=value_id).values_list("theory__key", "key").first()
    return f"{row[0]}:{row[1]}" if row else f"value {value_id}"


def _refit_schedule(*, value_id: int, countdown_s: float, requested_by: Any = None) -> Job:
    """Create the value's refit job (or find the one already pending or running). A pending job that is waiting
    out its debounce delay is sent again now when the refit is due now; the second delivery finds it finished."""
    key = refit_dedupe_key(value_id)
    waiting = Job.objects.filter(dedupe_key=key, status=Job.Status.PENDING).first()
    job = job_create(
        kind=FIT_JOB_KIND,
        params={"value_id": value_id},
        created_by=requested_by,
        title=f"Refit {_value_label(value_id)}",
        queue=REFIT_QUEUE,
        dedupe_key=key,
        countdown_s=countdown_s,
    )
    if waiting is not None and waiting.pk == job.pk and countdown_s == 0:
        from common.tasks import job_run

        job_id = job.pk
        transaction.on_commit(lambda: job_run.apply_async(args=(job_id,), queue=REFIT_QUEUE))
    return job


def _after_publish(*, value_id: int) -> None:
    """New intervals may have reached campaigns' stopping targets: ask labeling to retire those items now rather
    than at its next periodic sweep."""
    from labeling.tasks import campaign_items_apply_stopping

    _send_on_commit(
        lambda: campaign_items_apply_stopping.apply_async(kwargs={"value_id": value_id}),
        what=f"the stopping sweep for value {value_id}",
    )


def _follow_up_if_behind(*, value_id: int, watermark: int) -> None:
    """Judgments that arrived while this refit ran found its job already running and were not scheduled again:
    ask for another refit once this job has finished."""
    if not Judgment.objects.filter(value_id=value_id, id__gt=watermark).exists():
        return
    from modeling.tasks import refit_request as refit_request_task

    _send_on_commit(
        lambda: refit_request_task.apply_async(kwargs={"value_id": value_id}, countdown=FOLLOW_UP_DELAY_S),
        what=f"a follow-up refit of value {value_id}",
    )


def _send_on_commit(send, *, what: str) -> None:  # type: ignore[no-untyped-def]
    """Send a task after commit. The fit is already stored and published, so an unreachable broker must not fail
    the refit: the periodic tasks (catch-up, stopping sweep) do the same work a little later."""

    def guarded() -> None:
        try:
            send()
        except Exception:  # noqa: BLE001 - see the docstring
            logger.warning("could not send %s; the periodic task will cover it", what, exc_info=True)

    transaction.on_commit(guarded)
