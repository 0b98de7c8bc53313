"""The judgments of one value in the shape the intensity engine reads: labeling's public read for modeling.

Pool items become dense indices 0..n-1 (sorted by PoolItem id), judgments become orderings of index groups
(strongest → weakest), and the watermark says which judgments the read covers. Only plain tuples and numpy arrays
come out, read with `values_list` and streamed, so a value with a million judgments costs no ORM objects.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Max

from labeling.models import Campaign, Judgment, PoolItem

Ordering = tuple[tuple[int, ...], ...]
BestWorst = tuple[int, int, tuple[int, ...]]

_READ_CHUNK = 20_000


@dataclass(frozen=True)
class ValueComparisons:
    """Every judgment a fit of one value uses (see `fit_judgments`) with id <= watermark, in dense item indices.

    - `item_ids[i]` is the PoolItem id of index i (all items of the value's pool, judged or not);
      `prior_intensities[i]` is its imported intensity, NaN where the import gave none and for probes (texts
      being measured, such as steered responses, never calibrate the scale).
    - Pairs, the bulk of the data, come as arrays: `pair_first[k]` beat `pair_second[k]`, or tied with it where
      `pair_tied[k]`; `pair_weights[k]`; `pair_ties_allowed[k]` says whether the protocol offered a tie (a strict
      answer where a tie was on offer says less than one where it was not, so the engine must know).
    - `orderings` / `weights` / `max_tie_sizes`: every other ranking (three or more texts), groups best → worst,
      a group of several texts tied; the largest tied group its protocol allowed (1 = no ties).
    - `best_worst` / `best_worst_weights`: best–worst judgments as (best, worst, every item shown); the items
      between best and worst are unordered, so they are kept apart from the tied groups of `orderings`.
    - Weights: a judgment's own weight (1 for crowd answers, more for a researcher's adjudication); a "neither text
      expresses the value" answer is a tie of the texts shown at that weight times `neither_weight`.
    - `item_judgment_counts[i]`: how many included judgments showed item i (0 = no judgments yet).
    - `n_judgments`: judgments read; `n_dropped`: those left out because fewer than two of their items are still
      in the pool (a text removed after it was judged).
    - `pair_annotators` / `ordering_annotators` / `best_worst_annotators`: who gave each pair, ordering and
      best–worst tuple (user ids, aligned with the arrays above), and `*_first_shown`: the dense index of the text
      shown first (on the left), −1 when it left the pool. The fit estimates each annotator's reliability and
      first-position bias from them.
    """

    value_id: int
    watermark: int
    item_ids: np.ndarray
    prior_intensities: np.ndarray
    pair_first: np.ndarray
    pair_second: np.ndarray
    pair_tied: np.ndarray
    pair_weights: np.ndarray
    pair_ties_allowed: np.ndarray
    orderings: list[Ordering]
    weights: np.ndarray
    max_tie_sizes: np.ndarray
    best_worst: list[BestWorst]
    best_worst_weights: np.ndarray
    item_judgment_counts: np.ndarray
    n_judgments: int
    n_dropped: int
    index_of: dict[int, int] = field(repr=False)
    pair_annotators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    pair_first_shown: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    ordering_annotators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    ordering_first_shown: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    best_worst_annotators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    best_worst_first_shown: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_first)


def value_latest_judgment_id(*, value_id: int) -> int:
    """The highest judgment id of the value (retracted or not), 0 when it has none."""
    return Judgment.objects.filter(value_id=value_id).aggregate(top=Max("id"))["top"] or 0


def value_pool_items(*, value_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(PoolItem ids sorted ascending, prior intensities with NaN for none and for probes) of one value's pool."""
    rows = list(
        PoolItem.objects.filter(value_id=value_id).order_by("id").values_list("id", "prior_intensity", "is_probe")
    )
    item_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    priors = np.fromiter(
        (np.nan if row[1] is None or row[2] else row[1] for row in rows), dtype=float, count=len(rows)
    )
    return item_ids, priors


def fit_judgments(*, value_id: int):  # type: ignore[no-untyped-def]
    """The judgments a fit of the value uses: not retracted, and not gold or attention-check answers (those measure
    the annotator and never enter the fit)."""
    return Judgment.objects.filter(value_id=value_id, retraction__isnull=True, is_quality_check=False)


def value_comparisons(*, value_id: int, neither_weight: float = 0.5, watermark: int | None = None) -> ValueComparisons:
    """Read one value's judgments for a fit.

    The watermark defaults to the newest judgment id at read time; a fit built from this read includes exactly the
    included judgments with id <= watermark. A "neither text expresses the value" answer says the texts sit
    together near the neutral end without the annotator weighing one against the other, so it enters as a tie
    of reduced weight (`neither_weight`, 0.5 by default) instead of as a deliberate tie.

    The loop over rows only sorts them by shape; pairs are mapped to indices with one vectorised search, so a
    million pairwise judgments cost little more than decoding their JSON.
    """
    if not 0.0 <= neither_weight <= 1.0:
        raise ValueError(f"neither_weight must lie in [0, 1]; got {neither_weight!r}")
    if watermark is None:
        watermark = value_latest_judgment_id(value_id=value_id)
    item_ids, priors = value_pool_items(value_id=value_id)
    index_of = {int(pool_item_id): index for index, pool_item_id in enumerate(item_ids)}
    tie_size_of_campaign = _campaign_tie_sizes(value_id)

    # Pairs, in PoolItem ids until the vectorised mapping below.
    first: list[int] = []
    second: list[int] = []
    tied: list[bool] = []
    pair_weights: list[float] = []
    pair_tie_sizes: list[int] = []
    orderings: list[Ordering] = []
    weights: list[float] = []
    max_tie_sizes: list[int] = []
    best_worst: list[BestWorst] = []
    best_worst_weights: list[float] = []
    shown: list[int] = []  # item occurrences of the non-pair judgments, for the per-item judgment counts
    # who judged, and the text shown first (PoolItem id), per pair / ordering / best–worst tuple
    pair_annotators: list[int] = []
    pair_first_shown: list[int] = []
    ordering_annotators: list[int] = []
    ordering_first_shown: list[int] = []
    best_worst_annotators: list[int] = []
    best_worst_first_shown: list[int] = []
    n_judgments = n_dropped = 0
    rows = (
        fit_judgments(value_id=value_id)
        .filter(id__lte=watermark)
        .values_list("kind", "ordering", "campaign_id", "weight", "annotator_id", "shown_order__0")
    )
    for kind, raw, campaign_id, weight, annotator_id, shown_first in rows.iterator(chunk_size=_READ_CHUNK):
        n_judgments += 1
        shown_first = shown_first if isinstance(shown_first, int) else -1
        if kind != Judgment.Kind.BEST_WORST:
            if len(raw) == 2 and len(raw[0]) == 1 and len(raw[1]) == 1 and kind == Judgment.Kind.RANKING:
                first.append(raw[0][0])
                second.append(raw[1][0])
                tied.append(False)
                pair_weights.append(weight)
                pair_tie_sizes.append(tie_size_of_campaign.get(campaign_id, 1))
                pair_annotators.append(annotator_id)
                pair_first_shown.append(shown_first)
                continue
            if len(raw) == 1 and len(raw[0]) == 2:
                first.append(raw[0][0])
                second.append(raw[0][1])
                tied.append(True)
                pair_weights.append(weight * neither_weight if kind == Judgment.Kind.NEITHER else weight)
                pair_tie_sizes.append(2)
                pair_annotators.append(annotator_id)
                pair_first_shown.append(shown_first)
                continue
        groups = _dense_groups(raw, index_of)
        items = tuple(index for group in groups for index in group)
        if len(items) < 2:
            n_dropped += 1
            continue
        if kind == Judgment.Kind.BEST_WORST:
            if len(groups) < 2 or len(groups[0]) != 1 or len(groups[-1]) != 1:
                n_dropped += 1  # the best or the worst text left the pool: the answer no longer says anything
                continue
            best_worst.append((groups[0][0], groups[-1][0], items))
            best_worst_weights.append(weight)
            best_worst_annotators.append(annotator_id)
            best_worst_first_shown.append(index_of.get(shown_first, -1))
            shown.extend(items)
            continue
        ordering_annotators.append(annotator_id)
        ordering_first_shown.append(index_of.get(shown_first, -1))
        if kind == Judgment.Kind.NEITHER:
            orderings.append((items,))
            weights.append(weight * neither_weight)
            max_tie_sizes.append(max(len(items), tie_size_of_campaign.get(campaign_id, 1)))
        else:
            orderings.append(groups)
            weights.append(weight)
            # Never below the answer's own largest group, so a tie stored under older campaign settings still fits.
            max_tie_sizes.append(max(max(len(group) for group in groups), tie_size_of_campaign.get(campaign_id, 1)))
        shown.extend(items)

    first_at = _dense_indices(item_ids, np.asarray(first, dtype=np.int64))
    second_at = _dense_indices(item_ids, np.asarray(second, dtype=np.int64))
    in_pool = (first_at >= 0) & (second_at >= 0)
    n_dropped += int((~in_pool).sum())
    first_at, second_at = first_at[in_pool], second_at[in_pool]
    counts = np.bincount(
        np.concatenate([first_at, second_at, np.asarray(shown, dtype=np.int64)]), minlength=len(item_ids)
    )
    pair_first_at = _dense_indices(item_ids, np.asarray(pair_first_shown, dtype=np.int64))[in_pool]
    return ValueComparisons(
        value_id=value_id,
        watermark=int(watermark),
        item_ids=item_ids,
        prior_intensities=priors,
        pair_first=first_at,
        pair_second=second_at,
        pair_tied=np.asarray(tied, dtype=bool)[in_pool],
        pair_weights=np.asarray(pair_weights, dtype=float)[in_pool],
        pair_ties_allowed=np.asarray(pair_tie_sizes, dtype=np.int64)[in_pool] >= 2,
        orderings=orderings,
        weights=np.asarray(weights, dtype=float),
        max_tie_sizes=np.asarray(max_tie_sizes, dtype=np.int64),
        best_worst=best_worst,
        best_worst_weights=np.asarray(best_worst_weights, dtype=float),
        item_judgment_counts=counts.astype(np.int64),
        n_judgments=n_judgments,
        n_dropped=n_dropped,
        index_of=index_of,
        pair_annotators=np.asarray(pair_annotators, dtype=np.int64)[in_pool],
        pair_first_shown=pair_first_at,
        ordering_annotators=np.asarray(ordering_annotators, dtype=np.int64),
        ordering_first_shown=np.asarray(ordering_first_shown, dtype=np.int64),
        best_worst_annotators=np.asarray(best_worst_annotators, dtype=np.int64),
        best_worst_first_shown=np.asarray(best_worst_first_shown, dtype=np.int64),
    )


def _dense_indices(sorted_ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Dense index of each PoolItem id in `wanted` (−1 where it is no longer in the pool)."""
    if sorted_ids.size == 0 or wanted.size == 0:
        return np.full(wanted.shape, -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, wanted), sorted_ids.size - 1)
    return np.where(sorted_ids[at] == wanted, at, -1).astype(np.int64)


def _campaign_tie_sizes(value_id: int) -> dict[int, int]:
    """Campaign id → the largest tied group its protocol allows (1 when ties are off; best–worst has none)."""
    sizes = {}
    rows = Campaign.objects.filter(values__id=value_id).values_list("id", "protocol", "allow_ties", "list_size")
    for campaign_id, protocol, allow_ties, list_size in rows:
        ties_possible = allow_ties and protocol != Campaign.Protocol.BEST_WORST
        sizes[campaign_id] = max(2, list_size) if ties_possible else 1
    return sizes


def _dense_groups(raw_ordering: list[list[int]], index_of: dict[int, int]) -> Ordering:
    """PoolItem-id groups → dense-index groups, leaving out items no longer in the pool and groups left empty."""
    groups = []
    for group in raw_ordering:
        dense = tuple(index_of[item_id] for item_id in group if item_id in index_of)
        if dense:
            groups.append(dense)
    return tuple(groups)


@dataclass(frozen=True)
class AnnotatorPreferences:
    """Every strict pairwise preference implied by the included judgments of one value, one row per pair:
    annotator `annotator_ids[k]` placed PoolItem `winner_ids[k]` above PoolItem `loser_ids[k]`.

    Ties and "neither" answers imply no strict preference and add no rows; a best–worst answer implies best above
    every other item and every other item above worst. Also per annotator: judgments read and their latencies.
    """

    annotator_ids: np.ndarray
    winner_ids: np.ndarray
    loser_ids: np.ndarray
    judgment_annotator_ids: np.ndarray
    judgment_latencies_ms: np.ndarray  # NaN where the client sent none


def value_annotator_preferences(*, value_id: int, watermark: int | None = None) -> AnnotatorPreferences:
    """Read the pairwise preferences of every annotator of one value, from the judgments fits use (up to a
    watermark when given, e.g. that of the published fit)."""
    annotators: list[int] = []
    winners: list[int] = []
    losers: list[int] = []
    judgment_annotators: list[int] = []
    latencies: list[float] = []
    judgments = fit_judgments(value_id=value_id)
    if watermark is not None:
        judgments = judgments.filter(id__lte=watermark)
    rows = judgments.values_list("annotator_id", "kind", "ordering", "latency_ms")
    for annotator_id, kind, ordering, latency_ms in rows.iterator(chunk_size=_READ_CHUNK):
        judgment_annotators.append(annotator_id)
        latencies.append(np.nan if latency_ms is None else float(latency_ms))
        for winner, loser in _strict_pairs(kind, ordering):
            annotators.append(annotator_id)
            winners.append(winner)
            losers.append(loser)
    return AnnotatorPreferences(
        annotator_ids=np.asarray(annotators, dtype=np.int64),
        winner_ids=np.asarray(winners, dtype=np.int64),
        loser_ids=np.asarray(losers, dtype=np.int64),
        judgment_annotator_ids=np.asarray(judgment_annotators, dtype=np.int64),
        judgment_latencies_ms=np.asarray(latencies, dtype=float),
    )


def _strict_pairs(kind: str, ordering: list[list[int]]) -> Iterator[tuple[int, int]]:
    if kind == Judgment.Kind.NEITHER or len(ordering) < 2:
        return
    if kind == Judgment.Kind.BEST_WORST:
        best, worst = ordering[0][0], ordering[-1][0]
        middle = [item for group in ordering[1:-1] for item in group]
        yield best, worst
        for item in middle:
            yield best, item
            yield item, worst
        return
    for position, group in enumerate(ordering):
        for later_group in ordering[position + 1 :]:
            for winner in group:
                for loser in later_group:
                    yield winner, loser
