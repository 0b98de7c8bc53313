"""The exact likelihood: closed forms for each judgment type, gradients and information against finite differences."""

import numpy as np
import pytest

from modeling.ml.plackett_luce import ComparisonData, evaluate, information_matrix, log_likelihood
from modeling.ml.plackett_luce.likelihood import log_delta_array

THETA = np.array([0.3, -1.2, 0.8, 0.0, 2.1, -0.4])


def _lse(*values: float) -> float:
    return float(np.log(np.sum(np.exp(values))))


def test_a_pair_is_bradley_terry():
    data = ComparisonData.from_orderings(6, [((0,), (1,))])
    assert log_likelihood(data, THETA) == pytest.approx(THETA[0] - _lse(THETA[0], THETA[1]))


def test_a_tie_and_a_win_under_davidson():
    nu = 0.7
    data = ComparisonData.from_orderings(6, [((0, 1),), ((2,), (3,))], max_tie_size=2)
    denominator_01 = _lse(THETA[0], THETA[1], np.log(nu) + (THETA[0] + THETA[1]) / 2)
    denominator_23 = _lse(THETA[2], THETA[3], np.log(nu) + (THETA[2] + THETA[3]) / 2)
    expected = (np.log(nu) + (THETA[0] + THETA[1]) / 2 - denominator_01) + (THETA[2] - denominator_23)
    assert log_likelihood(data, THETA, nu) == pytest.approx(expected)


def test_a_strict_list_is_plackett_luce():
    data = ComparisonData.from_orderings(6, [((4,), (0,), (5,), (1,))])
    t = THETA
    expected = (t[4] - _lse(t[4], t[0], t[5], t[1])) + (t[0] - _lse(t[0], t[5], t[1])) + (t[5] - _lse(t[5], t[1]))
    assert log_likelihood(data, THETA) == pytest.approx(expected)


def test_a_top_k_ranking_keeps_unranked_items_in_the_choice_sets():
    data = ComparisonData.from_orderings(6, [((4,), (0,))], shown=[[0, 1, 4, 5]])
    t = THETA
    expected = (t[4] - _lse(t[4], t[0], t[5], t[1])) + (t[0] - _lse(t[0], t[5], t[1]))
    assert log_likelihood(data, THETA) == pytest.approx(expected)


def test_best_worst_is_sequential():
    data = ComparisonData.from_best_worst(6, [(2, 1, [1, 2, 3, 5])])
    t = THETA
    expected = (t[2] - _lse(t[2], t[1], t[3], t[5])) + (-t[1] - _lse(-t[1], -t[3], -t[5]))
    assert log_likelihood(data, THETA) == pytest.approx(expected)


def test_weights_scale_their_judgments():
    single = ComparisonData.from_orderings(6, [((0,), (1,))])
    weighted = ComparisonData.from_orderings(6, [((0,), (1,))], weights=[2.5])
    assert log_likelihood(weighted, THETA) == pytest.approx(2.5 * log_likelihood(single, THETA))


MIXED = {
    "pairs": lambda: ComparisonData.from_pairs(6, [0, 2, 4, 1], [1, 3, 5, 0], weights=[1, 2, 0.5, 1]),
    "pairs with ties": lambda: ComparisonData.from_orderings(
        6, [((0,), (1,)), ((2, 3),), ((4,), (5,)), ((1, 5),)], max_tie_size=2
    ),
    "lists with ties": lambda: ComparisonData.from_orderings(
        6, [((1,), (4, 2), (0,)), ((5, 3, 0),), ((2,), (1,), (3, 4))], max_tie_size=3
    ),
    "best-worst": lambda: ComparisonData.from_best_worst(6, [(2, 1, [1, 2, 3, 5]), (0, 4, [0, 4, 5]), (3, 5, [3, 5])]),
    "top-k and lists": lambda: ComparisonData.concat(
        ComparisonData.from_orderings(6, [((4,), (0,))], shown=[[0, 1, 4, 5]]),
        ComparisonData.from_rankings(6, [[5, 2, 0], [1, 3, 4]], weights=[1.0, 3.0]),
    ),
}


@pytest.mark.parametrize("kind", MIXED)
def test_gradient_matches_finite_differences(kind):
    data = MIXED[kind]()
    log_delta = log_delta_array(data, {2: 0.6, 3: 0.3})
    result = evaluate(data, THETA, log_delta, information_diagonal=True)
    h = 1e-6
    numeric = np.zeros_like(THETA)
    for i in range(THETA.size):
        step = np.zeros_like(THETA)
        step[i] = h
        numeric[i] = (
            evaluate(data, THETA + step, log_delta, gradient=False).log_likelihood
            - evaluate(data, THETA - step, log_delta, gradient=False).log_likelihood
        ) / (2 * h)
    np.testing.assert_allclose(result.gradient, numeric, atol=1e-7)
    for t in data.tie_sizes:
        step = np.zeros_like(log_delta)
        step[t] = h
        numeric_tie = (
            evaluate(data, THETA, log_delta + step, gradient=False).log_likelihood
            - evaluate(data, THETA, log_delta - step, gradient=False).log_likelihood
        ) / (2 * h)
        assert result.tie_gradient[t] == pytest.approx(numeric_tie, abs=1e-7)


@pytest.mark.parametrize("kind", MIXED)
def test_information_is_minus_the_hessian(kind):
    data = MIXED[kind]()
    log_delta = log_delta_array(data, {2: 0.6, 3: 0.3})
    h = 1e-5
    numeric = np.zeros((THETA.size, THETA.size))
    for i in range(THETA.size):
        step = np.zeros_like(THETA)
        step[i] = h
        numeric[:, i] = -(
            evaluate(data, THETA + step, log_delta).gradient - evaluate(data, THETA - step, log_delta).gradient
        ) / (2 * h)
    matrix = information_matrix(data, THETA, log_delta).toarray()
    np.testing.assert_allclose(matrix, numeric, atol=1e-7)
    result = evaluate(data, THETA, log_delta, information_diagonal=True)
    np.testing.assert_allclose(result.information_diagonal, np.diag(matrix), atol=1e-12)
    for t in data.tie_sizes:
        step = np.zeros_like(log_delta)
        step[t] = h
        numeric_tie = -(
            evaluate(data, THETA, log_delta + step).tie_gradient[t]
            - evaluate(data, THETA, log_delta - step).tie_gradient[t]
        ) / (2 * h)
        assert result.tie_information[t] == pytest.approx(numeric_tie, abs=1e-7)


def test_extreme_utilities_stay_finite():
    data = ComparisonData.from_rankings(3, [[0, 1, 2]])
    # a wild line-search point: exp overflows unshifted, and the last stage underflows after a global shift
    theta = np.array([900.0, 0.0, -900.0])
    result = evaluate(data, theta, information_diagonal=True)
    assert np.isfinite(result.log_likelihood) and np.isfinite(result.gradient).all()
    assert result.log_likelihood == pytest.approx(0.0, abs=1e-9)
