"""Synthetic ground truth and judgments drawn from the Plackett–Luce model, for tests and the refit benchmark.

Every generator draws whole batches with numpy (Gumbel-max sampling: the argmax of θ + Gumbel noise is a Luce
choice) and returns ``ComparisonData``. ``random_rate`` replaces that share of judgments by uniformly random answers,
a crude stand-in for careless annotators that the model does not know about.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from .data import ComparisonData

Seed = np.random.Generator | int | None


def true_utilities(n_items: int, *, spread: float = 1.0, seed: Seed = None) -> np.ndarray:
    """Utilities drawn from N(0, spread²): centred on the phantom's 0 like a pool balanced around neutral."""
    return np.random.default_rng(seed).normal(0.0, spread, size=n_items)


def distinct_items(n_items: int, n_judgments: int, k: int, *, seed: Seed = None) -> np.ndarray:
    """(n_judgments, k) items, distinct within each row, uniformly over the pool."""
    rng = np.random.default_rng(seed)
    if not 2 <= k <= n_items:
        raise ValueError(f"cannot show {k} distinct items from a pool of {n_items}.")
    if n_items <= 4 * k:  # small pool: a random permutation per row is cheap and never rejects
        return np.argsort(rng.random((n_judgments, n_items)), axis=1)[:, :k]
    items = rng.integers(n_items, size=(n_judgments, k))
    while True:
        ordered = np.sort(items, axis=1)
        repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if repeated.size == 0:
            return items
        items[repeated] = rng.integers(n_items, size=(repeated.size, k))


def _gumbel_order(theta_rows: np.ndarray, rng: np.random.Generator, random_rate: float) -> np.ndarray:
    """Column positions of each row from best to worst under PL (or at random for a ``random_rate`` share)."""
    keys = theta_rows + rng.gumbel(size=theta_rows.shape)
    careless = rng.random(len(theta_rows)) < random_rate
    keys[careless] = rng.random((int(careless.sum()), theta_rows.shape[1]))
    return np.argsort(-keys, axis=1)


def simulate_pairs(
    theta: np.ndarray,
    n_judgments: int,
    *,
    seed: Seed = None,
    tie_strength: float | None = None,
    random_rate: float = 0.0,
) -> ComparisonData:
    """Pairwise judgments between uniformly drawn pairs; with ``tie_strength`` (Davidson's ν) a tie is offered and
    happens with probability ν√(πᵢπⱼ) / (πᵢ + πⱼ + ν√(πᵢπⱼ))."""
    rng = np.random.default_rng(seed)
    pairs = distinct_items(theta.size, n_judgments, 2, seed=rng)
    first, second = pairs[:, 0], pairs[:, 1]
    if tie_strength is None:
        order = _gumbel_order(theta[pairs], rng, random_rate)
        winners = np.take_along_axis(pairs, order[:, :1], axis=1).ravel()
        losers = np.take_along_axis(pairs, order[:, 1:], axis=1).ravel()
        return ComparisonData.from_pairs(theta.size, winners, losers)
    log_weights = np.stack(
        [theta[first], theta[second], np.log(tie_strength) + (theta[first] + theta[second]) / 2], axis=1
    )
    outcome = np.argmax(log_weights + rng.gumbel(size=log_weights.shape), axis=1)
    careless = rng.random(n_judgments) < random_rate
    outcome[careless] = rng.integers(3, size=int(careless.sum()))
    winners = np.where(outcome == 1, second, first)
    losers = np.where(outcome == 1, first, second)
    return ComparisonData.from_pairs(theta.size, winners, losers, tied=outcome == 2, ties_allowed=True)


def simulate_rankings(
    theta: np.ndarray,
    n_judgments: int,
    k: int,
    *,
    seed: Seed = None,
    tie_strength: float | None = None,
    random_rate: float = 0.0,
) -> ComparisonData:
    """Full rankings of k uniformly drawn items. With ``tie_strength`` (δ₂) pairs of items may tie: each stage is
    drawn exactly from the Davidson–Luce model with tied groups of at most two (``max_tie_size=2``)."""
    rng = np.random.default_rng(seed)
    items = distinct_items(theta.size, n_judgments, k, seed=rng)
    if tie_strength is None:
        order = _gumbel_order(theta[items], rng, random_rate)
        return ComparisonData.from_rankings(theta.size, np.take_along_axis(items, order, axis=1))
    subsets = [(p,) for p in range(k)] + list(combinations(range(k), 2))
    membership = np.zeros((len(subsets), k))
    for s, subset in enumerate(subsets):
        membership[s, list(subset)] = 1.0 / len(subset)
    log_delta = np.array([0.0 if len(s) == 1 else np.log(tie_strength) for s in subsets])
    utilities = theta[items] @ membership.T + log_delta  # (judgments, subsets)
    careless = rng.random(n_judgments) < random_rate
    utilities[careless] = 0.0
    remaining = np.ones((n_judgments, k), dtype=bool)
    chosen_per_stage = []
    while remaining.any():
        available = (remaining[:, None, :] | (membership == 0)[None]).all(axis=2)  # every member still remaining
        keys = np.where(available, utilities + rng.gumbel(size=utilities.shape), -np.inf)
        choice = np.argmax(keys, axis=1)
        done = ~np.any(remaining, axis=1)
        choice[done] = -1
        chosen_per_stage.append(choice)
        taken = membership[np.maximum(choice, 0)] > 0
        remaining &= ~(taken & ~done[:, None])
    orderings = []
    for j in range(n_judgments):
        groups = [tuple(int(items[j, p]) for p in subsets[stage[j]]) for stage in chosen_per_stage if stage[j] >= 0]
        orderings.append(groups)
    return ComparisonData.from_orderings(theta.size, orderings, max_tie_size=2)


def simulate_best_worst(theta: np.ndarray, n_judgments: int, k: int, *, seed: Seed = None) -> ComparisonData:
    """Best–worst judgments over k uniformly drawn items: the best by a Luce choice among all k, then the worst by
    a Luce choice on −θ among the rest (the sequential best–worst model)."""
    rng = np.random.default_rng(seed)
    items = distinct_items(theta.size, n_judgments, k, seed=rng)
    values = theta[items]
    best = np.argmax(values + rng.gumbel(size=values.shape), axis=1)
    worst_keys = -values + rng.gumbel(size=values.shape)
    worst_keys[np.arange(n_judgments), best] = -np.inf
    worst = np.argmax(worst_keys, axis=1)
    rows = np.arange(n_judgments)
    tuples = [
        (int(b), int(w), [int(i) for i in shown])
        for b, w, shown in zip(items[rows, best], items[rows, worst], items, strict=True)
    ]
    return ComparisonData.from_best_worst(theta.size, tuples)
