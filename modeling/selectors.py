"""Reads of the modeling side (fits, snapshots) and platform-wide statistics."""

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from accounts.models import User
from common.models import Job
from labeling.models import Campaign, Judgment, PoolItem, Value
from labeling.selectors import platform_counts
from modeling.models import Fit, ItemScore, ModelBackend, PublishedFit, Snapshot

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class PublishedJudgments(TypedDict):
    n_judgments: int | None


def platform_stats() -> dict[str, int]:
    """Counts printed by `manage.py stats`; keys are stable so scripts may parse them."""
    return {
        **platform_counts(),
        "judgments": Judgment.objects.count(),
        "fits": Fit.objects.filter(status=Fit.Status.SUCCEEDED).count(),
        "snapshots": Snapshot.objects.count(),
    }


# --- live refit: what the intensity dashboard and the fits API read -------------------------------------------------


@dataclass(frozen=True)
class ValueFitOverview:
    """One row of the intensity dashboard: a value with texts or judgments, and the state of its published fit."""

    value: Value
    n_items: int
    n_judgments: int  # non-retracted
    published_fit: Fit | None
    published_at: datetime | None
    median_ci_width: float | None  # over the items with judgments, in intensity points
    campaign_running: bool

    @property
    def judgments_since_fit(self) -> int:
        return max(0, self.n_judgments - (self.published_fit.n_judgments if self.published_fit else 0))


def value_fit_overview() -> list[ValueFitOverview]:
    """Every value that has pool items or judgments, in taxonomy order — five queries whatever the number of values."""
    items = dict(PoolItem.objects.order_by().values("value_id").annotate(n=Count("id")).values_list("value_id", "n"))
    judgments = dict(
        Judgment.objects.filter(retraction__isnull=True)
        .order_by()
        .values("value_id")
        .annotate(n=Count("id"))
        .values_list("value_id", "n")
    )
    running = set(
        Campaign.values.through.objects.filter(campaign__status=Campaign.Status.RUNNING).values_list(
            "value_id", flat=True
        )
    )
    values = Value.objects.filter(pk__in=set(items) | set(judgments)).select_related("theory")
    published = {
        pointer.value_id: pointer
        for pointer in PublishedFit.objects.filter(value_id__in=set(items) | set(judgments)).select_related("fit")
    }
    rows = []
    for value in values.order_by("theory__order", "theory__key", "level", "order", "key"):
        pointer = published.get(value.pk)
        fit = pointer.fit if pointer is not None else None
        rows.append(
            ValueFitOverview(
                value=value,
                n_items=items.get(value.pk, 0),
                n_judgments=judgments.get(value.pk, 0),
                published_fit=fit,
                published_at=pointer.published_at if pointer is not None else None,
                median_ci_width=fit_median_ci_width(fit) if fit is not None else None,
                campaign_running=value.pk in running,
            )
        )
    return rows


def fit_median_ci_width(fit: Fit) -> float | None:
    """Median width of the 95 % intervals of the items the fit had judgments for (stored with the fit)."""
    return (fit.config or {}).get("summary", {}).get("median_ci_width")


def value_by_keys(*, theory_key: str, value_key: str) -> Value | None:
    return Value.objects.select_related("theory").filter(theory__key=theory_key, key=value_key).first()


def value_published_pointer(*, value: Value) -> PublishedFit | None:
    return PublishedFit.objects.select_related("fit").filter(value=value).first()


def value_has_running_campaign(*, value: Value) -> bool:
    return Campaign.objects.filter(values=value, status=Campaign.Status.RUNNING).exists()


def value_ranked_items(*, value: Value, query: str = "") -> "QuerySet[WithAnnotations[PoolItem, PublishedJudgments]]":
    """The value's pool, strongest published intensity first (unscored items last), with each item's judgment count
    in the published fit (`n_judgments`; None when the fit does not cover the item)."""
    in_published_fit = ItemScore.objects.filter(
        fit_id=OuterRef("published_fit_id"), pool_item_id=OuterRef("pk")
    ).values("n_judgments")[:1]
    items = (
        PoolItem.objects.filter(value=value)
        .select_related("text")
        .annotate(n_judgments=Subquery(in_published_fit))
        .order_by(F("intensity").desc(nulls_last=True), "id")
    )
    if query.strip():
        items = items.filter(text__content__icontains=query.strip())
    return items


def value_intensity_histogram(*, value: Value, bins: int = 20) -> tuple[list[int], list[float]]:
    """(counts, bin edges) of the published intensities of the value's pool over [−10, 10]."""
    intensities = np.fromiter(
        (v for v in PoolItem.objects.filter(value=value, intensity__isnull=False).values_list("intensity", flat=True)),
        dtype=float,
    )
    counts, edges = np.histogram(intensities, bins=bins, range=(-10.0, 10.0))
    return counts.tolist(), edges.tolist()


def value_fit_history(*, value: Value, limit: int = 200) -> list[Fit]:
    """The value's latest `limit` fits of any status, oldest first."""
    fits = list(Fit.objects.filter(value=value).order_by("-id")[:limit])
    fits.reverse()
    return fits


def value_active_refit_job(*, value: Value) -> Job | None:
    """The value's refit job that is waiting or running, if any."""
    from modeling.services.fits import refit_dedupe_key

    return Job.objects.filter(dedupe_key=refit_dedupe_key(value.pk), status__in=Job.ACTIVE_STATUSES).first()


def value_fit_list(*, value: Value) -> QuerySet[Fit]:
    """The value's fits, newest first (the fits API pages through it)."""
    return Fit.objects.filter(value=value).order_by("-id")


@dataclass(frozen=True)
class AnnotatorAgreement:
    """How one annotator's answers on one value compare with the consensus (the published fit)."""

    annotator_id: int
    username: str
    n_judgments: int
    median_latency_ms: float | None
    n_pairs: int  # strict pairwise preferences implied by their answers, among items the published fit scored
    agreement: float | None  # share of those pairs ordered as the published utilities order them (ties: half)

    @property
    def median_latency_s(self) -> float | None:
        return None if self.median_latency_ms is None else self.median_latency_ms / 1000

    @property
    def agreement_percent(self) -> float | None:
        return None if self.agreement is None else 100 * self.agreement


ANNOTATOR_TABLE_CACHE_S = 600


def value_annotator_agreement(*, value: Value) -> list[AnnotatorAgreement]:
    """Per annotator of the value, as of the published fit (the judgments it read): judgments, median latency and
    agreement with it, busiest first.

    Every ranking implies pairwise preferences (best over all below it; for best–worst, best over the others and
    the others over worst); agreement is the share of them the published utilities order the same way. The table
    reads every judgment of the value, so it is cached per published fit; before the first fit it has judgment
    counts only."""
    from django.core.cache import cache

    from labeling.fit_data import value_annotator_preferences, value_latest_judgment_id

    pointer = PublishedFit.objects.filter(value=value).values_list("fit_id", "published_at", "fit__watermark").first()
    if pointer is not None:
        fit_id, published_at, watermark = pointer
        key = f"modeling:annotator-agreement:{value.pk}:{fit_id}@{published_at.timestamp()}"
    else:
        watermark = None
        key = f"modeling:annotator-agreement:{value.pk}:unfitted:{value_latest_judgment_id(value_id=value.pk)}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    preferences = value_annotator_preferences(value_id=value.pk, watermark=watermark)
    scored = list(
        PoolItem.objects.filter(value=value, utility__isnull=False).order_by("id").values_list("id", "utility")
    )
    scored_ids = np.array([row[0] for row in scored], dtype=np.int64)
    utilities = np.array([row[1] for row in scored], dtype=float)

    annotators, judgment_index = np.unique(preferences.judgment_annotator_ids, return_inverse=True)
    n_judgments = np.bincount(judgment_index, minlength=annotators.size)
    pair_index = np.searchsorted(annotators, preferences.annotator_ids)
    winner_at = _positions(scored_ids, preferences.winner_ids)
    loser_at = _positions(scored_ids, preferences.loser_ids)
    known = (winner_at >= 0) & (loser_at >= 0)
    u_winner, u_loser = utilities[winner_at[known]], utilities[loser_at[known]]
    agree = (u_winner > u_loser) + 0.5 * (u_winner == u_loser)
    n_pairs = np.bincount(pair_index[known], minlength=annotators.size)
    agreeing = np.bincount(pair_index[known], weights=agree, minlength=annotators.size)

    # Each annotator's latencies as one slice of the latencies sorted by annotator.
    by_annotator = np.split(
        preferences.judgment_latencies_ms[np.argsort(judgment_index, kind="stable")], np.cumsum(n_judgments)[:-1]
    )
    names = dict(User.objects.filter(pk__in=annotators.tolist()).values_list("pk", "username"))
    rows = []
    for position, annotator_id in enumerate(annotators.tolist()):
        latencies = by_annotator[position]
        latencies = latencies[np.isfinite(latencies)]
        rows.append(
            AnnotatorAgreement(
                annotator_id=annotator_id,
                username=names.get(annotator_id, f"#{annotator_id}"),
                n_judgments=int(n_judgments[position]),
                median_latency_ms=float(np.median(latencies)) if latencies.size else None,
                n_pairs=int(n_pairs[position]),
                agreement=float(agreeing[position] / n_pairs[position]) if n_pairs[position] else None,
            )
        )
    rows.sort(key=lambda row: (-row.n_judgments, row.username))
    cache.set(key, rows, ANNOTATOR_TABLE_CACHE_S)
    return rows


def _positions(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each wanted id in sorted_ids, −1 where it is absent."""
    if sorted_ids.size == 0:
        return np.full(wanted.shape, -1, dtype=np.int64)
    at = np.searchsorted(sorted_ids, wanted)
    at_clipped = np.minimum(at, sorted_ids.size - 1)
    return np.where(sorted_ids[at_clipped] == wanted, at_clipped, -1)


def model_annotator_ids(user_ids) -> set[int]:  # type: ignore[no-untyped-def]
    """Which of these accounts are model (LLM) annotators: the ones linked to a model backend."""
    return set(
        ModelBackend.objects.filter(annotator_account_id__in=[int(u) for u in user_ids]).values_list(
            "annotator_account_id", flat=True
        )
    )
