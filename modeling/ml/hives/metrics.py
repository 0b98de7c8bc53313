"""How well an embedding space reflects the value hierarchy (method.md §2), on held-out texts.

Texts may carry several labels (paths with directions); the relation of two texts is the best over their label
pairs: how many leading path levels they share (0–3) and whether those labels agree in direction.

- **Hierarchical ranking accuracy** (`rank_acc`): for each query text, one candidate text is drawn from each of five
  bins — (1) same full path and direction, (2) same path, opposite direction, (3) same levels 1–2 but not 3,
  (4) same level 1 only, (5) same theory, different level 1. Every pair of drawn candidates from different bins
  counts as correct when the candidate of the closer bin has the higher cosine to the query (ties count half).
  Empty bins are skipped (Touché23 has no opposing labels, so bin 2 is empty there).
- **Similarity correlation** (`sim_corr`): Pearson correlation between cosine and the target similarity
  (#shared levels + 0.5 · same direction) over the same query–candidate pairs. Drawing one pair per bin keeps the
  pairs balanced over similarity levels instead of being swamped by unrelated pairs.
- **Value-vector orthogonality** (`orthogonality`, per theory in `orthogonality_per_theory`): a value's vector is the
  mean of its supporting texts minus the mean of its opposing texts (or of all the theory's texts when it has no
  opposing ones); orthogonality is 1 − mean |cos| between the vectors of different leaf values of a theory.
- **1-NN accuracy per level** (`knn_acc`): for each text, its nearest other text shares its level-l prefix and
  direction (l = 1, 2, 3).

`hierarchy_metrics` takes unit vectors (one row per text) and the examples of those texts.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .data import LEVELS, HivesExample, graded_similarity

N_BINS = 5
# Cosine similarities are computed in blocks of this many query rows to bound memory on large evaluation sets.
_BLOCK = 2048


class TextLabels:
    """Per distinct text: multi-hot label matrices at each level, with and without direction."""

    def __init__(self, examples: Sequence[HivesExample]) -> None:
        self.text_ids: list[int | str] = list(dict.fromkeys(example.text_id for example in examples))
        row_of = {text_id: row for row, text_id in enumerate(self.text_ids)}
        n = len(self.text_ids)
        self.theory_of = np.empty(n, dtype=object)
        self.examples_of: list[list[HivesExample]] = [[] for _ in range(n)]
        for example in examples:
            self.examples_of[row_of[example.text_id]].append(example)
            self.theory_of[row_of[example.text_id]] = example.theory
        self.rows = np.asarray([row_of[example.text_id] for example in examples])
        self.examples = list(examples)
        # level 0 = the theory itself; levels 1..3 = path prefixes.
        self._any = [self._multi_hot(level, directed=False) for level in range(LEVELS + 1)]
        self._directed = [self._multi_hot(level, directed=True) for level in range(LEVELS + 1)]

    def __len__(self) -> int:
        return len(self.text_ids)

    def _multi_hot(self, level: int, *, directed: bool) -> np.ndarray:
        keys: dict[tuple, int] = {}
        entries = []
        for example, row in zip(self.examples, self.rows, strict=True):
            key: tuple = (example.theory, *example.path[:level])
            if directed:
                key = (*key, example.direction)
            entries.append((row, keys.setdefault(key, len(keys))))
        matrix = np.zeros((len(self.text_ids), max(1, len(keys))), dtype=np.float32)
        for row, column in entries:
            matrix[row, column] = 1.0
        return matrix

    def shared(self, rows: np.ndarray, level: int, *, directed: bool) -> np.ndarray:
        """[len(rows), n] boolean: text `rows[i]` and text j share a level-`level` prefix (and direction)."""
        matrix = self._directed[level] if directed else self._any[level]
        return (matrix[rows] @ matrix.T) > 0

    def relations(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bins, target similarity) of texts `rows` against every text: bin 0..4 (−1: other theory) and
        #shared levels + 0.5 · same direction, each the best over label pairs."""
        n = len(self.text_ids)
        bins = np.full((len(rows), n), -1, dtype=np.int8)
        # each sharing matrix computed once: the target and the bins read the same ones
        shared = functools.cache(lambda level, directed: self.shared(rows, level, directed=directed))
        target = graded_similarity(shared)
        same_path = shared(LEVELS, False)
        same_path_direction = shared(LEVELS, True)
        shared_2 = shared(2, False)
        shared_1 = shared(1, False)
        same_theory = shared(0, False)
        # Fill from the farthest bin to the closest so that the closest relation wins.
        bins[same_theory] = 4
        bins[shared_1] = 3
        bins[shared_2] = 2
        bins[same_path] = 1
        bins[same_path_direction] = 0
        return bins, target


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def ranking_and_correlation(
    vectors: np.ndarray, labels: TextLabels, *, max_queries: int = 2000, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = len(labels)
    queries = rng.permutation(n)[: min(max_queries, n)]
    correct = pairs = 0.0
    cosines: list[float] = []
    targets: list[float] = []
    pairs_by_bin = np.zeros((N_BINS, N_BINS))
    correct_by_bin = np.zeros((N_BINS, N_BINS))
    for start in range(0, len(queries), _BLOCK):
        block = queries[start : start + _BLOCK]
        bins, target = labels.relations(block)
        sims = vectors[block] @ vectors.T
        for i, query in enumerate(block):
            bins[i, query] = -1  # a text is not its own candidate
            drawn: list[tuple[int, float]] = []
            for b in range(N_BINS):
                candidates = np.flatnonzero(bins[i] == b)
                if candidates.size:
                    candidate = int(candidates[rng.integers(candidates.size)])
                    drawn.append((b, float(sims[i, candidate])))
                    cosines.append(float(sims[i, candidate]))
                    targets.append(float(target[i, candidate]))
            for a in range(len(drawn)):
                for c in range(a + 1, len(drawn)):
                    (bin_a, cos_a), (bin_c, cos_c) = drawn[a], drawn[c]
                    score = 1.0 if cos_a > cos_c else 0.5 if cos_a == cos_c else 0.0
                    correct += score
                    pairs += 1
                    correct_by_bin[bin_a, bin_c] += score
                    pairs_by_bin[bin_a, bin_c] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        by_pair = correct_by_bin / pairs_by_bin
    return {
        "rank_acc": correct / pairs if pairs else float("nan"),
        "rank_acc_by_bin_pair": {
            f"{a + 1}>{c + 1}": round(float(by_pair[a, c]), 4)
            for a in range(N_BINS)
            for c in range(N_BINS)
            if pairs_by_bin[a, c]
        },
        "sim_corr": _pearson(np.asarray(cosines), np.asarray(targets)),
        "n_queries": int(len(queries)),
        "n_pairs": int(pairs),
    }


def orthogonality(vectors: np.ndarray, labels: TextLabels, *, min_texts: int = 3) -> dict[str, Any]:
    per_theory: dict[str, float] = {}
    theories = sorted(set(labels.theory_of.tolist()))
    for theory in theories:
        in_theory = np.flatnonzero(labels.theory_of == theory)
        theory_mean = vectors[in_theory].mean(axis=0)
        supporting: dict[tuple, list[int]] = defaultdict(list)
        opposing: dict[tuple, list[int]] = defaultdict(list)
        for example, row in zip(labels.examples, labels.rows, strict=True):
            if example.theory != theory:
                continue
            if example.direction > 0:
                supporting[example.path].append(int(row))
            elif example.direction < 0:
                opposing[example.path].append(int(row))
        value_vectors = []
        for path, rows in supporting.items():
            if len(rows) < min_texts:
                continue
            against = opposing.get(path, [])
            reference = vectors[against].mean(axis=0) if len(against) >= min_texts else theory_mean
            value_vectors.append(vectors[rows].mean(axis=0) - reference)
        if len(value_vectors) < 2:
            continue
        matrix = np.asarray(value_vectors)
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        cos = np.abs(matrix @ matrix.T)
        off_diagonal = cos[~np.eye(len(matrix), dtype=bool)]
        per_theory[theory] = float(1.0 - off_diagonal.mean())
    overall = float(np.mean(list(per_theory.values()))) if per_theory else float("nan")
    return {"orthogonality": overall, "orthogonality_per_theory": per_theory}


def nearest_neighbour_accuracy(vectors: np.ndarray, labels: TextLabels) -> dict[str, float]:
    n = len(labels)
    if n < 2:
        return {f"level_{level}": float("nan") for level in range(1, LEVELS + 1)}
    nearest = np.empty(n, dtype=np.int64)
    for start in range(0, n, _BLOCK):
        sims = vectors[start : start + _BLOCK] @ vectors.T
        sims[np.arange(sims.shape[0]), np.arange(start, start + sims.shape[0])] = -np.inf
        nearest[start : start + _BLOCK] = sims.argmax(axis=1)
    result = {}
    for level in range(1, LEVELS + 1):
        matrix = labels._directed[level]
        hits = (matrix * matrix[nearest]).sum(axis=1) > 0
        result[f"level_{level}"] = float(hits.mean())
    return result


def hierarchy_metrics(
    vectors: np.ndarray, examples: Sequence[HivesExample], *, max_queries: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Every metric above. `vectors[i]` is the unit vector of the i-th distinct text of `examples`, in order of
    first appearance (`TextLabels(examples).text_ids`)."""
    labels = TextLabels(examples)
    if vectors.shape[0] != len(labels):
        raise ValueError(f"{vectors.shape[0]} vectors for {len(labels)} distinct texts")
    metrics = ranking_and_correlation(vectors, labels, max_queries=max_queries, seed=seed)
    metrics.update(orthogonality(vectors, labels))
    metrics["knn_acc"] = nearest_neighbour_accuracy(vectors, labels)
    metrics["n_texts"] = len(labels)
    return metrics


def distinct_texts(examples: Sequence[HivesExample]) -> list[str]:
    """The texts to embed for `hierarchy_metrics`, in the order it expects."""
    seen: dict[int | str, str] = {}
    for example in examples:
        seen.setdefault(example.text_id, example.text)
    return list(seen.values())
