"""Adaptive choice of the next comparison: the items whose judgment is expected to teach the published posterior most.

The modeling side publishes each item's utility and its standard error (PoolItem.utility / utility_se). For two
items i and j the posterior of the difference d = u_i − u_j has mean μ = u_i − u_j and variance v = σ_i² + σ_j².
One more Bradley–Terry judgment of the pair has Fisher information q = p(1 − p) about d, with p the posterior
predictive probability that i wins (MacKay's probit approximation: p = σ(μ / √(1 + πv/8))). A Laplace update turns
v into 1 / (1/v + q), so the judgment is expected to remove

    information(i, j) = v − 1/(1/v + q) = v² q / (1 + v q)

of the variance of d: largest for items with close utilities (p ≈ ½) and wide intervals. Two corrections:

- the published standard errors lag the judgments given since the last fit, so each σ_i² is the smaller of the
  published variance and 1 / (prior + 0.25 × exposure) (judgments + open leases; `current_variances`). A text
  judged since the fit loses its edge exactly as far as those judgments taught the posterior, and a text the fit
  already measured is not held back for having been judged (an earlier 1/√(1 + exposure) factor was, which
  pushed the choice towards balanced sampling; docs/benchmarks.md measures the difference);
- the goal is the order: a text at either end of it can only be misplaced on one side, so each pair's
  information is weighted by how crowded its texts' neighbourhoods are (`neighbourhood_weights`).

Nothing here is O(n²): `candidates_read` takes a few hundred eligible items (a random stretch of the id range plus
the least exposed ones) in one prepared statement on PostgreSQL, as arrays that go straight into numpy (the ORM
path elsewhere: a query more when the stretch wraps around the end of the range), and only the
RANKED_LIMIT least certain candidates (weighted by neighbourhood) are paired with every candidate: O(candidates).
Lists (k > 2) grow greedily from the best pairs: each further item is the candidate with the largest summed
information with the items already chosen — close in utility to them, with a wide interval.

The pure functions (`expected_information`, `ranked_indices`, `ranked_comparisons`) take plain numbers, so a
simulation (the `benchmark adaptive` command) runs exactly the scoring that serves annotators.
"""

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Max, Min, QuerySet

from labeling.models import Campaign, CampaignItem
from labeling.services import annotation_sql

# How many eligible items one request reads and scores: a random stretch of the id range (so every part of a
# 100K pool gets its turn) plus the least-exposed items (so nothing starves). Scoring is O(candidates) (see
# ranked_indices), so the sample is as large as one indexed read of a few hundred rows allows (~1 ms).
RANDOM_CANDIDATES = 480
LEAST_EXPOSED_CANDIDATES = 64
# Standard error assumed for an item the published fit does not cover yet (e.g. a text added after the fit): about
# the spread of a fresh item under the pseudo-comparison prior, so new items are attractive partners.
UNFITTED_SE = 1.5
# How many of the best-scoring comparisons a request tries (some may be ones the annotator has seen, or locked by
# a concurrent request) before it falls back to balanced sampling. Also how many of the least certain candidates
# are scored against every candidate (see ranked_indices).
RANKED_LIMIT = 24
# The precision (1 / variance, logits⁻²) a text has at least, given its exposure: the refit's prior strength
# (modeling.services.fits.PRIOR_STRENGTH; a test keeps the two equal) plus the Fisher information p(1 − p) of one
# judgment between texts an adaptive choice pairs (about 0.2; 0.25 at even odds).
PRIOR_PRECISION = 0.3
PRECISION_PER_JUDGMENT = 0.25
# Rank accuracy: a text's place in the order can only be wrong against texts near it in utility. Each text's
# variance reduction is weighted by how many candidates lie within this many logits of its utility (relative to
# the median text): a text at either end of the order has neighbours on one side only, so its precision is worth
# about half as much to the ranking as one in the middle.
NEIGHBOURHOOD = 1.0
_BOUNDS_CACHE_S = 3600


@dataclass(frozen=True)
class Candidate:
    """An eligible campaign item as the sampler sees it; utility/se are None before any published fit."""

    pool_item_id: int
    utility: float | None
    utility_se: float | None
    exposure: int  # judgments_count + in_flight


@dataclass(frozen=True)
class Candidates:
    """Candidates as arrays, in the order they were read: what the scoring takes. NaN marks a missing published
    utility or standard error."""

    pool_item_ids: np.ndarray
    utilities: np.ndarray
    se: np.ndarray
    exposure: np.ndarray  # judgments_count + in_flight

    @classmethod
    def of(cls, candidates: Sequence[Candidate]) -> "Candidates":
        return cls(
            pool_item_ids=np.array([c.pool_item_id for c in candidates], dtype=np.int64),
            utilities=np.array([c.utility for c in candidates], dtype=float),
            se=np.array([c.utility_se for c in candidates], dtype=float),
            exposure=np.array([c.exposure for c in candidates], dtype=float),
        )

    def __len__(self) -> int:
        return int(self.pool_item_ids.size)


@dataclass(frozen=True)
class RankedComparison:
    pool_item_ids: list[int]
    information: float  # expected reduction of posterior variance (summed over the chosen pairs)
    utility_gap: float  # largest utility difference among the chosen items

    @property
    def reason(self) -> str:
        k = len(self.pool_item_ids)
        what = "closest utilities" if k == 2 else f"{k} items with close utilities"
        return f"adaptive: {what} (gap {self.utility_gap:.2f}), max expected information {self.information:.2f}"


def has_posterior(candidates: Candidates | Sequence[Candidate]) -> bool:
    """Whether any candidate carries a published utility (before the first fit the sampler starts balanced)."""
    utilities = _as_arrays(candidates).utilities
    return bool(utilities.size) and not np.isnan(utilities).all()


def _as_arrays(candidates: Candidates | Sequence[Candidate]) -> Candidates:
    return candidates if isinstance(candidates, Candidates) else Candidates.of(candidates)


def expected_information(u_i, se_i, u_j, se_j):  # type: ignore[no-untyped-def]
    """Expected reduction of the posterior variance of u_i − u_j from one more judgment (arrays broadcast)."""
    return _information(u_i, np.square(se_i), u_j, np.square(se_j))


def _information(u_i, var_i, u_j, var_j):  # type: ignore[no-untyped-def]
    variance = var_i + var_j
    p = 1.0 / (1.0 + np.exp(-(np.subtract(u_i, u_j)) / np.sqrt(1.0 + math.pi * variance / 8.0)))
    q = p * (1.0 - p)
    return variance * variance * q / (1.0 + variance * q)


def current_variances(se: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """Each text's posterior variance now: the published one, or less where the judgments it has had by now
    (exposure: judgments + open leases) imply more precision than the published fit saw. The published standard
    errors lag every judgment given since the last refit; without this a request would keep choosing the same
    uncertain texts until the next fit."""
    precision = np.maximum(1.0 / np.square(se), PRIOR_PRECISION + PRECISION_PER_JUDGMENT * exposure)
    return 1.0 / precision


def ranked_indices(
    utilities: np.ndarray, se: np.ndarray, exposure: np.ndarray, *, k: int, limit: int = RANKED_LIMIT
) -> list[tuple[list[int], float]]:
    """The best comparisons of k among n scored texts, best first: (positions in the arrays, expected information).

    O(limit · n), not O(n²): the best comparison nearly always involves one of the least certain texts, so only
    the `limit` texts whose uncertainty is worth most to the order (variance × neighbourhood weight) are paired
    with every candidate; each keeps its best partner. Lists (k > 2)
    then grow greedily from a pair: each further text is the one with the largest summed information with the
    texts already chosen."""
    n = utilities.size
    if n < k or k < 2:
        return []
    variances = current_variances(se, exposure)
    weights = neighbourhood_weights(utilities)
    anchors = np.argsort(-variances * weights, kind="stable")[: min(limit, n)]
    scores = _weighted_information(utilities, variances, weights, anchors[:, None], np.arange(n)[None, :])
    scores[np.arange(anchors.size), anchors] = -np.inf
    partners = np.argmax(scores, axis=1)
    best = scores[np.arange(anchors.size), partners]
    pairs: dict[tuple[int, int], float] = {}
    for index in np.argsort(-best, kind="stable"):
        a, b = int(anchors[index]), int(partners[index])
        pairs.setdefault((min(a, b), max(a, b)), float(best[index]))
    chosen = np.array(list(pairs), dtype=int).reshape(-1, 2)
    information = np.array(list(pairs.values()))
    if k > 2:  # all lists at once: (lists × candidates) gains, one column appended per round
        everyone = np.arange(n)[None, :]
        gain = sum(_weighted_information(utilities, variances, weights, chosen[:, [c]], everyone) for c in (0, 1))
        rows = np.arange(len(chosen))[:, None]
        while chosen.shape[1] < k:
            gain[rows, chosen] = -np.inf
            chosen = np.hstack([chosen, np.argmax(gain, axis=1)[:, None]])
            gain = gain + _weighted_information(utilities, variances, weights, chosen[:, [-1]], everyone)
        between = _weighted_information(utilities, variances, weights, chosen[:, :, None], chosen[:, None, :])
        information = np.triu(between, 1).sum(axis=(1, 2))  # np.triu acts on the last two axes
    return [(members.tolist(), float(value)) for members, value in zip(chosen, information, strict=True)]


def neighbourhood_weights(utilities: np.ndarray) -> np.ndarray:
    """How much each text's precision is worth to the ranking: the candidates within NEIGHBOURHOOD logits of its
    utility, relative to the median text (about ½ at either end of the order, 1 in the middle of an even spread)."""
    ordered = np.sort(utilities)
    neighbours = np.searchsorted(ordered, utilities + NEIGHBOURHOOD, "right") - np.searchsorted(
        ordered, utilities - NEIGHBOURHOOD, "left"
    )
    return neighbours / max(float(np.median(neighbours)), 1.0)


def _weighted_information(utilities, variances, weights, i, j):  # type: ignore[no-untyped-def]
    """Expected information of comparing texts i and j (index arrays broadcast), weighted by their neighbourhoods."""
    information = _information(utilities[i], variances[i], utilities[j], variances[j])
    return information * (weights[i] + weights[j]) / 2.0


def ranked_comparisons(
    candidates: Candidates | Sequence[Candidate], *, k: int, limit: int = RANKED_LIMIT
) -> Iterator[RankedComparison]:
    """The best comparisons of k items among `candidates`, best first (at most `limit`, each from a different
    starting pair). The caller skips those the annotator has seen and those another request holds."""
    arrays = _as_arrays(candidates)
    unfitted = np.isnan(arrays.utilities)
    utilities = np.where(unfitted, 0.0, arrays.utilities)
    se = np.where(unfitted | np.isnan(arrays.se), UNFITTED_SE, arrays.se)
    for chosen, information in ranked_indices(utilities, se, arrays.exposure, k=k, limit=limit):
        chosen_u = utilities[chosen]
        yield RankedComparison(
            pool_item_ids=arrays.pool_item_ids[chosen].tolist(),
            information=information,
            utility_gap=float(chosen_u.max() - chosen_u.min()),
        )


def campaign_item_id_bounds(*, campaign_id: int, value_id: int) -> tuple[int, int] | None:
    """(lowest, highest) CampaignItem id of a campaign's value. Campaign items are created once with the campaign
    and never added later, so the bounds are cached (in the process, then Redis) instead of aggregated on every
    request."""
    key = f"valueflow:campaign-item-bounds:{campaign_id}:{value_id}"
    bounds = _process_cached(key) or cache.get(key)
    if bounds is None:
        row = CampaignItem.objects.filter(campaign_id=campaign_id, value_id=value_id).aggregate(
            low=Min("id"), high=Max("id")
        )
        if row["low"] is None:
            return None
        bounds = (row["low"], row["high"])
        cache.set(key, bounds, _BOUNDS_CACHE_S)
    _process_keep(key, bounds)
    return bounds[0], bounds[1]


def campaign_value_ids(*, campaign_id: int) -> list[int]:
    """The ids of a campaign's values (fixed when the campaign is created, so cached like the id bounds)."""
    key = f"valueflow:campaign-values:{campaign_id}"
    value_ids = _process_cached(key) or cache.get(key)
    if value_ids is None:
        links = Campaign.values.through.objects.filter(campaign_id=campaign_id)
        value_ids = list(links.values_list("value_id", flat=True))
        cache.set(key, value_ids, _BOUNDS_CACHE_S)
    _process_keep(key, value_ids)
    return list(value_ids)


def value_has_posterior(*, value_id: int) -> bool:
    """Whether any pool item of the value carries a published utility. Published utilities are replaced by the
    next publication but never removed, so once a value has one the answer stays yes and is kept in the process;
    before the first fit every `next` asks (one index probe)."""
    key = f"valueflow:value-has-posterior:{value_id}"
    if _process_cached(key):
        return True
    found = annotation_sql.value_has_posterior(value_id=value_id)
    _process_keep(key, found)
    return found


# The facts above that never change once known (a campaign's values and item id range, a value having a fit), kept
# in each process: two Redis round trips and a database probe fewer per `next`. Keyed by database, since one process
# may serve several (the benchmarks' throwaway databases, tests).
_PROCESS_FACTS: dict[tuple[str, str], Any] = {}
_PROCESS_FACTS_MAX = 10_000


def _process_cached(key: str) -> Any:
    return _PROCESS_FACTS.get((str(connection.settings_dict["NAME"]), key))


def _process_keep(key: str, facts: Any) -> None:
    if not facts:  # nothing (yet): not kept, the next request asks again
        return
    if len(_PROCESS_FACTS) >= _PROCESS_FACTS_MAX:
        _PROCESS_FACTS.clear()
    _PROCESS_FACTS[(str(connection.settings_dict["NAME"]), key)] = facts


def process_facts_clear() -> None:
    """Forget the facts kept in this process (tests: a rolled-back SQLite database may reuse a campaign's id)."""
    _PROCESS_FACTS.clear()


def eligible_items(*, campaign: Campaign, value_id: int) -> QuerySet[CampaignItem]:
    """The campaign items of a value that may still be handed out: active, judgments + open leases below the
    campaign's judgments_per_item."""
    return (
        CampaignItem.objects.filter(campaign=campaign, value_id=value_id, is_active=True)
        .alias(exposure=F("judgments_count") + F("in_flight"))
        .filter(exposure__lt=campaign.judgments_per_item)
    )


def candidates_read(*, campaign: Campaign, value_id: int, bounds: tuple[int, int], rng: random.Random) -> Candidates:
    """A random stretch of the eligible items (from a random point of the id range, wrapping around its end) and
    the least-exposed ones, without locks (only the items finally chosen are locked); one candidate per item, the
    stretch first. On PostgreSQL one prepared statement returns them as arrays (annotation_sql.candidates_read);
    elsewhere the ORM reads them (a second query reads the wrapped part of the stretch when the random point lies
    near the end of the range)."""
    start = rng.randint(bounds[0], bounds[1])
    if annotation_sql.enabled():
        ids, utilities, se, exposure = annotation_sql.candidates_read(
            campaign=campaign,
            value_id=value_id,
            start=start,
            stretch=RANDOM_CANDIDATES,
            least_exposed=LEAST_EXPOSED_CANDIDATES,
        )
        return _first_of_each(
            Candidates(
                pool_item_ids=np.array(ids, dtype=np.int64),
                utilities=np.array(utilities, dtype=float),
                se=np.array(se, dtype=float),
                exposure=np.array(exposure, dtype=float),
            )
        )
    return _first_of_each(Candidates.of(_candidates_orm(campaign=campaign, value_id=value_id, start=start)))


def _candidates_orm(*, campaign: Campaign, value_id: int, start: int) -> list[Candidate]:
    eligible = eligible_items(campaign=campaign, value_id=value_id)
    columns = ("pool_item_id", "pool_item__utility", "pool_item__utility_se", "judgments_count", "in_flight")
    stretch_rows = list(eligible.filter(id__gte=start).order_by("id").values_list(*columns)[:RANDOM_CANDIDATES])
    if len(stretch_rows) < RANDOM_CANDIDATES:
        wrapped = eligible.filter(id__lt=start).order_by("id").values_list(*columns)
        stretch_rows += wrapped[: RANDOM_CANDIDATES - len(stretch_rows)]
    # ordered by judgments_count alone, the (campaign, value, is_active, judgments_count) index returns the first
    # rows without sorting the whole pool (~100 ms at 100K items with in_flight and id as tie-breakers)
    least_rows = list(eligible.order_by("judgments_count").values_list(*columns)[:LEAST_EXPOSED_CANDIDATES])
    return [
        Candidate(pool_item_id=row[0], utility=row[1], utility_se=row[2], exposure=row[3] + row[4])
        for row in [*stretch_rows, *least_rows]
    ]


def _first_of_each(candidates: Candidates) -> Candidates:
    """One candidate per item, at its first place (the stretch and the least-exposed rows overlap)."""
    _, first = np.unique(candidates.pool_item_ids, return_index=True)
    if first.size == candidates.pool_item_ids.size:
        return candidates
    keep = np.sort(first)
    return Candidates(
        pool_item_ids=candidates.pool_item_ids[keep],
        utilities=candidates.utilities[keep],
        se=candidates.se[keep],
        exposure=candidates.exposure[keep],
    )
