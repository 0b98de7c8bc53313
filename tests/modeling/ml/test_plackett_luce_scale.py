"""IntensityScale: monotone, bounded in [−10, 10], through the anchors, and intervals mapped with the points."""

import numpy as np
import pytest

from modeling.ml.plackett_luce import IntensityScale

GRID = np.concatenate([[-1e6, -50.0], np.linspace(-8, 8, 2001), [50.0, 1e6]])
ANCHOR_UTILITIES = np.array([-2.5, -1.0, 0.2, 1.1, 3.0])
ANCHOR_INTENSITIES = np.array([-8.0, -3.5, 0.5, 4.0, 9.0])


@pytest.fixture(params=["anchors", "quantiles"])
def scale(request) -> IntensityScale:
    if request.param == "anchors":
        return IntensityScale.from_anchors(ANCHOR_UTILITIES, ANCHOR_INTENSITIES)
    return IntensityScale.from_quantiles(np.random.default_rng(0).normal(0, 1.5, 5000))


def test_the_map_is_monotone_and_stays_within_ten(scale):
    intensities = scale.intensity(GRID)
    assert (np.diff(intensities) >= 0).all()
    assert (np.abs(intensities) <= 10).all()
    assert intensities[0] == pytest.approx(-10, abs=1e-6) and intensities[-1] == pytest.approx(10, abs=1e-6)


def test_intervals_map_through_the_same_map_and_contain_the_point(scale):
    utilities = np.array([-4.0, 0.0, 0.5, 6.0])
    se = np.array([0.3, 0.5, 0.0, 2.0])
    low, high = scale.interval(utilities, se)
    point = scale.intensity(utilities)
    assert (low <= point).all() and (point <= high).all()
    assert low[2] == point[2] == high[2]
    np.testing.assert_allclose(low, scale.intensity(utilities - 1.959964 * se), atol=1e-5)


def test_the_anchored_map_passes_through_every_anchor_that_agrees_with_the_fit():
    scale = IntensityScale.from_anchors(ANCHOR_UTILITIES, ANCHOR_INTENSITIES)
    np.testing.assert_allclose(scale.intensity(ANCHOR_UTILITIES), ANCHOR_INTENSITIES)
    assert scale.intensity(0.65) == pytest.approx((0.5 + 4.0) / 2)  # linear between neighbouring anchors


def test_anchors_that_disagree_with_the_fitted_order_are_pooled():
    scale = IntensityScale.from_anchors([-1.0, 0.0, 1.0, 2.0], [-6.0, 3.0, 1.0, 7.0])
    # 3.0 at utility 0 and 1.0 at utility 1 contradict the fit: one knot at their mean utility and mean intensity
    assert scale.intensity(0.5) == pytest.approx(2.0)
    assert scale.intensity(0.0) < scale.intensity(0.5) < scale.intensity(1.0)
    assert scale.intensity(-1.0) == pytest.approx(-6.0) and scale.intensity(2.0) == pytest.approx(7.0)


def test_the_quantile_map_is_centred_on_neutral_and_puts_the_99th_percentile_at_nine_and_a_half():
    utilities = np.random.default_rng(1).normal(0.4, 2.0, 20000)
    scale = IntensityScale.from_quantiles(utilities, neutral=0.4)
    assert scale.intensity(0.4) == pytest.approx(0.0)
    low, high = np.quantile(utilities, [0.01, 0.99])
    assert max(abs(scale.intensity(low)), abs(scale.intensity(high))) == pytest.approx(9.5, abs=1e-9)
    assert scale.intensity(0.4 + 1.0) == pytest.approx(-scale.intensity(0.4 - 1.0))  # one slope both sides


def test_an_early_fit_near_zero_is_not_stretched_to_the_ends():
    scale = IntensityScale.from_quantiles(np.array([-0.05, 0.0, 0.02, 0.04]))
    assert abs(scale.intensity(0.05)) < 1.0


def test_the_scale_round_trips_through_json():
    scale = IntensityScale.from_anchors(ANCHOR_UTILITIES, ANCHOR_INTENSITIES)
    assert IntensityScale.from_dict(scale.to_dict()) == scale


@pytest.mark.parametrize(
    ("utilities", "intensities", "message"),
    [
        ([0.0], [1.0], "needs at least two anchors, got 1"),
        ([0.0, 1.0], [1.0, 12.0], "anchor 1 has intensity 12, outside"),
        ([0.0, np.nan], [1.0, 2.0], "anchor 1 has utility nan"),
        ([0.0, 1.0, 2.0], [5.0, 0.0, -5.0], "do not rise with the fitted utilities"),
        ([0.0, 1.0], [1.0, 2.0, 3.0], "2 utilities but 3 intensities"),
    ],
)
def test_unusable_anchors_are_refused_with_a_reason(utilities, intensities, message):
    with pytest.raises(ValueError, match=message):
        IntensityScale.from_anchors(utilities, intensities)
