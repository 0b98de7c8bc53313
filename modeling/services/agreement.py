"""Agreement metrics of a value's published fit, stored in `Fit.metrics` (and so in snapshot manifests):

- `split_half`: Spearman–Brown-corrected split-half reliability of the intensities (median of 5 random splits);
- `consensus_tau`: the annotators' Kendall τ with the consensus (each annotator's own τ is on AnnotatorEstimate);
- `intra_annotator`: test–retest consistency over deliberate repeats (Assignment.is_repeat → repeat_of): the share
  of item pairs a repeat orders as the original answer did;
- `llm_human`: each LLM annotator's agreement with the consensus of the human judgments alone;
- `fragility`: whether dropping the 1 % most influential judgments changes the top 10.

The numbers come from modeling/ml/agreement.py on the same judgments (up to the fit's watermark) and the same
reliability weights as the fit. Computing them refits the data about a dozen times, so they run as a debounced job
after publication (`modeling.fit_metrics`, scheduled by reliability.fit_after_publish), not inside the refit.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from common.exceptions import ApplicationError
from common.jobs import JobContext
from labeling.fit_data import value_comparisons
from labeling.models import Judgment
from labeling.services.quality import answers_agreement
from modeling.ml import agreement as ml_agreement
from modeling.ml.reliability import DEFAULT_MAX_WEIGHT, AnnotatorLayout
from modeling.models import AnnotatorEstimate, Fit, ItemScore, PublishedFit
from modeling.selectors import model_annotator_ids
from modeling.services import fits as fit_services
from modeling.services.reliability import fit_metrics_merge

SPLITS = 5
FRAGILITY_TOP = 10
FRAGILITY_DROP_FRACTION = 0.01


def fit_metrics_compute(*, fit: Fit) -> dict[str, Any]:
    """Compute the agreement metrics of `fit` and merge them into `fit.metrics`; returns what was computed."""
    started = time.perf_counter()
    config = fit.config or {}
    data = value_comparisons(
        value_id=fit.value_id,
        neither_weight=float(config.get("neither_weight", fit_services.DEFAULT_NEITHER_WEIGHT)),
        watermark=fit.watermark,
    )
    comparisons, sources = fit_services._comparison_data(data)
    metrics: dict[str, Any] = {
        "intra_annotator": intra_annotator_consistency(value_id=fit.value_id, watermark=fit.watermark)
    }
    if comparisons is None:
        fit_metrics_merge(fit_id=fit.pk, metrics=metrics)
        return metrics
    utilities = np.zeros(data.n_items)
    for pool_item_id, utility in ItemScore.objects.filter(fit=fit).values_list("pool_item_id", "utility"):
        index = data.index_of.get(pool_item_id)
        if index is not None:
            utilities[index] = utility
    user_ids, annotator_index = np.unique(sources[0], return_inverse=True)
    judgment_weight = np.zeros(comparisons.n_judgments)
    judgment_weight[comparisons.stage_judgment] = comparisons.stage_weight
    fixed_weight = judgment_weight > 1.0
    layout = AnnotatorLayout(
        judgment_annotator=annotator_index.astype(np.int64),
        judgment_first=sources[1],
        n_annotators=int(user_ids.size),
        fixed_weight=fixed_weight,
    )
    # the fit's own reliability weights (the reported reliability is already relative to the median annotator)
    estimates = dict(AnnotatorEstimate.objects.filter(fit=fit).values_list("annotator_id", "reliability"))
    factor = np.array([np.clip(estimates.get(int(u), 1.0), 0.0, DEFAULT_MAX_WEIGHT) for u in user_ids])
    per_judgment = np.where(fixed_weight, 1.0, factor[layout.judgment_annotator])
    weighted = replace(comparisons, stage_weight=comparisons.stage_weight * per_judgment[comparisons.stage_judgment])
    engine = config.get("engine", {})
    # choix_max_items=0: the O(m) backends, which reach the same optimum without choix's dense matrices
    fit_kwargs: dict[str, Any] = {
        "prior_strength": float(config.get("prior_strength", 1.0)), "tol": float(config.get("tol", 1e-3)),
        "choix_max_items": 0,
    }
    metrics["split_half"] = ml_agreement.split_half_reliability(weighted, n_splits=SPLITS, seed=fit.pk, **fit_kwargs)
    tie_parameters = {int(k): float(v) for k, v in (engine.get("tie_parameters") or {}).items()}
    metrics["fragility"] = ml_agreement.fragility(
        weighted, utilities, tie_parameters=tie_parameters, top=FRAGILITY_TOP,
        drop_fraction=FRAGILITY_DROP_FRACTION, **fit_kwargs,
    )
    taus = [
        tau for tau in AnnotatorEstimate.objects.filter(fit=fit).values_list("consensus_tau", flat=True)
        if tau is not None
    ]
    metrics["consensus_tau"] = (
        {"median": float(np.median(taus)), "min": float(min(taus)), "annotators": len(taus)} if taus else None
    )
    usernames = _usernames(user_ids)
    models = model_annotator_ids(user_ids)
    is_llm = np.array([int(u) in models for u in user_ids], dtype=bool)
    llm = ml_agreement.llm_human_agreement(weighted, layout, is_llm, **fit_kwargs)
    if llm is not None:
        llm["annotators"] = {
            usernames[int(user_ids[a])]: figures for a, figures in llm["annotators"].items()
        }
    metrics["llm_human"] = llm
    metrics["metrics_seconds"] = round(time.perf_counter() - started, 3)
    fit_metrics_merge(fit_id=fit.pk, metrics=metrics)
    return metrics


def _usernames(user_ids: np.ndarray) -> dict[int, str]:
    from accounts.models import User

    return dict(User.objects.filter(pk__in=[int(u) for u in user_ids]).values_list("pk", "username"))


def intra_annotator_consistency(*, value_id: int, watermark: int) -> dict[str, Any] | None:
    """Test–retest: for every deliberate repeat judged up to the watermark whose original answer still stands, the
    share of item pairs both answers order the same way (">", "<" or "="). None without repeats."""
    repeats = list(
        Judgment.objects.filter(
            value_id=value_id, id__lte=watermark, retraction__isnull=True,
            assignment__is_repeat=True, assignment__repeat_of__isnull=False,
        ).values_list("annotator_id", "ordering", "kind", "shown_order", "assignment__repeat_of_id")
    )
    if not repeats:
        return None
    originals = {
        assignment_id: (ordering, kind)
        for assignment_id, ordering, kind in Judgment.objects.filter(
            assignment_id__in=[row[4] for row in repeats], retraction__isnull=True
        ).values_list("assignment_id", "ordering", "kind")
    }
    per_annotator: dict[int, list[float]] = {}
    for annotator_id, ordering, kind, shown, original_id in repeats:
        if original_id not in originals:
            continue
        agreement = answers_agreement((ordering, kind), originals[original_id], shown)
        if agreement is not None:
            per_annotator.setdefault(annotator_id, []).append(agreement)
    scores = [score for values in per_annotator.values() for score in values]
    if not scores:
        return None
    return {
        "repeats": len(scores),
        "agreement": float(np.mean(scores)),
        "annotators": len(per_annotator),
        "per_annotator": {
            str(a): {"repeats": len(v), "agreement": float(np.mean(v))} for a, v in per_annotator.items()
        },
    }


def fit_metrics_job(context: JobContext) -> dict[str, Any]:
    """Job handler for kind "modeling.fit_metrics" (params: value_id): the metrics of the value's published fit at
    the time the job runs, so a debounced job always serves the newest publication."""
    try:
        value_id = int(context.params["value_id"])
    except (KeyError, TypeError, ValueError):
        raise ApplicationError(
            "An agreement-metrics job needs an integer value_id.", extra={"params": context.params}
        ) from None
    pointer = PublishedFit.objects.filter(value_id=value_id).select_related("fit").first()
    if pointer is None:
        raise ApplicationError(f"Value {value_id} has no published fit to measure.", extra={"value_id": value_id})
    context.report(0.1, f"Agreement metrics of fit #{pointer.fit_id}…")
    metrics = fit_metrics_compute(fit=pointer.fit)
    split_half = metrics.get("split_half") or {}
    fragility = metrics.get("fragility") or {}
    return {
        "fit_id": pointer.fit_id,
        "split_half_reliability": split_half.get("reliability"),
        "top_changed": fragility.get("top_changed"),
        "seconds": metrics.get("metrics_seconds"),
    }
