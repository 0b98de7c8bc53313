"""Annotator reliability and side bias estimated jointly with the intensities: known temperatures and biases are
recovered with honest standard errors, bad annotators lose their weight so the fit matches an honest-only fit, a
uniform crowd is left as it was, and the confidence rule flags the bad and spares the honest."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from modeling.ml import plackett_luce as pl
from modeling.ml.agreement import data_subset
from modeling.ml.plackett_luce.simulate import simulate_best_worst, simulate_rankings
from modeling.ml.reliability import (
    AnnotatorLayout,
    annotator_step,
    fit_with_reliability,
    simulate_crowd_pairs,
)


def _truth(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-4.0, 4.0, size=n)


def test_the_annotator_step_recovers_known_reliabilities_and_side_biases_with_honest_intervals():
    theta = _truth(200)
    crowd = simulate_crowd_pairs(
        theta, 12000, n_annotators=40, spammer_share=0.25, adversarial_share=0.25, side_bias_sd=0.8, seed=1
    )

    r, b, se_r, se_b = annotator_step(crowd.data, theta, crowd.layout)

    assert np.all(se_r > 0) and np.all(se_b > 0)
    for kind, expected in (("honest", 1.0), ("spammer", 0.0), ("adversarial", -1.0)):
        mine = crowd.kinds == kind
        assert abs(np.mean(r[mine]) - expected) < 0.12, kind
    # the 95 % intervals cover the true values for nearly every annotator
    assert np.mean(np.abs(r - crowd.true_reliability) <= 1.96 * se_r) >= 0.85
    assert np.mean(np.abs(b - crowd.true_side_bias) <= 1.96 * se_b) >= 0.85
    assert np.corrcoef(b, crowd.true_side_bias)[0, 1] > 0.9


def test_reliability_weighting_makes_a_mixed_crowd_fit_like_the_honest_annotators_alone():
    theta = _truth(400, seed=2)
    crowd = simulate_crowd_pairs(
        theta, 3000, n_annotators=30, spammer_share=0.2, adversarial_share=0.1, side_bias_sd=0.3, seed=3
    )
    honest = crowd.kinds == "honest"

    fitted = fit_with_reliability(crowd.data, crowd.layout, choix_max_items=0)
    honest_only = pl.fit(data_subset(crowd.data, honest[crowd.layout.judgment_annotator]), choix_max_items=0)
    unweighted = pl.fit(crowd.data, choix_max_items=0)

    rho = {name: spearmanr(u, theta).statistic for name, u in (
        ("weighted", fitted.result.utilities), ("honest", honest_only.utilities), ("plain", unweighted.utilities))}
    assert rho["honest"] - rho["weighted"] <= 0.02
    assert rho["weighted"] - rho["plain"] > 0.05  # without reliability the bad annotators cost real accuracy
    estimates = fitted.estimates
    assert np.all(estimates.weight[~honest] < 0.4) and np.median(estimates.weight[honest]) == pytest.approx(1, abs=0.15)
    assert fitted.converged and fitted.result.se is not None
    flagged = estimates.confidently_below(0.5)
    assert flagged[~honest].all() and not flagged[honest].any()


def test_a_crowd_of_equally_reliable_annotators_keeps_the_unweighted_fit():
    theta = _truth(100, seed=4)
    crowd = simulate_crowd_pairs(theta, 1500, n_annotators=5, seed=5)

    fitted = fit_with_reliability(crowd.data, crowd.layout, choix_max_items=0)
    plain = pl.fit(crowd.data, choix_max_items=0)

    estimates = fitted.estimates
    # every annotator within sampling error of the consensus, 1 by definition for the median one
    assert np.all(np.abs(estimates.reliability - 1.0) <= 3 * estimates.reliability_se)
    assert np.median(estimates.reliability) == pytest.approx(1.0, abs=0.01)
    assert np.allclose(estimates.weight, estimates.reliability, atol=0.01)
    assert np.corrcoef(fitted.result.utilities, plain.utilities)[0, 1] > 0.995


def test_an_annotator_without_judgments_keeps_the_prior():
    theta = _truth(30, seed=6)
    crowd = simulate_crowd_pairs(theta, 300, n_annotators=3, seed=7)
    layout = AnnotatorLayout(crowd.layout.judgment_annotator, crowd.layout.judgment_first, n_annotators=4)

    r, b, se_r, se_b = annotator_step(crowd.data, theta, layout, prior_sd_reliability=0.5, prior_sd_bias=1.0)

    assert (r[3], b[3], se_r[3], se_b[3]) == pytest.approx((1.0, 0.0, 0.5, 1.0))


def test_lists_with_ties_and_best_worst_tuples_measure_their_annotators_too():
    theta = _truth(60, seed=8)
    careful = simulate_rankings(theta, 600, 4, tie_strength=0.3, seed=9)
    careless = simulate_rankings(np.zeros_like(theta), 600, 4, tie_strength=0.3, seed=10)  # ignores the texts
    best_worst = simulate_best_worst(theta, 600, 4, seed=11)
    data = pl.ComparisonData.concat(careful, careless, best_worst)
    annotator = np.repeat([0, 1, 2], 600)
    first = np.full(data.n_judgments, -1)  # the order shown is unknown here: no side bias to measure
    layout = AnnotatorLayout(annotator, first, n_annotators=3)

    fitted = fit_with_reliability(data, layout)

    estimates = fitted.estimates
    assert fitted.result.backend == "lbfgs" and 2 in fitted.result.tie_parameters
    assert abs(estimates.reliability[1]) < 0.15 and estimates.weight[1] < 0.15
    assert estimates.reliability[0] > 0.8 and estimates.reliability[2] > 0.8
    assert np.all(estimates.side_bias == 0.0) and np.all(estimates.reliability_se < 0.15)
    assert spearmanr(fitted.result.utilities, theta).statistic > spearmanr(pl.fit(data).utilities, theta).statistic


def test_adjudications_keep_their_weight_whatever_the_reliability():
    theta = _truth(40, seed=12)
    crowd = simulate_crowd_pairs(theta, 800, n_annotators=4, spammer_share=0.25, seed=13)
    winners, losers, _ = crowd.data.pairs()
    spammer = int(np.flatnonzero(crowd.kinds == "spammer")[0])
    # the researcher (annotator 4) decided the 40 pairs the spammer answered first, at weight 5
    by_spammer = np.flatnonzero(crowd.layout.judgment_annotator == spammer)[:40]
    first, second = winners[by_spammer], losers[by_spammer]
    truth_winner = np.where(theta[first] > theta[second], first, second)
    truth_loser = first + second - truth_winner
    data = pl.ComparisonData.from_pairs(
        40, np.concatenate([winners, truth_winner]), np.concatenate([losers, truth_loser]),
        weights=np.concatenate([np.ones(winners.size), np.full(40, 5.0)]),
    )
    annotator = np.concatenate([crowd.layout.judgment_annotator, np.full(40, 4)])
    layout = AnnotatorLayout(
        annotator, np.concatenate([crowd.layout.judgment_first, np.full(40, -1)]), 5,
        fixed_weight=np.arange(data.n_judgments) >= winners.size,
    )

    fitted = fit_with_reliability(data, layout, choix_max_items=0)

    stage_weights = fitted.weighted_data.stage_weight
    assert np.all(stage_weights[winners.size:] == 5.0)
    assert np.all(stage_weights[: winners.size][crowd.layout.judgment_annotator == spammer] < 0.5)
    assert fitted.estimates.n_judgments[4] == 40 and np.isfinite(fitted.estimates.reliability[4])


def test_a_layout_that_does_not_match_the_data_is_refused_clearly():
    theta = _truth(10, seed=14)
    crowd = simulate_crowd_pairs(theta, 50, n_annotators=2, seed=15)
    short = AnnotatorLayout(crowd.layout.judgment_annotator[:10], crowd.layout.judgment_first[:10], 2)
    with pytest.raises(ValueError, match="10 annotators given for 50 judgments"):
        fit_with_reliability(crowd.data, short)
    with pytest.raises(ValueError, match="annotator indices must lie in 0..0"):
        AnnotatorLayout(np.array([0, 1]), np.array([0, 0]), 1)
