"""Choosing the anchors of an evaluator window: texts of known intensity a scored text is ranked against.

* First window — *bucketed*: the value's anchor range [lowest, highest known intensity] is cut into k − 1
  equal-width buckets and one anchor is drawn from each (method.md §4), so the window spans the whole scale and a
  text of any intensity meets anchors on both sides of it.
* Later windows — *adaptive*: the same bucketing over a narrower range centred on the text's current estimate
  (shifted to stay inside the anchor range). Anchors close to the text's intensity are the informative ones: the
  judge's choice between two texts far apart is a foregone conclusion.
* Anchors already shown to the same text are avoided while fresh ones remain, so every window is new evidence.
* An empty bucket (anchors are rarely spread evenly) takes the unused anchor nearest to the bucket's centre.

`AnchorPanel.spread` picks many anchors across the range at once (a human ranking campaign's anchor set).
Pure numpy; randomness comes from the caller's `numpy.random.Generator`, so a seeded evaluation repeats exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

LIMIT = 10.0
# The adaptive range is at least this share of the full anchor range (a text's estimate after one window is rough)
# and at most half of it (beyond that the window is no longer "near" the estimate).
ADAPTIVE_MIN_SHARE = 0.25
ADAPTIVE_MAX_SHARE = 0.5
# Half-width of the adaptive range in units of the current interval's half-width.
ADAPTIVE_INTERVAL_FACTOR = 1.0


@dataclass(frozen=True)
class AnchorPanel:
    """The anchors of one value, sorted by known intensity: `ids[i]` (e.g. PoolItem ids) has `intensities[i]`."""

    ids: np.ndarray
    intensities: np.ndarray

    @classmethod
    def build(cls, ids: Sequence[int], intensities: Sequence[float]) -> AnchorPanel:
        ids_array = np.asarray(list(ids), dtype=np.int64)
        values = np.asarray(list(intensities), dtype=np.float64)
        if ids_array.shape != values.shape:
            raise ValueError(f"anchor panel: {ids_array.size} ids but {values.size} intensities")
        if len(set(ids_array.tolist())) != ids_array.size:
            raise ValueError("anchor panel: an anchor id appears twice")
        bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > LIMIT))
        if bad.size:
            raise ValueError(
                f"anchor panel: anchor {int(ids_array[bad[0]])} has intensity {float(values[bad[0]]):g}, "
                "outside [−10, 10]"
            )
        order = np.argsort(values, kind="stable")
        return cls(ids_array[order], values[order])

    def __len__(self) -> int:
        return int(self.ids.size)

    def indices_of(self, ids: Iterable[int]) -> set[int]:
        """Panel indices of the given anchor ids (ids no longer in the panel are left out)."""
        position = {int(anchor_id): index for index, anchor_id in enumerate(self.ids.tolist())}
        return {position[int(anchor_id)] for anchor_id in ids if int(anchor_id) in position}

    @property
    def low(self) -> float:
        return float(self.intensities[0])

    @property
    def high(self) -> float:
        return float(self.intensities[-1])

    def bucketed(self, count: int, rng: np.random.Generator, *, avoid: Iterable[int] = ()) -> list[int]:
        """`count` panel indices, one from each of `count` equal-width buckets over the whole anchor range."""
        return self._fill(np.linspace(self.low, self.high, count + 1), rng, set(avoid))

    def adaptive(
        self,
        count: int,
        rng: np.random.Generator,
        *,
        estimate: float,
        half_width: float | None = None,
        avoid: Iterable[int] = (),
    ) -> list[int]:
        """`count` panel indices bucketed over a range centred on `estimate`. `half_width` (e.g. from the current
        interval) is kept between a quarter and a half of the anchor range's width, halved."""
        span = self.high - self.low
        minimum, maximum = ADAPTIVE_MIN_SHARE * span / 2, ADAPTIVE_MAX_SHARE * span / 2
        half = minimum if half_width is None else min(maximum, max(minimum, half_width))
        centre = min(self.high - half, max(self.low + half, float(estimate)))
        return self._fill(np.linspace(centre - half, centre + half, count + 1), rng, set(avoid))

    def choose(
        self,
        count: int,
        rng: np.random.Generator,
        *,
        estimate: float | None = None,
        interval: tuple[float, float] | None = None,
        avoid: Iterable[int] = (),
    ) -> list[int]:
        """The anchors of a window: bucketed without an estimate (the first window), adaptive with one."""
        self._check_count(count)
        if estimate is None:
            return self.bucketed(count, rng, avoid=avoid)
        half = None if interval is None else ADAPTIVE_INTERVAL_FACTOR * (interval[1] - interval[0]) / 2
        return self.adaptive(count, rng, estimate=estimate, half_width=half, avoid=avoid)

    def spread(self, count: int, rng: np.random.Generator) -> list[int]:
        """`count` anchors spread over the whole range (all of them when the panel has no more)."""
        if count >= len(self):
            return list(range(len(self)))
        return self.bucketed(count, rng)

    def _check_count(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"a window needs at least one anchor, got {count}")
        if count > len(self):
            raise ValueError(f"a window of {count} anchors needs at least {count} anchors; the panel has {len(self)}")

    def _fill(self, edges: np.ndarray, rng: np.random.Generator, avoid: set[int]) -> list[int]:
        """One panel index per bucket [edges[b], edges[b+1]), preferring anchors not in `avoid`; an empty bucket
        takes the nearest unused anchor to its centre. Indices never repeat within the result."""
        count = len(edges) - 1
        chosen: list[int] = []
        taken: set[int] = set()
        for bucket in range(count):
            low, high = edges[bucket], edges[bucket + 1]
            last = bucket == count - 1
            below_top = (self.intensities <= high) if last else (self.intensities < high)
            inside = np.flatnonzero((self.intensities >= low) & below_top)
            fresh = [int(i) for i in inside if int(i) not in taken and int(i) not in avoid]
            pool = fresh or [int(i) for i in inside if int(i) not in taken]
            if pool:
                pick = pool[int(rng.integers(len(pool)))]
            else:
                pick = self._nearest_unused(0.5 * (low + high), taken, avoid)
            chosen.append(pick)
            taken.add(pick)
        return chosen

    def _nearest_unused(self, centre: float, taken: set[int], avoid: set[int]) -> int:
        distance = np.abs(self.intensities - centre)
        for allowed in (lambda i: i not in taken and i not in avoid, lambda i: i not in taken):
            candidates = [i for i in np.argsort(distance, kind="stable").tolist() if allowed(i)]
            if candidates:
                return int(candidates[0])
        raise ValueError("anchor panel: more anchors requested than the panel holds")
