"""fit(): the backends agree, the prior makes any data fittable, warm starts pay, anchors hold, intervals cover."""

import numpy as np
import pytest

from modeling.ml.plackett_luce import ComparisonData, choose_backend, fit
from modeling.ml.plackett_luce.simulate import (
    simulate_best_worst,
    simulate_pairs,
    simulate_rankings,
    true_utilities,
)

TRUTH = true_utilities(60, seed=7)


@pytest.fixture(scope="module")
def pairs() -> ComparisonData:
    return simulate_pairs(TRUTH, 900, seed=1)


@pytest.fixture(scope="module")
def lists() -> ComparisonData:
    return simulate_rankings(TRUTH, 300, 4, seed=2)


def test_all_backends_reach_the_same_optimum_on_pairs(pairs):
    results = {backend: fit(pairs, backend=backend, tol=1e-8) for backend in ("choix", "newman", "lbfgs")}
    reference = results["choix"].utilities
    for backend, result in results.items():
        assert result.backend == backend
        np.testing.assert_allclose(result.utilities, reference, atol=1e-4, err_msg=backend)
        assert result.log_likelihood == pytest.approx(results["choix"].log_likelihood, abs=1e-6)
    assert results["choix"].converged and results["newman"].converged


def test_choix_and_lbfgs_reach_the_same_optimum_on_rankings_and_weights(lists):
    weighted = ComparisonData.concat(lists, ComparisonData.from_rankings(60, [[0, 1, 2], [3, 4, 5]], weights=[2, 3]))
    by_choix = fit(weighted, backend="choix", tol=1e-8)
    by_lbfgs = fit(weighted, backend="lbfgs", tol=1e-6)
    assert by_lbfgs.converged
    np.testing.assert_allclose(by_lbfgs.utilities, by_choix.utilities, atol=1e-4)


def test_non_integer_prior_and_weights_still_match_choix_on_pairs(pairs):
    weighted = ComparisonData.concat(pairs, ComparisonData.from_pairs(60, [0, 5], [9, 2], weights=[0.5, 2.5]))
    by_choix = fit(weighted, backend="choix", prior_strength=0.5, tol=1e-9)
    by_newman = fit(weighted, backend="newman", prior_strength=0.5, tol=1e-9)
    np.testing.assert_allclose(by_newman.utilities, by_choix.utilities, atol=1e-4)


def test_the_fit_recovers_the_generating_order():
    truth = true_utilities(200, seed=3)
    for data in (
        simulate_pairs(truth, 4000, seed=4),
        simulate_rankings(truth, 1500, 4, seed=5),
        simulate_best_worst(truth, 1500, 5, seed=6),
        simulate_rankings(truth, 1500, 4, seed=7, tie_strength=0.6),
    ):
        result = fit(data)
        assert np.corrcoef(np.argsort(np.argsort(result.utilities)), np.argsort(np.argsort(truth)))[0, 1] > 0.9


def test_the_davidson_tie_parameter_is_estimated():
    truth = true_utilities(100, seed=8)
    result = fit(simulate_pairs(truth, 6000, seed=9, tie_strength=0.8))
    assert result.backend == "lbfgs" and "ties" in result.backend_reason
    assert result.tie_parameter == pytest.approx(0.8, rel=0.15)
    fixed = fit(simulate_pairs(truth, 600, seed=9, tie_strength=0.8), tie_strength=0.8)
    assert fixed.tie_parameter == pytest.approx(0.8)


def test_the_tie_parameter_of_lists_with_ties_is_estimated():
    result = fit(simulate_rankings(true_utilities(100, seed=14), 2000, 3, seed=15, tie_strength=1.5))
    assert result.tie_parameters.keys() == {2} and result.tie_parameter == pytest.approx(1.5, rel=0.15)


def test_before_any_judgment_every_item_sits_at_the_prior():
    result = fit(ComparisonData.from_orderings(4, []))
    assert result.utilities.tolist() == [0.0] * 4 and result.converged and result.iterations == 0
    np.testing.assert_allclose(result.se, np.sqrt(2.0))  # two virtual comparisons at even odds: information 1/2


def test_disconnected_data_and_unseen_items_fit_thanks_to_the_prior():
    # Items 0–2 and 3–5 are never compared across groups; 6 is never compared at all; 0 never loses.
    data = ComparisonData.from_orderings(7, [((0,), (1,)), ((1,), (2,)), ((0,), (2,)), ((3,), (4,)), ((5,), (4,))])
    for backend in ("choix", "newman", "lbfgs"):
        result = fit(data, backend=backend, tol=1e-7)
        assert np.isfinite(result.utilities).all() and np.isfinite(result.se).all()
        assert result.utilities[0] > result.utilities[1] > result.utilities[2]
        assert result.utilities[6] == pytest.approx(0.0, abs=1e-6)  # the phantom's place: no evidence either way
        assert result.se[6] == pytest.approx(np.sqrt(2.0), rel=1e-3)  # the prior alone: 2 virtual comparisons


def test_without_prior_or_anchors_the_fit_is_refused(pairs):
    with pytest.raises(ValueError, match="no gauge"):
        fit(pairs, prior_strength=0)


def test_a_warm_start_converges_in_fewer_iterations():
    truth = true_utilities(3000, seed=10)
    base = simulate_pairs(truth, 30000, seed=11)
    grown = ComparisonData.concat(base, simulate_pairs(truth, 300, seed=12))
    for backend in ("newman", "lbfgs"):
        cold = fit(base, backend=backend, compute_se=False)
        warm = fit(grown, backend=backend, init=cold, compute_se=False)
        assert warm.converged
        assert warm.iterations < cold.iterations, backend


def test_a_warm_start_may_cover_fewer_items_than_a_grown_pool(pairs):
    earlier = fit(pairs)
    grown = ComparisonData.concat(pairs, ComparisonData.from_pairs(62, [60, 61], [0, 60]))
    result = fit(grown, init=earlier)
    assert result.utilities.shape == (62,) and result.utilities[61] > result.utilities[60]  # 61 beat 60


@pytest.mark.parametrize("data_fixture", ["pairs", "lists"])
def test_anchors_held_fixed_stay_fixed(data_fixture, request):
    data = request.getfixturevalue(data_fixture)
    anchors = {0: 1.5, 7: -0.5}
    result = fit(data, fixed=anchors)
    assert result.backend in {"newman", "lbfgs"} and result.fixed == anchors
    assert result.utilities[0] == 1.5 and result.utilities[7] == -0.5
    assert result.se[0] == 0.0 and result.se[7] == 0.0 and (np.delete(result.se, [0, 7]) > 0).all()


def test_one_new_text_scored_against_fixed_anchors_recovers_its_utility():
    anchors = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    true_new = 0.7
    truth = np.append(anchors, true_new)  # item 5 is the new text
    rng = np.random.default_rng(13)
    windows = np.tile(np.arange(6), (400, 1))
    order = np.argsort(-(truth[windows] + rng.gumbel(size=windows.shape)), axis=1)
    data = ComparisonData.from_rankings(6, np.take_along_axis(windows, order, axis=1))
    result = fit(data, fixed=dict(enumerate(anchors)))
    assert result.backend == "lbfgs"
    assert result.utilities[:5].tolist() == anchors.tolist()
    assert abs(result.utilities[5] - true_new) < 3 * result.se[5] and result.se[5] < 0.1


def test_95_percent_intervals_cover_about_95_percent_of_true_utilities():
    coverages = {"exact": [], "diagonal": []}
    for seed in range(2):
        truth = true_utilities(400, seed=20 + seed)
        data = simulate_pairs(truth, 8000, seed=30 + seed)
        for method, exact_limit in (("exact", 2000), ("diagonal", 0)):
            result = fit(data, se_exact_max_items=exact_limit)
            assert result.se_method == method
            coverages[method].append(np.mean(np.abs(result.utilities - truth) <= 1.96 * result.se))
    for method, values in coverages.items():
        assert 0.90 <= np.mean(values) <= 0.98, (method, values)


def test_auto_backend_follows_the_data(pairs, lists):
    ties = ComparisonData.from_orderings(60, [((0, 1),)], max_tie_size=2)
    best_worst = simulate_best_worst(TRUTH, 50, 4, seed=3)
    assert choose_backend(pairs)[0] == "choix"
    assert choose_backend(lists)[0] == "choix"
    big_pool = ("newman", "strict pairwise data; 60 items > choix_max_items=50")
    assert choose_backend(pairs, choix_max_items=50) == big_pool
    assert choose_backend(lists, choix_max_items=50)[0] == "lbfgs"
    assert choose_backend(pairs, fixed={0: 0.0})[0] == "newman"
    assert choose_backend(ties)[0] == "lbfgs" and "ties" in choose_backend(ties)[1]
    assert choose_backend(best_worst)[0] == "lbfgs" and "best–worst" in choose_backend(best_worst)[1]
    with pytest.raises(ValueError, match="choix backend cannot fit these data: judgments from a protocol that allows"):
        fit(ties, backend="choix")
    with pytest.raises(ValueError, match="Newman's iteration fits strict pairwise judgments only"):
        fit(lists, backend="newman")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "magic"}, "backend must be one of auto, choix, newman, lbfgs"),
        ({"prior_strength": -1}, "prior_strength must be a finite number ≥ 0"),
        ({"fixed": {99: 0.0}}, "fixed: anchor 99 is not an item index in 0..59"),
        ({"fixed": {1: float("nan")}}, "fixed: anchor 1 has utility nan"),
        ({"init": np.zeros(61)}, "init: 61 utilities for a pool of 60 items"),
        ({"init": np.full(60, np.inf)}, "init: item 0 has utility inf"),
        ({"tie_strength": 0.0}, "tie_strength must be a positive number"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(pairs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(pairs, **kwargs)


def test_summary_is_json_friendly(pairs):
    import json

    summary = fit(pairs).summary()
    assert json.loads(json.dumps(summary))["backend"] == "choix" and summary["n_judgments"] == 900
