"""HiVES metrics on constructed embeddings: a space that follows the hierarchy scores high, a random one near chance,
and each metric reacts to the structure it is meant to measure."""

import numpy as np
import pytest

from modeling.ml.hives.data import OPPOSES, SUPPORTS, HivesExample
from modeling.ml.hives.metrics import TextLabels, hierarchy_metrics, nearest_neighbour_accuracy, orthogonality

# Two level-1 branches, each with two level-2 values, each with two leaves: 8 leaves × 2 directions × 4 texts.
LEAVES = [(a, b, c) for a in ("A", "B") for b in ("1", "2") for c in ("x", "y")]


def hierarchical_space(noise: float = 0.02, seed: int = 0) -> tuple[np.ndarray, list[HivesExample]]:
    """Unit vectors built as a sum of one direction per level (and one per direction), plus a little noise."""
    rng = np.random.default_rng(seed)
    dim = 64
    basis: dict[tuple, np.ndarray] = {}

    def direction(key: tuple) -> np.ndarray:
        if key not in basis:
            basis[key] = rng.normal(size=dim) / np.sqrt(dim)
        return basis[key]

    vectors: list[np.ndarray] = []
    examples: list[HivesExample] = []
    for a, b, c in LEAVES:
        for sign in (SUPPORTS, OPPOSES):
            for _ in range(4):
                vector = (
                    3.0 * direction((a,)) + 2.0 * direction((a, b)) + 1.5 * direction((a, b, c))
                    + 1.0 * direction((a, b, c, sign)) + noise * rng.normal(size=dim)
                )
                vectors.append(vector / np.linalg.norm(vector))
                path = (f"t:{a}", f"t:{a}{b}", f"t:{a}{b}{c}")
                examples.append(HivesExample(text_id=len(examples), text="", theory="t", path=path, direction=sign))
    return np.asarray(vectors, dtype=np.float32), examples


def test_a_space_that_follows_the_hierarchy_scores_high():
    vectors, examples = hierarchical_space()
    metrics = hierarchy_metrics(vectors, examples)
    assert metrics["rank_acc"] > 0.95
    assert metrics["sim_corr"] > 0.9
    assert metrics["knn_acc"] == {"level_1": 1.0, "level_2": 1.0, "level_3": 1.0}
    assert metrics["n_texts"] == len(examples)
    assert set(metrics["rank_acc_by_bin_pair"]) == {f"{a}>{b}" for a in range(1, 6) for b in range(a + 1, 6)}


def test_a_random_space_scores_near_chance():
    vectors, examples = hierarchical_space()
    rng = np.random.default_rng(1)
    random = rng.normal(size=vectors.shape).astype(np.float32)
    random /= np.linalg.norm(random, axis=1, keepdims=True)
    metrics = hierarchy_metrics(random, examples)
    assert 0.35 < metrics["rank_acc"] < 0.65
    assert abs(metrics["sim_corr"]) < 0.2


def test_bins_follow_the_best_relation_over_label_pairs():
    path_a, path_b = ("t:A", "t:A1", "t:A1x"), ("t:A", "t:A1", "t:A1y")
    examples = [
        HivesExample(text_id=1, text="", theory="t", path=path_a, direction=SUPPORTS),
        HivesExample(text_id=2, text="", theory="t", path=path_b, direction=SUPPORTS),
        HivesExample(text_id=2, text="", theory="t", path=path_a, direction=OPPOSES),
        HivesExample(text_id=3, text="", theory="t", path=("t:B", "t:B1", "t:B1x"), direction=SUPPORTS),
    ]
    bins, target = TextLabels(examples).relations(np.asarray([0]))
    # Text 2 shares text 1's full path with the opposite direction (bin 2) — closer than its levels-1–2 match.
    assert bins[0].tolist() == [0, 1, 4]
    assert target[0].tolist() == [3.5, 3.0, 0.5]


def test_orthogonality_rewards_separate_value_vectors():
    vectors, examples = hierarchical_space()
    separate = orthogonality(vectors, TextLabels(examples))
    assert separate["orthogonality"] > 0.5
    assert set(separate["orthogonality_per_theory"]) == {"t"}
    # Every value told apart along one shared axis (supporting texts +k·u, opposing −k·u): parallel value vectors.
    rng = np.random.default_rng(2)
    centre, axis = rng.normal(size=64), rng.normal(size=64)
    leaf_strength = {leaf: 0.5 + i for i, leaf in enumerate(LEAVES)}
    parallel = np.asarray(
        [centre + e.direction * leaf_strength[tuple(p[-1] for p in e.path)] * axis for e in examples]
    )
    parallel /= np.linalg.norm(parallel, axis=1, keepdims=True)
    collapsed = orthogonality(parallel.astype(np.float32), TextLabels(examples))["orthogonality"]
    assert collapsed < 0.05 < separate["orthogonality"] <= 1.0


def test_nearest_neighbour_accuracy_falls_at_the_finest_level_first():
    vectors, examples = hierarchical_space()
    labels = TextLabels(examples)
    # Merge the two leaves of one level-2 value: levels 1–2 still right, level 3 wrong for those texts.
    merged = vectors.copy()
    x_rows = [i for i, e in enumerate(examples) if e.path[2] == "t:A1x"]
    y_rows = [i for i, e in enumerate(examples) if e.path[2] == "t:A1y"]
    merged[x_rows] = vectors[y_rows]  # each A1x text becomes a copy of an A1y text with the same direction
    knn = nearest_neighbour_accuracy(merged, labels)
    assert knn["level_1"] == knn["level_2"] == 1.0
    assert knn["level_3"] == pytest.approx(1 - len(x_rows + y_rows) / len(examples))


def test_metrics_refuse_vectors_that_do_not_match_the_texts():
    vectors, examples = hierarchical_space()
    with pytest.raises(ValueError, match="vectors for"):
        hierarchy_metrics(vectors[:-1], examples)
