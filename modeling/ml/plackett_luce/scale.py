"""Map Plackett–Luce utilities monotonically onto ValueFlow's intensity scale [−10, 10], point estimates and intervals.

Utilities are logits with an arbitrary unit; intensities are what researchers read. An ``IntensityScale`` is a
piecewise-linear map through knots (utility → intensity), continued beyond the outer knots with the same slope and
bent by a tanh so it approaches ±10 without reaching it. It is non-decreasing everywhere, so it preserves the fitted
order and maps an interval (u − 1.96·se, u + 1.96·se) onto an interval that contains the point estimate.

Two ways to build one:

* ``from_anchors`` — when some items have known intensities (imported VIDB ratings, or reference texts a researcher
  chose), the map is the *isotonic* regression of anchor intensity on anchor utility (pool-adjacent-violators),
  interpolated linearly between the pooled knots. It passes exactly through every anchor whose intensity agrees with
  the fitted order; a run of anchors that disagree becomes one knot at their mean utility and mean intensity (rather
  than a flat step), so the map stays strictly increasing wherever the anchors' intensities rise. Beyond the
  outermost anchors the map goes on with the anchors' overall slope and saturates softly. This estimates the
  logit-to-point scale from the data instead of assuming one intensity point per logit.
* ``from_quantiles`` — without anchors, an affine map centred on a neutral utility, with slope set so the larger of
  the 1st/99th-percentile distances from neutral lands on ±9.5 after the soft knee at ±9. The default neutral point
  is utility 0, the phantom item of the pseudo-comparison prior: an item with no evidence sits there, so "no
  evidence" reads as intensity 0. That is only *neutral in meaning* when the pool is balanced between texts that
  support and oppose the value (as VIDB pools are); when direction labels exist, pass the median utility of
  the neutral-labelled items instead. One slope for both sides keeps utility differences comparable across 0, and
  a minimum spread (1 logit) keeps an early fit whose utilities all sit near 0 from being stretched to ±9.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

LIMIT = 10.0  # intensities live in (−LIMIT, LIMIT)
KNEE = 9.0  # the quantile map is linear up to ±KNEE, then saturates softly


@dataclass(frozen=True)
class IntensityScale:
    """A monotone map from utilities to intensities in [−10, 10]; see the module docstring."""

    method: str  # "anchors" | "quantiles"
    knots_utility: tuple[float, ...]
    knots_intensity: tuple[float, ...]
    slope_below: float  # intensity points per logit, continued below the first knot
    slope_above: float  # ... and above the last

    # ----- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_anchors(
        cls, utilities: Sequence[float] | np.ndarray, intensities: Sequence[float] | np.ndarray
    ) -> IntensityScale:
        """Isotonic map through anchors: ``utilities[a]`` fitted for the anchor whose known intensity is
        ``intensities[a]``. Needs two anchors whose intensities rise with utility once disagreements are pooled."""
        u = np.asarray(utilities, dtype=np.float64).ravel()
        y = np.asarray(intensities, dtype=np.float64).ravel()
        if u.shape != y.shape:
            raise ValueError(f"anchors: {u.size} utilities but {y.size} intensities.")
        if u.size < 2:
            raise ValueError(f"anchors: an anchored scale needs at least two anchors, got {u.size}.")
        for name, values in (("utility", u), ("intensity", y)):
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ValueError(f"anchors: anchor {bad[0]} has {name} {float(values[bad[0]]):g}; it must be finite.")
        outside = np.flatnonzero(np.abs(y) > LIMIT)
        if outside.size:
            raise ValueError(
                f"anchors: anchor {outside[0]} has intensity {float(y[outside[0]]):g}, outside [−{LIMIT:g}, {LIMIT:g}]."
            )
        knots_u, knots_y = _pool_adjacent_violators(u, y)
        if len(knots_u) < 2 or knots_y[-1] <= knots_y[0]:
            raise ValueError(
                "anchors: their intensities do not rise with the fitted utilities — after pooling the anchors that "
                f"disagree with the fitted order, all of them share intensity {knots_y[0]:.2f}. Check that the "
                "anchors' intensities and the value's rankings run in the same direction."
            )
        slope = (knots_y[-1] - knots_y[0]) / (knots_u[-1] - knots_u[0])
        return cls("anchors", tuple(knots_u), tuple(knots_y), float(slope), float(slope))

    @classmethod
    def from_quantiles(
        cls,
        utilities: Sequence[float] | np.ndarray,
        *,
        neutral: float = 0.0,
        quantile: float = 0.99,
        target: float = 9.5,
        min_spread: float = 1.0,
    ) -> IntensityScale:
        """Affine map centred on ``neutral``; the larger distance from neutral to the (1 − quantile) or the
        ``quantile`` percentile of the utilities (at least ``min_spread``) maps to ±``target``."""
        u = np.asarray(utilities, dtype=np.float64).ravel()
        u = u[np.isfinite(u)]
        if not 0.5 < quantile < 1:
            raise ValueError(f"quantile must lie in (0.5, 1), got {quantile!r}.")
        if not KNEE < target < LIMIT:
            raise ValueError(f"target must lie in ({KNEE:g}, {LIMIT:g}), got {target!r}.")
        if not (np.isfinite(neutral) and min_spread > 0):
            raise ValueError(f"neutral must be finite and min_spread positive, got {neutral!r} and {min_spread!r}.")
        spread = min_spread
        if u.size:
            low, high = np.quantile(u, [1 - quantile, quantile])
            spread = max(spread, abs(high - neutral), abs(neutral - low))
        # Past the knee the map is KNEE + (LIMIT − KNEE)·tanh(excess / (LIMIT − KNEE)); solve for the slope at `target`.
        linear_target = KNEE + (LIMIT - KNEE) * np.arctanh((target - KNEE) / (LIMIT - KNEE))
        slope = linear_target / spread
        knee_u = KNEE / slope
        return cls("quantiles", (neutral - knee_u, neutral + knee_u), (-KNEE, KNEE), float(slope), float(slope))

    # ----- use ---------------------------------------------------------------------------------------------------

    def intensity(self, utilities: Sequence[float] | np.ndarray | float) -> np.ndarray:
        """Intensities in [−10, 10] for the given utilities (same shape)."""
        u = np.asarray(utilities, dtype=np.float64)
        ku, ky = np.asarray(self.knots_utility), np.asarray(self.knots_intensity)
        y = np.interp(u, ku, ky)
        above, below = u > ku[-1], u < ku[0]
        room_above, room_below = LIMIT - ky[-1], LIMIT + ky[0]
        if room_above > 0:
            y = np.where(above, ky[-1] + room_above * np.tanh(self.slope_above * (u - ku[-1]) / room_above), y)
        if room_below > 0:
            y = np.where(below, ky[0] - room_below * np.tanh(self.slope_below * (ku[0] - u) / room_below), y)
        return y

    def interval(
        self, utilities: Sequence[float] | np.ndarray, se: Sequence[float] | np.ndarray, level: float = 0.95
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ci_low, ci_high): the utility interval u ± z·se mapped through the same monotone map."""
        u = np.asarray(utilities, dtype=np.float64)
        half = norm.ppf(0.5 + level / 2) * np.asarray(se, dtype=np.float64)
        return self.intensity(u - half), self.intensity(u + half)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly parameters (stored with each fit)."""
        return {
            "method": self.method,
            "knots_utility": list(self.knots_utility),
            "knots_intensity": list(self.knots_intensity),
            "slope_below": self.slope_below,
            "slope_above": self.slope_above,
        }

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> IntensityScale:
        return cls(
            method=str(params["method"]),
            knots_utility=tuple(float(v) for v in params["knots_utility"]),
            knots_intensity=tuple(float(v) for v in params["knots_intensity"]),
            slope_below=float(params["slope_below"]),
            slope_above=float(params["slope_above"]),
        )


def _pool_adjacent_violators(u: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Isotonic regression of y on u: blocks of (mean utility, mean intensity) with strictly rising utility and
    non-decreasing intensity. Anchors at the same utility are pooled first."""
    order = np.argsort(u, kind="stable")
    blocks: list[list[float]] = []  # [sum_u, sum_y, count]
    for uu, yy in zip(u[order], y[order], strict=True):
        if blocks and uu == blocks[-1][0] / blocks[-1][2]:
            blocks[-1] = [blocks[-1][0] + uu, blocks[-1][1] + yy, blocks[-1][2] + 1]
        else:
            blocks.append([uu, yy, 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] > blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    return [b[0] / b[2] for b in blocks], [b[1] / b[2] for b in blocks]
