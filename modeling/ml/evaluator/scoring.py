"""Score a text (a steered response, a probe) from judged anchor windows: Plackett–Luce with the anchors' utilities
held fixed at `scale × intensity`, the logit-to-intensity scale estimated from the anchor-vs-anchor orderings inside
the windows, and one free parameter per scored text — its intensity — with a 95 % interval.

The model. A judge orders the texts of a window, strongest expression of the value first. Plackett–Luce says each
stage picks the best of the texts still unranked with probability ∝ exp(β · intensity), where β is the judge's
*scale*, in logits per intensity point: a sharp judge (β large) rarely misorders texts one point apart, a noisy one
often does. The reference implementation assumes β = 1; here it is estimated, because a judge noisier than that
makes the 1:1 scale's intervals far too narrow (field.md measured 47–87 % coverage).

* `scale_estimate(windows)` — β from the orderings of the *anchors* among themselves. Removing the scored text from
  a Plackett–Luce ranking leaves a Plackett–Luce ranking of the rest, so these sub-orderings say nothing about the
  scored text and everything about how sharply this judge separates known intensities. Pool the windows of one
  judge and one value (every response of an evaluation), so the estimate rests on hundreds of anchor orderings.
  A weak log-normal prior centred on the reference's 1 logit/point keeps β finite for a judge that never errs
  (a deterministic judge such as the HiVES regressor orders anchors perfectly, and the unpenalised estimate would
  run to infinity) and sensible when there are only a few windows.
* `response_score(windows, scale)` — with β known, each window's likelihood depends on the text's intensity x only
  through the stages in which the text was still unranked, so the fit is a one-dimensional concave problem
  (safeguarded Newton steps; about a millisecond). Its 95 % interval is the likelihood-ratio interval
  {x : ℓ(x) ≥ ℓ(x̂) − 1.92}, which stays right for a sharp judge (whose likelihood is nearly flat between the two
  anchors that bracket the text, so the curvature says little), widened for the uncertainty of β (delta method:
  how far x̂ moves when β moves by one standard error).
* A text that beat every anchor it met in every window has no finite maximum-likelihood intensity. It is placed
  just above the strongest anchor it met — where beating all of them becomes as likely as not, but at most
  JUST_BEYOND points above that anchor — with a wide interval: from the lowest intensity at which that outcome
  still has a 5 % chance (and at most the strongest anchor met) up to 10, a one-sided 95 % bound (above the top of
  the scale there is nothing to miss). Symmetrically for a text that lost to every anchor.

Pure numpy; no Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LIMIT = 10.0  # intensities live in [−10, 10]
Z95 = 1.959963984540054
# A 95 % likelihood-ratio interval keeps the points whose log-likelihood is within χ²₁(0.95)/2 of the maximum.
LR_DROP = 1.920729410347062
# One-sided confidence for a text that beat (lost to) every anchor: the bound has a 5 % chance of being wrong.
ONE_SIDED_ALPHA = 0.05
# ... and is placed at most this many points beyond the strongest (weakest) anchor it met: "just above (below)" it.
JUST_BEYOND = 1.0
# Prior on log β: centred on the reference's 1 logit per point, wide enough that a few dozen anchor orderings
# override it (one standard deviation is a factor e ≈ 2.7).
SCALE_PRIOR_CENTRE = 1.0
SCALE_PRIOR_LOG_SD = 1.0
SCALE_BOUNDS = (1e-3, 50.0)
_NEWTON_TOL = 1e-7
_NEWTON_MAX_ITER = 60


@dataclass(frozen=True)
class JudgedWindow:
    """One window a judge ordered: the known intensities of the shown texts in the order shown, with None at the
    position of the text being scored, and the judge's order of shown positions, strongest first."""

    intensities: tuple[float | None, ...]
    ordering: tuple[int, ...]

    def __post_init__(self) -> None:
        n = len(self.intensities)
        if n < 2:
            raise ValueError(f"a judged window shows at least two texts, got {n}")
        missing = [i for i, y in enumerate(self.intensities) if y is None]
        if len(missing) != 1:
            raise ValueError(
                f"a judged window marks exactly one position (the scored text) with None, got {len(missing)}"
            )
        for position, y in enumerate(self.intensities):
            if y is not None and not (math.isfinite(y) and -LIMIT <= y <= LIMIT):
                raise ValueError(f"anchor at position {position} has intensity {y!r}; it must lie in [−10, 10]")
        if sorted(self.ordering) != list(range(n)):
            raise ValueError(f"ordering {list(self.ordering)} is not an order of the {n} shown positions 0..{n - 1}")

    @property
    def response_position(self) -> int:
        return self.intensities.index(None)

    @property
    def response_rank(self) -> int:
        """Where the judge put the scored text: 0 = strongest."""
        return self.ordering.index(self.response_position)

    def ranked_anchor_intensities(self) -> list[float]:
        """The anchors' intensities in the judge's order, strongest first (the scored text left out)."""
        return [float(y) for y in (self.intensities[p] for p in self.ordering) if y is not None]


@dataclass(frozen=True)
class Scale:
    """A judge's logit-to-intensity scale β (logits per intensity point) and its standard error."""

    logits_per_point: float
    se: float
    n_windows: int
    method: str  # "estimated" | "fixed"

    @classmethod
    def fixed(cls, logits_per_point: float = 1.0) -> Scale:
        """The reference's assumption: one logit per intensity point, known exactly."""
        if not logits_per_point > 0:
            raise ValueError(f"a scale must be positive, got {logits_per_point!r}")
        return cls(float(logits_per_point), 0.0, 0, "fixed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "logits_per_point": round(self.logits_per_point, 6),
            "se": round(self.se, 6),
            "n_windows": self.n_windows,
            "method": self.method,
        }


@dataclass(frozen=True)
class ResponseEstimate:
    """The scored text's intensity with its 95 % interval, and how it was reached."""

    intensity: float
    ci_low: float
    ci_high: float
    intensity_se: float  # inf for a text beyond every anchor (its interval is one-sided)
    utility: float  # β · intensity, on the judge's logit scale
    n_windows: int
    anchors_met: int
    beat_all: bool
    lost_all: bool
    scale: Scale = field(repr=False)

    def details(self) -> dict[str, Any]:
        """JSON-friendly facts stored with the score."""
        return {
            "intensity_se": None if math.isinf(self.intensity_se) else round(self.intensity_se, 6),
            "n_windows": self.n_windows,
            "anchors_met": self.anchors_met,
            "beat_all": self.beat_all,
            "lost_all": self.lost_all,
            "scale": self.scale.to_dict(),
        }


# --- the scale -------------------------------------------------------------------------------------------------


def _ranking_matrix(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Anchor intensities in judged order, one row per ranking (strongest first), padded with NaN on the right."""
    width = max((len(r) for r in rows), default=0)
    matrix = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = row
    return matrix


def _suffix_moments(values: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each row and stage s (a column), over the items ranked at s or later: log Σ exp(β y), and the mean and
    variance of y under the weights exp(β y). NaN cells are padding and carry no weight."""
    present = ~np.isnan(values)
    y = np.where(present, values, 0.0)
    logits = np.where(present, beta * y, -np.inf)
    top = np.max(logits, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(present, np.exp(logits - top), 0.0)
    s0 = np.cumsum(weights[:, ::-1], axis=1)[:, ::-1]
    s1 = np.cumsum((weights * y)[:, ::-1], axis=1)[:, ::-1]
    s2 = np.cumsum((weights * y * y)[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_total = np.log(s0) + top
        mean = s1 / s0
        variance = np.maximum(s2 / s0 - mean * mean, 0.0)
    return log_total, mean, variance, present


def _scale_log_posterior(phi: float, rankings: np.ndarray, stage: np.ndarray) -> tuple[float, float, float]:
    """Log posterior of φ = log β with its first and second derivatives."""
    beta = math.exp(phi)
    log_total, mean, variance, _ = _suffix_moments(rankings, beta)
    chosen = np.where(stage, rankings, 0.0)
    loglik = float(np.sum(np.where(stage, beta * chosen - log_total, 0.0)))
    d_beta = float(np.sum(np.where(stage, chosen - mean, 0.0)))
    d2_beta = -float(np.sum(np.where(stage, variance, 0.0)))
    centre = math.log(SCALE_PRIOR_CENTRE)
    prior = -0.5 * ((phi - centre) / SCALE_PRIOR_LOG_SD) ** 2
    d_phi = beta * d_beta - (phi - centre) / SCALE_PRIOR_LOG_SD**2
    d2_phi = beta * beta * d2_beta + beta * d_beta - 1.0 / SCALE_PRIOR_LOG_SD**2
    return loglik + prior, d_phi, d2_phi


def scale_estimate(windows: Sequence[JudgedWindow]) -> Scale:
    """The judge's scale β from the anchor-vs-anchor orderings of `windows` (see the module docstring): the mode of
    the likelihood times a log-normal prior, with the standard error from the curvature at the mode. Without any
    window of two or more anchors the prior alone answers (β = 1, wide)."""
    return scale_estimate_from_rankings([w.ranked_anchor_intensities() for w in windows])


def scale_estimate_from_rankings(rankings: Sequence[Sequence[float]]) -> Scale:
    """`scale_estimate` from anchor rankings given directly: each the known intensities of the anchors a judge
    ranked, in its order, strongest first (e.g. human judgments that showed anchors only)."""
    for number, row in enumerate(rankings):
        bad = [y for y in row if not (math.isfinite(y) and -LIMIT <= y <= LIMIT)]
        if bad:
            raise ValueError(f"ranking {number} has anchor intensity {bad[0]!r}; it must lie in [−10, 10]")
    matrix = _ranking_matrix(rankings)
    if matrix.size == 0:
        return Scale(SCALE_PRIOR_CENTRE, SCALE_PRIOR_CENTRE * SCALE_PRIOR_LOG_SD, 0, "estimated")
    present = ~np.isnan(matrix)
    counts = present.sum(axis=1, keepdims=True)
    # A stage is a choice among two or more remaining anchors; the last anchor of each row is no choice.
    stage = present & (np.arange(matrix.shape[1])[None, :] < counts - 1)
    informative = int(np.any(stage, axis=1).sum())
    phi = math.log(SCALE_PRIOR_CENTRE)
    low, high = math.log(SCALE_BOUNDS[0]), math.log(SCALE_BOUNDS[1])
    for _ in range(_NEWTON_MAX_ITER):
        value, grad, curvature = _scale_log_posterior(phi, matrix, stage)
        step = -grad / curvature if curvature < 0 else math.copysign(0.5, grad)
        step = max(-1.0, min(1.0, step))
        # Backtrack until the posterior does not fall (Newton in log β is not guaranteed to be monotone).
        while True:
            candidate = min(high, max(low, phi + step))
            if _scale_log_posterior(candidate, matrix, stage)[0] >= value - 1e-12 or abs(step) < 1e-10:
                break
            step /= 2
        converged = abs(candidate - phi) < 1e-8
        phi = candidate
        if converged:
            break
    _, _, curvature = _scale_log_posterior(phi, matrix, stage)
    beta = math.exp(phi)
    se_phi = 1.0 / math.sqrt(-curvature) if curvature < 0 else SCALE_PRIOR_LOG_SD
    return Scale(beta, beta * se_phi, informative, "estimated")


# --- one text ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ResponseStages:
    """The stages of a text's windows in which it was still unranked: per stage, log Σ exp(β y) over the anchors
    still unranked and their mean intensity weighted by exp(β y), and whether the text was chosen there. Plain
    Python lists: a text has a dozen stages or so, and numpy's per-call overhead would dominate at that size."""

    log_anchor_total: list[float]
    anchor_mean: list[float]
    chosen: list[bool]

    @property
    def n_chosen(self) -> int:
        return sum(self.chosen)


def _response_stages(windows: Sequence[JudgedWindow], beta: float) -> _ResponseStages:
    log_totals: list[float] = []
    means: list[float] = []
    chosen: list[bool] = []
    for w in windows:
        rank = w.response_rank
        ranked = w.ranked_anchor_intensities()
        # Suffix sums over the anchors ranked s-th or later, relative to the largest logit for stability.
        top = beta * max(ranked) if ranked else 0.0
        suffix_total, suffix_weighted = [0.0] * (len(ranked) + 1), [0.0] * (len(ranked) + 1)
        for position in range(len(ranked) - 1, -1, -1):
            weight = math.exp(beta * ranked[position] - top)
            suffix_total[position] = suffix_total[position + 1] + weight
            suffix_weighted[position] = suffix_weighted[position + 1] + weight * ranked[position]
        # Stages 0..rank: at stage s the anchors ranked s-th or later among the anchors are still unranked.
        for stage in range(rank + 1):
            if stage < len(ranked):
                log_totals.append(math.log(suffix_total[stage]) + top)
                means.append(suffix_weighted[stage] / suffix_total[stage])
            else:  # nothing left but the text itself: it is chosen with certainty and the stage says nothing
                log_totals.append(-math.inf)
                means.append(0.0)
            chosen.append(stage == rank)
    return _ResponseStages(log_totals, means, chosen)


def _chosen_probabilities(x: float, beta: float, stages: _ResponseStages) -> list[float]:
    """P(the text is chosen at each stage | intensity x) = σ(βx − log Σ exp(β y)), computed without overflow."""
    probabilities = []
    for log_total in stages.log_anchor_total:
        z = log_total - beta * x
        if z > 0:
            e = math.exp(-z)
            probabilities.append(e / (1.0 + e))
        else:
            probabilities.append(1.0 / (1.0 + math.exp(z)))
    return probabilities


def _loglik_and_derivatives(x: float, beta: float, stages: _ResponseStages) -> tuple[float, float, float]:
    """The text's log-likelihood in x with its first and second derivatives."""
    loglik = total_p = total_pq = 0.0
    for log_total, chosen in zip(stages.log_anchor_total, stages.chosen, strict=True):
        z = log_total - beta * x
        # softplus(z) = log(1 + e^z); log p = −softplus(z) where the text was chosen, log(1 − p) = z − softplus(z)
        # where an anchor was (z is −∞ only at a stage with no anchor left, where the text is chosen for sure).
        if z > 0:
            e = math.exp(-z)
            softplus, p = z + math.log1p(e), e / (1.0 + e)
        else:
            e = math.exp(z)
            softplus, p = math.log1p(e), 1.0 / (1.0 + e)
        loglik -= softplus if chosen else softplus - z
        total_p += p
        total_pq += p * (1.0 - p)
    return loglik, beta * (stages.n_chosen - total_p), -beta * beta * total_pq


def _solve_monotone(f, target: float, low: float, high: float) -> float:  # type: ignore[no-untyped-def]
    """x in [low, high] with f(x) = target for an increasing f, by bisection (f(low) < target assumed)."""
    if f(high) <= target:
        return high
    if f(low) >= target:
        return low
    for _ in range(60):
        middle = 0.5 * (low + high)
        if f(middle) < target:
            low = middle
        else:
            high = middle
        if high - low < 1e-6:
            break
    return 0.5 * (low + high)


def response_score(windows: Sequence[JudgedWindow], scale: Scale) -> ResponseEstimate:
    """The intensity of the text the windows score, with its 95 % interval, given the judge's scale."""
    if not windows:
        raise ValueError("a text needs at least one judged window to be scored")
    beta = scale.logits_per_point
    stages = _response_stages(windows, beta)
    ranks = [w.response_rank for w in windows]
    sizes = [len(w.intensities) for w in windows]
    met = [y for w in windows for y in w.intensities if y is not None]
    beat_all = all(rank == 0 for rank in ranks)
    lost_all = all(rank == size - 1 for rank, size in zip(ranks, sizes, strict=True))
    common: dict[str, Any] = {"n_windows": len(windows), "anchors_met": len(met), "scale": scale}

    if beat_all or lost_all:
        # P(the observed outcome | x): the text chosen first everywhere (beat_all) or never chosen before the end
        # (lost_all). Both are monotone in x.
        def log_outcome(x: float) -> float:
            return _loglik_and_derivatives(x, beta, stages)[0]

        if beat_all:
            strongest = max(met)
            # log P(beat all) rises with x. The text goes where that probability reaches ½, kept between the
            # strongest anchor and JUST_BEYOND points above it; the interval runs from where the probability falls
            # to 5 % — never above the strongest anchor met, so it stays wide — to the top of the scale.
            median = _solve_monotone(log_outcome, math.log(0.5), -LIMIT - 40 / beta, LIMIT + 40 / beta)
            lower = _solve_monotone(log_outcome, math.log(ONE_SIDED_ALPHA), -LIMIT - 40 / beta, LIMIT + 40 / beta)
            intensity = min(LIMIT, strongest + JUST_BEYOND, max(strongest, median))
            low, high = max(-LIMIT, min(lower, strongest, intensity)), LIMIT
        else:
            weakest = min(met)

            def rising(x: float) -> float:  # log P(lost to all | −x), increasing in x
                return log_outcome(-x)

            median = -_solve_monotone(rising, math.log(0.5), -LIMIT - 40 / beta, LIMIT + 40 / beta)
            upper = -_solve_monotone(rising, math.log(ONE_SIDED_ALPHA), -LIMIT - 40 / beta, LIMIT + 40 / beta)
            intensity = max(-LIMIT, weakest - JUST_BEYOND, min(weakest, median))
            low, high = -LIMIT, min(LIMIT, max(upper, weakest, intensity))
        return ResponseEstimate(
            intensity=float(intensity), ci_low=float(low), ci_high=float(high), intensity_se=math.inf,
            utility=float(beta * intensity), beat_all=beat_all, lost_all=lost_all, **common,
        )

    # Interior case: the likelihood is concave in x with a finite maximum. Its 95 % interval is the likelihood-ratio
    # interval {x : ℓ(x) ≥ ℓ(x̂) − 1.92}, which stays right where the curvature says little — a sharp judge's
    # likelihood is nearly flat between the two anchors that bracket the text — widened for the uncertainty of β.
    low_end, high_end = -LIMIT - 40 / beta, LIMIT + 40 / beta
    x = _maximise(beta, stages, low_end, high_end, float(np.mean(met)))
    peak = _loglik_and_derivatives(x, beta, stages)[0]
    target = peak - LR_DROP

    def drop(point: float) -> tuple[float, float]:
        loglik, grad, _ = _loglik_and_derivatives(point, beta, stages)
        return loglik - target, grad

    lr_low = _root(drop, low_end, x) if drop(low_end)[0] < 0 else low_end
    lr_high = _root(drop, x, high_end) if drop(high_end)[0] < 0 else high_end
    beta_shift = 0.0
    if scale.se > 0:
        # Delta method: how far the maximum moves when β moves by one standard error. With g = ∂ℓ/∂x, the implicit
        # function theorem gives dx̂/dβ = −(∂g/∂β)/(∂g/∂x), and at the maximum ∂g/∂β = −β Σ p(1−p)(x̂ − ȳ_s). Where
        # the likelihood is numerically flat (a very sharp judge) the maximum is re-found at β ± se instead.
        _, _, curvature = _loglik_and_derivatives(x, beta, stages)
        probabilities = _chosen_probabilities(x, beta, stages)
        d_grad_d_beta = -beta * sum(
            p * (1.0 - p) * (x - mean) for p, mean in zip(probabilities, stages.anchor_mean, strict=True)
        )
        if curvature < -1e-9:
            beta_shift = Z95 * abs(d_grad_d_beta / curvature) * scale.se
        else:
            step = min(scale.se, 0.5 * beta)
            up = _maximise(beta + step, _response_stages(windows, beta + step), low_end, high_end, x)
            down = _maximise(beta - step, _response_stages(windows, beta - step), low_end, high_end, x)
            beta_shift = Z95 * abs(up - down) / 2
    low = x - math.hypot(x - lr_low, beta_shift)
    high = x + math.hypot(lr_high - x, beta_shift)
    intensity = min(LIMIT, max(-LIMIT, x))
    return ResponseEstimate(
        intensity=float(intensity),
        ci_low=float(max(-LIMIT, min(intensity, low))),
        ci_high=float(min(LIMIT, max(intensity, high))),
        intensity_se=float((high - low) / (2 * Z95)),
        utility=float(beta * x),
        beat_all=False,
        lost_all=False,
        **common,
    )


def _root(f, low: float, high: float, start: float | None = None) -> float:  # type: ignore[no-untyped-def]
    """The root of a monotone f on [low, high] (f(low) and f(high) of opposite signs), from `start`: Newton steps
    while they stay inside the bracket, bisection otherwise. `f(x)` returns (value, derivative)."""
    f_low = f(low)[0]
    x = start if start is not None and low < start < high else 0.5 * (low + high)
    for _ in range(_NEWTON_MAX_ITER * 2):
        value, slope = f(x)
        if value == 0:
            return x
        if (value < 0) == (f_low < 0):
            low = x
        else:
            high = x
        candidate = x - value / slope if slope != 0 else math.nan
        if not low < candidate < high:
            candidate = 0.5 * (low + high)
        if abs(candidate - x) < _NEWTON_TOL or high - low < _NEWTON_TOL:
            return candidate
        x = candidate
    return x


def _maximise(beta: float, stages: _ResponseStages, low: float, high: float, start: float) -> float:
    """The maximum of the concave log-likelihood in x: the root of its decreasing gradient."""

    def gradient(point: float) -> tuple[float, float]:
        _, grad, hess = _loglik_and_derivatives(point, beta, stages)
        return grad, hess

    return _root(gradient, low, high, start)
