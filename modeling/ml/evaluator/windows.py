"""Evaluator windows: where the scored text stands among its anchors, and turning a judge's answer (or a human
ranking that showed the text) into a `JudgedWindow` for scoring.

The reference implementation put the scored text first in every window, so any judge that favours the first text
shown inflated every score (position bias). Here the anchors are shuffled and the text is inserted at a uniformly
random position; the layout — including that position — is recorded with the window, so position effects can be
measured afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .scoring import JudgedWindow


@dataclass(frozen=True)
class WindowLayout:
    """The order a window is shown in: anchor ids, with None where the scored text stands."""

    shown: tuple[int | None, ...]

    @property
    def response_position(self) -> int:
        return self.shown.index(None)

    @property
    def anchor_ids(self) -> list[int]:
        return [anchor for anchor in self.shown if anchor is not None]


def window_layout(anchor_ids: Sequence[int], rng: np.random.Generator) -> WindowLayout:
    """Shuffle the anchors and put the scored text at a uniformly random position among them."""
    if not anchor_ids:
        raise ValueError("a window needs at least one anchor")
    shuffled = [int(anchor_ids[i]) for i in rng.permutation(len(anchor_ids))]
    position = int(rng.integers(len(shuffled) + 1))
    return WindowLayout(tuple(shuffled[:position]) + (None,) + tuple(shuffled[position:]))


def judged_window(layout: WindowLayout, intensity_of: Mapping[int, float], ordering: Sequence[int]) -> JudgedWindow:
    """A judge's `ordering` (shown positions, strongest first) of `layout`, with the anchors' known intensities."""
    intensities = tuple(None if anchor is None else float(intensity_of[anchor]) for anchor in layout.shown)
    return JudgedWindow(intensities, tuple(int(position) for position in ordering))


def window_from_ranking(
    *,
    shown: Sequence[int],
    ranked_groups: Sequence[Sequence[int]],
    scored: int,
    intensity_of: Mapping[int, float],
) -> tuple[WindowLayout, JudgedWindow] | None:
    """The window a ranking of `shown` items (e.g. a human judgment of a campaign with probes) gives about the
    item `scored`: that item and the anchors among the shown items (those in `intensity_of`), in the order shown,
    ranked as the judge ranked them. Other scored items of the same ranking are left out — removing items from a
    Plackett–Luce ranking leaves a Plackett–Luce ranking of the rest.

    None when the ranking says nothing usable about `scored`: it was not shown, no anchor was shown with it, or the
    judge tied it with another kept item (the evaluator's model takes strict orders)."""
    if scored not in shown:
        return None
    kept = [item for item in shown if item == scored or item in intensity_of]
    if len(kept) < 2:
        return None
    rank_of: dict[int, int] = {}
    for group_rank, group in enumerate(ranked_groups):
        members = [item for item in group if item in kept]
        if len(members) > 1:
            return None
        for item in members:
            rank_of[item] = group_rank
    if set(rank_of) != set(kept):
        return None
    layout = WindowLayout(tuple(None if item == scored else int(item) for item in kept))
    ordering = sorted(range(len(kept)), key=lambda position: rank_of[kept[position]])
    return layout, judged_window(layout, intensity_of, ordering)
