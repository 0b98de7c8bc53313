"""The budget planner: simulated random designs fitted with the real engine, searched for the smallest number of
judgments per text that meets a target."""

import pytest

from modeling.ml.planning import NOISE_SPREADS, PlanSettings, evaluate, plan

SMALL = {"n_items": 5000, "max_simulated_items": 150, "seeds": 1}


def test_a_tighter_target_needs_more_judgments_and_the_total_scales_to_the_whole_pool():
    loose = plan(PlanSettings(**SMALL, target_ci_width=8.0))
    tight = plan(PlanSettings(**SMALL, target_ci_width=5.0))

    assert loose.reachable and tight.reachable
    assert loose.judgments_per_item < tight.judgments_per_item
    # simulated on 150 texts, reported for the real pool of 5,000 pairs
    assert tight.judgments == tight.judgments_per_item * 5000 // 2
    # the answer is the smallest budget that met the target: one judgment per text less did not
    by_budget = {e.judgments_per_item: e for e in tight.evaluations}
    assert by_budget[tight.judgments_per_item].meets_target
    assert not by_budget[tight.judgments_per_item - 1].meets_target


def test_noisier_annotators_need_more_judgments_for_the_same_correlation():
    careful = plan(PlanSettings(**SMALL, spread=NOISE_SPREADS["low"], target_spearman=0.9))
    noisy = plan(PlanSettings(**SMALL, spread=NOISE_SPREADS["high"], target_spearman=0.9))

    assert careful.judgments_per_item < noisy.judgments_per_item


def test_lists_of_four_need_fewer_judgments_than_pairs():
    pairs = plan(PlanSettings(**SMALL, target_spearman=0.9))
    lists = plan(PlanSettings(**SMALL, protocol="listwise", k=4, target_spearman=0.9))
    best_worst = evaluate(PlanSettings(**SMALL, protocol="best_worst", k=4, target_spearman=0.9), 20)

    assert lists.judgments < pairs.judgments
    assert best_worst.spearman > 0.9


def test_an_unreachable_target_says_so():
    result = plan(PlanSettings(**SMALL, target_spearman=0.999, max_judgments_per_item=4))
    assert not result.reachable and result.judgments is None
    assert result.to_dict()["evaluations"][-1]["judgments_per_item"] == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"protocol": "pairs"}, "protocol must be one of pairwise, listwise, best_worst"),
        ({"protocol": "listwise", "k": 2}, "k for listwise must be 3–8"),
        ({"target_spearman": None}, "give a target"),
        ({"target_ci_width": 25.0}, "target_ci_width must lie in"),
        ({"spread": 0.0}, "spread"),
        ({"n_items": 2}, "n_items must be at least 3"),
    ],
)
def test_settings_that_cannot_be_planned_are_refused_with_the_reason(changes, message):
    settings = {"n_items": 100, "target_spearman": 0.9, **changes}
    with pytest.raises(ValueError, match=message):
        PlanSettings(**settings)
