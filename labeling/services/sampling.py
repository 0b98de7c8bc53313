"""Adaptive choice of the next comparison: the items whose judgment is expected to teach the published posterior most.

The modeling side publishes each item's utility and its standard error (PoolItem.utility / utility_se). For two
items i and j the posterior of the difference d = u_i − u_j has mean μ = u_i − u_j and variance v = se_i² + se_j².
One more Bradley–Terry judgment of the pair has Fisher information q = p(1 − p) about d, with p the posterior
predictive probability that i wins (MacKay's probit approximation: p = σ(μ / √(1 + πv/8))). A Laplace update turns
v into 1 / (1/v + q), so the judgment is expected to remove

    information(i, j) = v − 1/(1/v + q) = v² q / (1 + v q)

of the variance of d: largest for items with close utilities (p ≈ ½) and wide intervals. Each item's score is also
divided by √(1 + exposure) (judgments + open leases): the published standard errors lag the judgments given since
the last fit, and this keeps concurrent annotators from all being handed the same best pair between two fits.

Nothing here is O(n²) in the pool: `candidates_read` takes a few hundred eligible items (a random stretch of the
id range plus the least exposed ones) in one query, and pairs are scored only within that sample. Lists (k > 2)
grow greedily from the best pair: each further item is the candidate with the largest summed information with the
items already chosen — close in utility to them, with a wide interval.

The pure functions (`expected_information`, `ranked_comparisons`) take plain numbers, so a simulation (the
`benchmark adaptive` command) can run exactly the scoring that serves annotators.
"""

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connections
from django.db.models import Max, Min, QuerySet

from labeling.models import Campaign, CampaignItem

# How many eligible items one request reads and scores: a random stretch of the id range (so every part of a
# 100K pool gets its turn) plus the least-exposed items (so nothing starves). 224 candidates are ~25K pairs,
# scored with numpy in about a millisecond.
RANDOM_CANDIDATES = 160
LEAST_EXPOSED_CANDIDATES = 64
# Standard error assumed for an item the published fit does not cover yet (e.g. a text added after the fit): about
# the spread of a fresh item under the pseudo-comparison prior, so new items are attractive partners.
UNFITTED_SE = 1.5
# How many of the best-scoring comparisons a request tries (some may be ones the annotator has seen, or locked by
# a concurrent request) before it falls back to balanced sampling.
RANKED_LIMIT = 24
_BOUNDS_CACHE_S = 3600


@dataclass(frozen=True)
class Candidate:
    """An eligible campaign item as the sampler sees it; utility/se are None before any published fit."""

    pool_item_id: int
    utility: float | None
    utility_se: float | None
    exposure: int  # judgments_count + in_flight


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


def has_posterior(candidates: Sequence[Candidate]) -> bool:
    """Whether any candidate carries a published utility (before the first fit the sampler starts balanced)."""
    return any(candidate.utility is not None for candidate in candidates)


def expected_information(u_i, se_i, u_j, se_j):  # type: ignore[no-untyped-def]
    """Expected reduction of the posterior variance of u_i − u_j from one more judgment (arrays broadcast)."""
    variance = np.square(se_i) + np.square(se_j)
    p = 1.0 / (1.0 + np.exp(-(np.subtract(u_i, u_j)) / np.sqrt(1.0 + math.pi * variance / 8.0)))
    q = p * (1.0 - p)
    return variance * variance * q / (1.0 + variance * q)


def ranked_comparisons(
    candidates: Sequence[Candidate], *, k: int, limit: int = RANKED_LIMIT
) -> Iterator[RankedComparison]:
    """The best comparisons of k items among `candidates`, best first (at most `limit`, each from a different
    starting pair). The caller skips those the annotator has seen and those another request holds."""
    n = len(candidates)
    if n < k or k < 2:
        return
    utilities = np.array([0.0 if c.utility is None else c.utility for c in candidates])
    ses = np.array([UNFITTED_SE if c.utility_se is None or c.utility is None else c.utility_se for c in candidates])
    balance = 1.0 / np.sqrt(1.0 + np.array([c.exposure for c in candidates], dtype=float))
    raw = expected_information(utilities[:, None], ses[:, None], utilities[None, :], ses[None, :])
    score = raw * balance[:, None] * balance[None, :]
    rows, cols = np.triu_indices(n, 1)
    pair_scores = score[rows, cols]
    top = min(limit, pair_scores.size)
    best = np.argpartition(-pair_scores, top - 1)[:top]
    best = best[np.argsort(-pair_scores[best], kind="stable")]
    np.fill_diagonal(score, -np.inf)
    for index in best:
        chosen = [int(rows[index]), int(cols[index])]
        while len(chosen) < k:
            gain = score[:, chosen].sum(axis=1)
            gain[chosen] = -np.inf
            chosen.append(int(np.argmax(gain)))
        chosen_u = utilities[chosen]
        information = float(sum(raw[a, b] for position, a in enumerate(chosen) for b in chosen[position + 1:]))
        yield RankedComparison(
            pool_item_ids=[candidates[i].pool_item_id for i in chosen],
            information=information,
            utility_gap=float(chosen_u.max() - chosen_u.min()),
        )


def campaign_item_id_bounds(*, campaign_id: int, value_id: int) -> tuple[int, int] | None:
    """(lowest, highest) CampaignItem id of a campaign's value. Campaign items are created once with the campaign
    and never added later, so the bounds are cached instead of aggregated on every request."""
    key = f"valueflow:campaign-item-bounds:{campaign_id}:{value_id}"
    bounds = cache.get(key)
    if bounds is None:
        row = CampaignItem.objects.filter(campaign_id=campaign_id, value_id=value_id).aggregate(
            low=Min("id"), high=Max("id")
        )
        if row["low"] is None:
            return None
        bounds = (row["low"], row["high"])
        cache.set(key, bounds, _BOUNDS_CACHE_S)
    return bounds[0], bounds[1]


def campaign_value_ids(*, campaign_id: int) -> list[int]:
    """The ids of a campaign's values (fixed when the campaign is created, so cached like the id bounds)."""
    key = f"valueflow:campaign-values:{campaign_id}"
    value_ids = cache.get(key)
    if value_ids is None:
        links = Campaign.values.through.objects.filter(campaign_id=campaign_id)
        value_ids = list(links.values_list("value_id", flat=True))
        cache.set(key, value_ids, _BOUNDS_CACHE_S)
    return list(value_ids)


def candidates_read(
    *, eligible: QuerySet[CampaignItem], bounds: tuple[int, int], rng: random.Random
) -> list[Candidate]:
    """A random stretch of the eligible items (from a random point of the id range) and the least-exposed ones,
    read together in one query without locks; only the items finally chosen are locked."""
    columns = ("pool_item_id", "pool_item__utility", "pool_item__utility_se", "judgments_count", "in_flight")
    start = rng.randint(bounds[0], bounds[1])
    stretch = eligible.filter(id__gte=start).order_by("id").values_list(*columns)[:RANDOM_CANDIDATES]
    # ordered by judgments_count alone, the (campaign, value, is_active, judgments_count) index returns the first
    # rows without sorting the whole pool (~100 ms at 100K items with in_flight and id as tie-breakers)
    least_exposed = eligible.order_by("judgments_count").values_list(*columns)[:LEAST_EXPOSED_CANDIDATES]
    if connections[eligible.db].features.supports_slicing_ordering_in_compound:
        rows = list(stretch.union(least_exposed))  # one query; UNION drops the rows both parts read
    else:  # SQLite (the embedded default) cannot order inside a UNION: two queries
        rows = list(dict.fromkeys([*stretch, *least_exposed]))
    return [
        Candidate(pool_item_id=row[0], utility=row[1], utility_se=row[2], exposure=row[3] + row[4]) for row in rows
    ]
