"""The HiVES judge: ridge heads recover a linear intensity, rank evaluator windows, report out-of-fold agreement,
and survive a save/load round trip."""

import numpy as np
import pytest

from modeling.ml.hives.judge import HivesJudge, cross_validated_agreement, fit_ridge, pairwise_agreement


def scored_texts(n: int = 60, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    direction = rng.normal(size=dim)
    intensities = np.clip(12 * vectors @ direction / np.linalg.norm(direction), -10, 10)
    return vectors, intensities


def test_ridge_recovers_a_linear_intensity():
    vectors, intensities = scored_texts()
    head = fit_ridge(vectors, intensities, alpha=1e-3)
    assert np.corrcoef(head.predict(vectors), intensities)[0, 1] > 0.99
    assert head.predict(vectors).max() <= 10 and head.predict(vectors).min() >= -10


def test_the_kernel_form_handles_fewer_texts_than_dimensions():
    vectors, intensities = scored_texts(n=10, dim=40)
    head = fit_ridge(vectors, intensities, alpha=0.1)
    assert head.weights.shape == (40,)
    assert pairwise_agreement(head.predict(vectors), intensities) > 0.9


def test_a_window_is_ranked_from_most_supporting_to_most_opposing():
    vectors, intensities = scored_texts()
    judge = HivesJudge()
    judge.fit_value("svt:benevolence", vectors, intensities, alpha=1e-3)
    window = [3, 17, 29, 41, 52, 8]
    order = judge.rank_window("svt:benevolence", vectors[window])
    assert [window[i] for i in order] == sorted(window, key=lambda i: -intensities[i])
    with pytest.raises(KeyError, match="no regressor for 'mft:care-harm'"):
        judge.predict("mft:care-harm", vectors)


def test_out_of_fold_agreement_is_high_for_a_learnable_value_and_chance_for_noise():
    vectors, intensities = scored_texts(n=80)
    good = cross_validated_agreement(vectors, intensities, alpha=1e-2)
    assert good["pairwise"] > 0.9 and good["n"] == 80
    noise = np.random.default_rng(5).uniform(-10, 10, size=80)
    assert cross_validated_agreement(vectors, noise)["pairwise"] < 0.65


def test_pairwise_agreement_counts_ties_as_half():
    assert pairwise_agreement(np.array([1.0, 1.0]), np.array([0.0, 5.0])) == 0.5
    assert pairwise_agreement(np.array([3.0, 1.0, 2.0]), np.array([3.0, 1.0, 2.0])) == 1.0


def test_the_judge_survives_a_save_and_load(tmp_path):
    vectors, intensities = scored_texts()
    judge = HivesJudge()
    judge.fit_value("svt:benevolence", vectors, intensities)
    judge.fit_value("duties:justice", vectors, -intensities)
    judge.save(tmp_path / "judge.npz")
    loaded = HivesJudge.load(tmp_path / "judge.npz")
    for value in ("svt:benevolence", "duties:justice"):
        assert np.allclose(loaded.predict(value, vectors), judge.predict(value, vectors))
