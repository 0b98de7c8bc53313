"""Agreement figures of a fit: subsets of the judgment arrays, split-half reliability, pairwise preferences and each
annotator's agreement with a consensus, LLM–human agreement, and the influence-based fragility of the top 10."""

import numpy as np
import pytest

from modeling.ml import plackett_luce as pl
from modeling.ml.agreement import (
    annotator_agreement,
    data_subset,
    fragility,
    judgment_influence_on,
    llm_human_agreement,
    spearman_brown,
    split_half_reliability,
    strict_preferences,
)
from modeling.ml.plackett_luce.simulate import simulate_best_worst, simulate_pairs, simulate_rankings
from modeling.ml.reliability import simulate_crowd_pairs


def _truth(n: int, seed: int = 0, spread: float = 4.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-spread, spread, size=n)


def test_a_subset_holds_exactly_the_chosen_judgments_of_every_shape():
    theta = _truth(30)
    data = pl.ComparisonData.concat(
        simulate_pairs(theta, 100, seed=1),
        simulate_rankings(theta, 100, 4, tie_strength=0.4, seed=2),
        simulate_best_worst(theta, 100, 5, seed=3),
    )
    keep = np.random.default_rng(4).random(data.n_judgments) < 0.4
    point = np.random.default_rng(5).normal(size=30)
    ties = {2: 0.4}

    chosen, rest = data_subset(data, keep), data_subset(data, ~keep)

    assert (chosen.n_judgments, rest.n_judgments) == (keep.sum(), (~keep).sum())
    assert chosen.n_stages + rest.n_stages == data.n_stages
    total = pl.log_likelihood(data, point, ties)
    assert pl.log_likelihood(chosen, point, ties) + pl.log_likelihood(rest, point, ties) == pytest.approx(total)
    with pytest.raises(ValueError, match="one flag per judgment"):
        data_subset(data, keep[:-1])


def test_split_half_reliability_is_high_with_plenty_of_judgments_and_lower_with_few():
    theta = _truth(100, seed=6)
    plenty = split_half_reliability(simulate_pairs(theta, 4000, seed=7), n_splits=3, choix_max_items=0)
    few = split_half_reliability(simulate_pairs(theta, 300, seed=8), n_splits=3, choix_max_items=0)

    assert plenty["reliability"] > 0.95 and len(plenty["splits"]) == 3
    assert few["reliability"] < plenty["reliability"]
    assert plenty["reliability"] == pytest.approx(spearman_brown(plenty["half_correlation"]), abs=0.02)
    assert split_half_reliability(simulate_pairs(theta, 1, seed=9)) is None


def test_rankings_ties_and_best_worst_state_the_strict_preferences_they_imply():
    ranking = pl.ComparisonData.from_orderings(5, [((0,), (1, 2), (3,)), ((4, 3),)], max_tie_size=2)
    winners, losers, judgment = strict_preferences(ranking)
    # 0 above 1, 2, 3 and the tied 1 and 2 above 3; nothing between tied texts, and a tie alone states nothing
    pairs = list(zip(winners.tolist(), losers.tolist(), strict=True))
    assert sorted(pairs) == [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]
    assert set(judgment.tolist()) == {0}

    best_worst = pl.ComparisonData.from_best_worst(5, [(4, 0, (0, 2, 4, 1))])
    winners, losers, _ = strict_preferences(best_worst)
    assert set(zip(winners.tolist(), losers.tolist(), strict=True)) == {(4, 0), (4, 2), (4, 1), (2, 0), (1, 0)}


def test_honest_annotators_agree_with_the_consensus_and_adversaries_disagree():
    theta = _truth(80, seed=10)
    crowd = simulate_crowd_pairs(theta, 3000, n_annotators=10, adversarial_share=0.2, seed=11)

    n_pairs, agreement, tau = annotator_agreement(crowd.data, theta, crowd.layout)

    honest = crowd.kinds == "honest"
    assert n_pairs.sum() == crowd.data.n_judgments
    assert np.all(tau[honest] > 0.5) and np.all(tau[~honest] < -0.5)
    assert np.allclose(tau, 2 * agreement - 1)


def test_llm_human_agreement_compares_each_model_with_the_human_consensus():
    theta = _truth(60, seed=12)
    crowd = simulate_crowd_pairs(theta, 3000, n_annotators=6, adversarial_share=1 / 6, seed=13)
    is_llm = crowd.kinds == "adversarial"  # a model that ranks against the humans
    is_llm[np.flatnonzero(crowd.kinds == "honest")[0]] = True  # and one that ranks like them

    figures = llm_human_agreement(crowd.data, crowd.layout, is_llm, choix_max_items=0)

    by_annotator = figures["annotators"]
    assert set(by_annotator) == set(np.flatnonzero(is_llm).tolist())
    adversary = int(np.flatnonzero(crowd.kinds == "adversarial")[0])
    like_humans = int(np.flatnonzero(crowd.kinds == "honest")[0])
    assert by_annotator[adversary]["agreement"] < 0.3
    assert by_annotator[like_humans]["agreement"] == pytest.approx(figures["humans_with_their_consensus"], abs=0.08)
    assert llm_human_agreement(crowd.data, crowd.layout, np.zeros(6, dtype=bool)) is None


def test_the_influence_of_a_judgment_predicts_what_dropping_it_does():
    theta = _truth(40, seed=14, spread=1.5)
    data = simulate_pairs(theta, 400, seed=15)
    fitted = pl.fit(data, choix_max_items=0, tol=1e-10)
    direction = np.zeros(40)
    direction[[3, 7]] = (1.0, -1.0)

    influence = judgment_influence_on(data, fitted.utilities, direction, log_delta=None, prior_strength=1.0)

    actual = []
    for j in range(0, 400, 20):
        keep = np.ones(400, dtype=bool)
        keep[j] = False
        again = pl.fit(data_subset(data, keep), init=fitted, choix_max_items=0, tol=1e-10).utilities
        actual.append(direction @ again - direction @ fitted.utilities)
    assert np.corrcoef(influence[::20], actual)[0, 1] > 0.95


def test_fragility_reports_a_top_ten_that_a_few_judgments_decide_and_one_that_they_do_not():
    rng = np.random.default_rng(16)
    # a clear top ten: ten texts far above the rest, well judged; dropping the 0.1 % of judgments that hold the
    # boundary up leaves it standing (dropping 1 % targeted at two texts removes half their evidence and does not)
    clear = np.concatenate([np.full(10, 6.0), rng.uniform(-3, 0, size=90)])
    data = simulate_pairs(clear, 6000, seed=17)
    robust = fragility(data, pl.fit(data).utilities, drop_fraction=0.001, choix_max_items=0)
    assert robust["top_changed"] is False and robust["dropped"] == 6 and robust["top_overlap"] == 1.0
    assert robust["boundary_gap_after"] < robust["boundary_gap"]  # the drops aimed at the boundary
    # a crowded top: the 10th and 11th texts are indistinguishable
    crowded = np.linspace(2.0, -2.0, 100)
    data = simulate_pairs(crowded, 1500, seed=18)
    result = fragility(data, pl.fit(data).utilities, choix_max_items=0)
    assert result["top_changed"] is True
    assert result["boundary_gap_after"] < result["boundary_gap"]
    assert -1 <= result["top_kendall_tau"] <= 1
    small = simulate_pairs(crowded[:10], 50, seed=19)
    assert fragility(small, pl.fit(small).utilities) is None  # no 11th text: no top-10 boundary
