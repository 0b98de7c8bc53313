"""Anchor choice: one anchor per equal-width bucket across the value's range in the first window, adaptive windows
near the current estimate later, fresh anchors preferred, empty buckets filled with the nearest anchor."""

import numpy as np
import pytest

from modeling.ml.evaluator.anchors import AnchorPanel


def panel(intensities) -> AnchorPanel:
    return AnchorPanel.build([100 + i for i in range(len(intensities))], intensities)


def test_the_first_window_takes_one_anchor_from_each_bucket_across_the_range():
    uniform = panel(np.linspace(-10, 10, 41))
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen = uniform.intensities[uniform.choose(5, rng)]
        buckets = np.minimum(((chosen + 10) // 4).astype(int), 4)
        assert sorted(buckets.tolist()) == [0, 1, 2, 3, 4]


def test_an_empty_bucket_takes_the_nearest_unused_anchor():
    lopsided = panel([-9, -8.5, -8, 7, 8, 9])
    chosen = lopsided.bucketed(5, np.random.default_rng(1))
    assert len(set(chosen)) == 5  # never the same anchor twice in a window
    assert lopsided.intensities[chosen].min() <= -8 and lopsided.intensities[chosen].max() >= 8


def test_later_windows_gather_near_the_estimate_and_avoid_anchors_already_shown():
    uniform = panel(np.linspace(-10, 10, 81))
    rng = np.random.default_rng(2)
    first = uniform.choose(5, rng)
    near = uniform.choose(5, rng, estimate=3.0, interval=(1.0, 5.0), avoid=first)
    values = uniform.intensities[near]
    assert np.all(np.abs(values - 3.0) <= 3.1) and not set(near) & set(first)
    # at the edge of the range the adaptive range shifts inside it instead of running off the scale
    top = uniform.intensities[uniform.choose(5, rng, estimate=12.0, interval=(9.0, 10.0))]
    assert top.min() >= 10 - 5.1 and top.max() <= 10


def test_the_same_seed_gives_the_same_anchors():
    uniform = panel(np.linspace(-10, 10, 41))
    assert uniform.choose(5, np.random.default_rng(7)) == uniform.choose(5, np.random.default_rng(7))


def test_spread_covers_the_range_and_takes_everything_when_asked_for_more():
    uniform = panel(np.linspace(-10, 10, 41))
    spread = uniform.intensities[uniform.spread(10, np.random.default_rng(3))]
    assert spread.min() < -7 and spread.max() > 7 and len(set(spread)) == 10
    assert uniform.spread(100, np.random.default_rng(3)) == list(range(41))


@pytest.mark.parametrize(
    ("ids", "intensities", "message"),
    [
        ([1, 2], [0.0], "2 ids but 1 intensities"),
        ([1, 1], [0.0, 1.0], "appears twice"),
        ([1, 2], [0.0, 10.5], "anchor 2 has intensity 10.5"),
        ([1, 2], [0.0, float("nan")], "outside"),
    ],
)
def test_a_bad_panel_is_refused(ids, intensities, message):
    with pytest.raises(ValueError, match=message):
        AnchorPanel.build(ids, intensities)


def test_a_window_cannot_ask_for_more_anchors_than_the_panel_holds():
    with pytest.raises(ValueError, match="needs at least 5 anchors; the panel has 3"):
        panel([-5, 0, 5]).choose(5, np.random.default_rng(0))
