"""The HiVES judge: per value, a ridge regression from HiVES embeddings to published VIDB intensities.

It is a cheap, offline scorer: it estimates a text's intensity for a value, and ranks the texts of an evaluator
window (most supporting first) as an alternative to an LLM or human judge. `cross_validated_agreement` reports how
far to trust it: the share of text pairs it orders like the human-fitted intensities, on texts it was not fit on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

INTENSITY_MIN, INTENSITY_MAX = -10.0, 10.0
DEFAULT_ALPHA = 1.0
# Fewer scored texts than this and a value gets no regressor (profiling falls back to neighbour averages).
MIN_TEXTS = 8


@dataclass
class RidgeHead:
    """intensity ≈ x · weights + bias, for unit vectors x."""

    weights: np.ndarray
    bias: float
    n_texts: int

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        return np.clip(vectors @ self.weights + self.bias, INTENSITY_MIN, INTENSITY_MAX)


def fit_ridge(vectors: np.ndarray, intensities: np.ndarray, *, alpha: float = DEFAULT_ALPHA) -> RidgeHead:
    """Closed-form ridge regression with an unpenalised intercept (solved in the smaller of the two dual forms)."""
    if vectors.shape[0] != intensities.shape[0]:
        raise ValueError(f"{vectors.shape[0]} vectors for {intensities.shape[0]} intensities")
    if vectors.shape[0] < 2:
        raise ValueError("a ridge head needs at least two scored texts")
    x_mean = vectors.mean(axis=0)
    y_mean = float(intensities.mean())
    x = (vectors - x_mean).astype(np.float64)
    y = (intensities - y_mean).astype(np.float64)
    n, d = x.shape
    if n < d:  # kernel form: w = Xᵀ (X Xᵀ + αI)⁻¹ y
        weights = x.T @ np.linalg.solve(x @ x.T + alpha * np.eye(n), y)
    else:
        weights = np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ y)
    bias = y_mean - float(x_mean @ weights)
    return RidgeHead(weights=weights.astype(np.float32), bias=bias, n_texts=n)


def pairwise_agreement(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of text pairs with different true intensities that `predicted` orders the same way (ties: half)."""
    i, j = np.triu_indices(len(truth), k=1)
    true_order = np.sign(truth[i] - truth[j])
    keep = true_order != 0
    if not keep.any():
        return float("nan")
    predicted_order = np.sign(predicted[i] - predicted[j])[keep]
    agreement = np.where(predicted_order == 0, 0.5, (predicted_order == true_order[keep]).astype(float))
    return float(agreement.mean())


def cross_validated_agreement(
    vectors: np.ndarray, intensities: np.ndarray, *, folds: int = 5, alpha: float = DEFAULT_ALPHA, seed: int = 0
) -> dict[str, float]:
    """Out-of-fold predictions → pairwise agreement and Spearman correlation with the human-fitted intensities."""
    n = len(intensities)
    folds = max(2, min(folds, n // 2))
    order = np.random.default_rng(seed).permutation(n)
    predicted = np.empty(n, dtype=np.float64)
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        predicted[test] = fit_ridge(vectors[train], intensities[train], alpha=alpha).predict(vectors[test])
    rho = spearmanr(predicted, intensities).statistic if np.std(predicted) > 0 else float("nan")
    return {
        "pairwise": pairwise_agreement(predicted, intensities),
        "spearman": float(rho),
        "mae": float(np.abs(predicted - intensities).mean()),
        "n": int(n),
    }


class HivesJudge:
    """Ridge heads for many values, keyed by qualified value key (`svt:benevolence`)."""

    def __init__(self, heads: dict[str, RidgeHead] | None = None) -> None:
        self.heads: dict[str, RidgeHead] = heads or {}

    def fit_value(
        self, value: str, vectors: np.ndarray, intensities: np.ndarray, *, alpha: float = DEFAULT_ALPHA
    ) -> None:
        self.heads[value] = fit_ridge(vectors, intensities, alpha=alpha)

    def knows(self, value: str) -> bool:
        return value in self.heads

    def predict(self, value: str, vectors: np.ndarray) -> np.ndarray:
        try:
            head = self.heads[value]
        except KeyError:
            raise KeyError(f"the HiVES judge has no regressor for {value!r} (too few scored texts?)") from None
        return head.predict(vectors)

    def rank_window(self, value: str, vectors: np.ndarray) -> list[int]:
        """Positions of the window's texts from most supporting to most opposing."""
        return [int(i) for i in np.argsort(-self.predict(value, vectors), kind="stable")]

    def save(self, path: Path | str) -> None:
        arrays: dict[str, np.ndarray] = {"values": np.asarray(list(self.heads), dtype=str)}
        for i, head in enumerate(self.heads.values()):
            arrays[f"w{i}"] = head.weights
            arrays[f"b{i}"] = np.asarray([head.bias, head.n_texts], dtype=np.float64)
        np.savez(path, **arrays)  # type: ignore[arg-type]  # numpy's stubs read **arrays as its options (allow_pickle)

    @classmethod
    def load(cls, path: Path | str) -> HivesJudge:
        with np.load(path) as data:
            values: Sequence[str] = data["values"].tolist()
            heads = {
                value: RidgeHead(weights=data[f"w{i}"], bias=float(data[f"b{i}"][0]), n_texts=int(data[f"b{i}"][1]))
                for i, value in enumerate(values)
            }
        return cls(heads)
