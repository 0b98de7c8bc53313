"""Window layouts: the scored text's position is random (uniform over the k places) and recorded; a human ranking
that showed a probe becomes a window of that probe and the anchors shown with it."""

from collections import Counter

import numpy as np

from modeling.ml.evaluator.windows import judged_window, window_from_ranking, window_layout


def test_the_scored_text_stands_at_every_position_about_equally_often():
    rng = np.random.default_rng(0)
    positions = Counter(window_layout([1, 2, 3, 4, 5], rng).response_position for _ in range(6000))
    assert sorted(positions) == [0, 1, 2, 3, 4, 5]
    assert all(900 < count < 1100 for count in positions.values())


def test_a_layout_shows_every_anchor_once_and_a_judged_window_reads_their_intensities():
    layout = window_layout([10, 20, 30], np.random.default_rng(1))
    assert sorted(layout.anchor_ids) == [10, 20, 30] and layout.shown.count(None) == 1
    window = judged_window(layout, {10: -5.0, 20: 0.0, 30: 5.0}, [0, 1, 2, 3])
    assert window.intensities[layout.response_position] is None
    assert sorted(y for y in window.intensities if y is not None) == [-5.0, 0.0, 5.0]


def test_a_human_ranking_keeps_the_probe_and_the_anchors_and_leaves_other_probes_out():
    anchors = {11: -6.0, 12: 0.5, 13: 7.0}
    built = window_from_ranking(
        shown=[13, 99, 11, 50, 12], ranked_groups=[[13], [50], [99], [12], [11]], scored=50, intensity_of=anchors
    )
    assert built is not None
    layout, window = built
    assert layout.shown == (13, 11, None, 12)  # order shown, probe 99 left out
    assert window.response_rank == 1 and window.ranked_anchor_intensities() == [7.0, 0.5, -6.0]


def test_rankings_that_say_nothing_about_the_probe_give_no_window():
    anchors = {11: -6.0, 12: 0.5}
    assert window_from_ranking(shown=[11, 12], ranked_groups=[[11], [12]], scored=50, intensity_of=anchors) is None
    assert window_from_ranking(shown=[50, 99], ranked_groups=[[50], [99]], scored=50, intensity_of=anchors) is None
    tied = window_from_ranking(shown=[50, 11, 12], ranked_groups=[[50, 11], [12]], scored=50, intensity_of=anchors)
    assert tied is None
