"""The evaluator in simulation (a judge ranking by true intensity with logistic noise, k = 6, m = 3): the issue's
targets — mean absolute error ≤ 1 point, 95 % interval coverage ≥ 90 % — and why the scale is estimated: against a
noisier judge the reference's fixed 1:1 scale loses its coverage while the estimated scale keeps it."""

import pytest

from modeling.ml.evaluator.simulate import LogisticJudge, SimulationSettings, noise_for_agreement, simulate_evaluator

pytestmark = pytest.mark.slow


def test_the_default_judge_meets_the_accuracy_and_coverage_targets():
    outcome = simulate_evaluator(SimulationSettings(responses=250, noise=0.7071, anchor_error=0.5, seed=11))
    assert outcome.mae <= 1.0 and outcome.coverage >= 0.9
    assert 0.7 < outcome.scale < 1.0  # the judge's noise and the anchors' error make it softer than 1:1


def test_against_a_noisier_judge_only_the_estimated_scale_keeps_its_coverage():
    outcome = simulate_evaluator(SimulationSettings(responses=250, noise=1.5, anchor_error=0.5, seed=12))
    assert outcome.coverage >= 0.9
    assert outcome.coverage_fixed_scale < 0.8
    assert outcome.mean_ci_width > outcome.mean_ci_width_fixed_scale


def test_the_noise_for_a_pairwise_agreement_round_trips():
    noise = noise_for_agreement(0.85)
    assert LogisticJudge(noise).pairwise_agreement(pairs=50_000) == pytest.approx(0.85, abs=0.01)
