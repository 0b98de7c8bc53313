"""Annotator reliability and first-position bias, estimated jointly with the Plackett–Luce intensities.

The model (Crowd-BT / NoisyBT in spirit, extended to every stage of the engine's choice model): annotator a answers
with their own temperature ``r_a`` (reliability) on the consensus utilities and a bonus ``b_a`` (side bias, in
logits) on the text shown first (on the left). At a choice stage with terms T (single texts or tied groups), a term's
utility for annotator a is

    u_T = r_a · sign · mean_{i∈T} θ_i  +  b_a · sign · (share of T that is the first-shown text)  +  log δ_|T|

so for a pair shown as (i, j): P(i above j) = σ(r_a (θ_i − θ_j) + b_a). r = 1 answers like the consensus, r = 0 at
random, r < 0 against it (an adversarial annotator). r is not capped; its *weight* in the intensity fit is.

Estimation alternates two conditional maximisations (``fit_with_reliability``):

1. θ-step — the engine's ``fit`` on the judgments weighted by each annotator's reliability. A weight w on a
   judgment tempers its log-likelihood (w · log P), which near the optimum matches the exact tempered model
   log σ(r Δθ) to first order in Δθ for w = r; it keeps every backend (choix, Newman, L-BFGS) available.
   Weights are r_a divided by the reliability of the median judgment (so a crowd of equally reliable annotators gets
   weight 1, and the fit equals the unweighted one), clipped to [0, ``max_weight``]: a negative reliability gets
   weight 0 rather than having its answers reversed — an annotator who answers against the consensus is not
   trusted to do so consistently. Adjudications (judgments whose own weight exceeds 1) keep their weight.
   Side bias enters the θ-step only through the reliability it lowers: the platform randomises the order shown,
   so a left-hand preference adds noise to the intensities, not a systematic error.
2. annotator step — with θ (and the tie parameters) fixed, each annotator's (r_a, b_a) maximises their exact
   log-likelihood plus a weak Gaussian prior, r ~ N(1, ``prior_sd_reliability``²), b ~ N(0, ``prior_sd_bias``²):
   a 2-parameter concave problem per annotator, solved by Newton's method for all annotators at once (bincount over
   stages, no loop over judgments). Standard errors come from the observed information (the 2×2 Hessian of the
   penalised log-likelihood at the optimum), conditional on θ.

Reported reliabilities are divided by the same median reference as the weights (and their standard errors too),
so 1 means "as reliable as the median judgment's annotator" — the consensus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from modeling.ml import plackett_luce
from modeling.ml.plackett_luce.data import ComparisonData
from modeling.ml.plackett_luce.likelihood import log_delta_array
from modeling.ml.plackett_luce.simulate import distinct_items

Z95 = 1.959963984540054
DEFAULT_PRIOR_SD_RELIABILITY = 0.5
DEFAULT_PRIOR_SD_BIAS = 1.0
DEFAULT_MAX_WEIGHT = 2.0
# The median reliability is never taken below this when normalising: a pool judged mostly by spammers has no
# consensus to speak of, and dividing by a near-zero median would hand every annotator the maximum weight.
MIN_REFERENCE_RELIABILITY = 0.25


@dataclass(frozen=True)
class AnnotatorLayout:
    """Who gave each judgment of a ComparisonData (in its judgment order) and what they saw first.

    ``judgment_annotator[j]`` is the annotator's index 0..n_annotators−1; ``judgment_first[j]`` the item index of
    the text shown first, −1 when unknown; ``fixed_weight[j]`` marks judgments whose weight the reliability must
    not change (researchers' adjudications)."""

    judgment_annotator: np.ndarray
    judgment_first: np.ndarray
    n_annotators: int
    fixed_weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.judgment_annotator.shape != self.judgment_first.shape:
            raise ValueError(
                f"layout: {self.judgment_annotator.size} annotators but {self.judgment_first.size} first-shown texts."
            )
        if self.judgment_annotator.size and (
            self.judgment_annotator.min() < 0 or self.judgment_annotator.max() >= self.n_annotators
        ):
            raise ValueError(f"layout: annotator indices must lie in 0..{self.n_annotators - 1}.")

    def check(self, data: ComparisonData) -> None:
        if self.judgment_annotator.size != data.n_judgments:
            raise ValueError(
                f"layout: {self.judgment_annotator.size} annotators given for {data.n_judgments} judgments."
            )


@dataclass(frozen=True)
class AnnotatorEstimates:
    """Per annotator (index a): reliability and side bias with standard errors, on the reported (normalised) scale."""

    reliability: np.ndarray
    reliability_se: np.ndarray
    side_bias: np.ndarray
    side_bias_se: np.ndarray
    n_judgments: np.ndarray
    weight: np.ndarray  # the factor each annotator's judgments carried in the final intensity fit
    reference: float  # the raw median reliability the reported values were divided by

    def upper(self, z: float = Z95) -> np.ndarray:
        return self.reliability + z * self.reliability_se

    def lower(self, z: float = Z95) -> np.ndarray:
        return self.reliability - z * self.reliability_se

    def confidently_below(self, threshold: float, z: float = Z95) -> np.ndarray:
        """Annotators whose reliability's upper 95 % bound lies below ``threshold`` (those auto-pause acts on)."""
        return (self.n_judgments > 0) & (self.upper(z) < threshold)


@dataclass
class ReliabilityFit:
    result: Any  # plackett_luce.FitResult of the final, reliability-weighted intensity fit
    estimates: AnnotatorEstimates
    rounds: int
    converged: bool
    weighted_data: ComparisonData = field(repr=False)
    settings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        est = self.estimates
        return {
            "rounds": self.rounds,
            "converged": self.converged,
            "n_annotators": int((est.n_judgments > 0).sum()),
            "reference_reliability": round(float(est.reference), 4),
            "n_down_weighted": int(((est.weight < 0.5) & (est.n_judgments > 0)).sum()),
            **self.settings,
        }


# ----- the annotator step -------------------------------------------------------------------------------------------


def _term_features(
    data: ComparisonData, theta: np.ndarray, log_delta: np.ndarray | None, judgment_first: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per term: x = sign · mean θ (scaled by r), z = sign · share of the term that is the first-shown text (scaled
    by b) and c = log δ of tied groups (not scaled)."""
    sign = data.term_sign if data.has_worst_choices else 1.0
    first_of_term = judgment_first[data.stage_judgment[data.term_stage]]
    if data.single_member_terms:
        x = theta[data.term_members]
        z = (data.term_members == first_of_term).astype(np.float64)
    else:
        x = np.add.reduceat(theta[data.term_members], data.term_ptr[:-1]) / data.term_size
        is_first = (data.term_members == first_of_term[data.member_term]).astype(np.float64)
        z = np.bincount(data.member_term, weights=is_first, minlength=data.n_terms) / data.term_size
    c = np.zeros(data.n_terms)
    if data.has_ties and log_delta is not None:
        c = log_delta[data.term_size]
    return x * sign, z * sign, c


def annotator_step(
    data: ComparisonData,
    theta: np.ndarray,
    layout: AnnotatorLayout,
    *,
    log_delta: np.ndarray | None = None,
    prior_sd_reliability: float = DEFAULT_PRIOR_SD_RELIABILITY,
    prior_sd_bias: float = DEFAULT_PRIOR_SD_BIAS,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    tol: float = 1e-6,
    max_iter: int = 50,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(r, b, se_r, se_b) per annotator, maximising each annotator's penalised log-likelihood with θ fixed.

    Uses ``data.stage_weight`` as the judgments' own weights (pass the unweighted data, not the reliability-weighted
    one). An annotator without judgments gets the prior: r = 1, b = 0 and the prior's standard deviations."""
    layout.check(data)
    n_annotators = layout.n_annotators
    r = np.ones(n_annotators) if init is None else np.asarray(init[0], dtype=np.float64).copy()
    b = np.zeros(n_annotators) if init is None else np.asarray(init[1], dtype=np.float64).copy()
    prior_r, prior_b = 1.0 / prior_sd_reliability**2, 1.0 / prior_sd_bias**2
    if data.n_stages == 0:
        return r, b, np.full(n_annotators, prior_sd_reliability), np.full(n_annotators, prior_sd_bias)
    x, z, c = _term_features(data, theta, log_delta, layout.judgment_first)
    stage_annotator = layout.judgment_annotator[data.stage_judgment]
    term_annotator = stage_annotator[data.term_stage]
    weight = data.stage_weight
    chosen = data.stage_chosen
    n_stages = data.n_stages

    def moments(r: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        utility = r[term_annotator] * x + b[term_annotator] * z + c
        # softmax within stages, shifted by each stage's maximum so no stage underflows whatever r is
        top = np.maximum.reduceat(utility, data.stage_ptr[:-1])
        expo = np.exp(utility - top[data.term_stage])
        total = np.bincount(data.term_stage, weights=expo, minlength=n_stages)
        p = expo / total[data.term_stage]
        mean_x = np.bincount(data.term_stage, weights=p * x, minlength=n_stages)
        mean_z = np.bincount(data.term_stage, weights=p * z, minlength=n_stages)
        var_x = np.bincount(data.term_stage, weights=p * x * x, minlength=n_stages) - mean_x**2
        var_z = np.bincount(data.term_stage, weights=p * z * z, minlength=n_stages) - mean_z**2
        cov = np.bincount(data.term_stage, weights=p * x * z, minlength=n_stages) - mean_x * mean_z

        def per_annotator(values: np.ndarray) -> np.ndarray:
            return np.bincount(stage_annotator, weights=weight * values, minlength=n_annotators)

        grad_r = per_annotator(x[chosen] - mean_x) - prior_r * (r - 1.0)
        grad_b = per_annotator(z[chosen] - mean_z) - prior_b * b
        h_rr = per_annotator(np.maximum(var_x, 0.0)) + prior_r
        h_bb = per_annotator(np.maximum(var_z, 0.0)) + prior_b
        h_rb = per_annotator(cov)
        return grad_r, grad_b, h_rr, h_bb, h_rb

    for _ in range(max_iter):
        grad_r, grad_b, h_rr, h_bb, h_rb = moments(r, b)
        det = h_rr * h_bb - h_rb**2
        step_r = (h_bb * grad_r - h_rb * grad_b) / det
        step_b = (h_rr * grad_b - h_rb * grad_r) / det
        # The problem is concave, so Newton converges; capping a step at one logit keeps the first steps from far
        # starting points from overshooting into a flat softmax.
        largest = np.maximum(np.abs(step_r), np.abs(step_b))
        damp = np.where(largest > 1.0, 1.0 / np.maximum(largest, 1e-300), 1.0)
        r += damp * step_r
        b += damp * step_b
        if float(largest.max(initial=0.0)) < tol:
            break
    _, _, h_rr, h_bb, h_rb = moments(r, b)
    det = h_rr * h_bb - h_rb**2
    return r, b, np.sqrt(h_bb / det), np.sqrt(h_rr / det)


# ----- the alternation ------------------------------------------------------------------------------------------------


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    keep = weights > 0
    if not keep.any():
        return 1.0
    order = np.argsort(values[keep])
    cumulative = np.cumsum(weights[keep][order])
    # the first annotator past half of the judgments; an exact half-way split takes the more reliable side
    return float(values[keep][order][np.searchsorted(cumulative, cumulative[-1] / 2.0, side="right")])


def judgment_counts(layout: AnnotatorLayout) -> np.ndarray:
    return np.bincount(layout.judgment_annotator, minlength=layout.n_annotators).astype(np.int64)


def fit_with_reliability(
    data: ComparisonData,
    layout: AnnotatorLayout,
    *,
    init: np.ndarray | None = None,
    init_reliability: tuple[np.ndarray, np.ndarray] | None = None,
    prior_sd_reliability: float = DEFAULT_PRIOR_SD_RELIABILITY,
    prior_sd_bias: float = DEFAULT_PRIOR_SD_BIAS,
    max_weight: float = DEFAULT_MAX_WEIGHT,
    max_rounds: int = 10,
    weight_tol: float = 0.02,
    fit: Callable[..., Any] | None = None,
    **fit_kwargs: Any,
) -> ReliabilityFit:
    """Intensities and annotator reliabilities by alternating maximisation (module docstring).

    ``init`` warm-starts the utilities (e.g. the published fit), ``init_reliability`` the annotators' raw (r, b)
    (e.g. the published estimates times their reference). Stops when no annotator's weight moves by more than
    ``weight_tol`` between rounds (the alternation converges linearly, the change roughly halving each round), then
    fits once more with standard errors. ``fit_kwargs`` go to the engine's ``fit`` (backend, prior_strength, tol,
    choix_max_items, se_exact_max_items, …); ``compute_se`` is managed here. With ``backend="auto"`` the rounds use
    the O(m) backends (the same optimum without choix's dense matrices) and only the final fit uses the choice
    ``fit_kwargs`` make.
    """
    layout.check(data)
    if not 0 < max_weight:
        raise ValueError(f"max_weight must be positive, got {max_weight!r}.")
    if not (prior_sd_reliability > 0 and prior_sd_bias > 0):
        raise ValueError("the prior standard deviations of reliability and side bias must be positive.")
    engine_fit = fit if fit is not None else plackett_luce.fit
    fit_kwargs.pop("compute_se", None)
    round_kwargs = dict(fit_kwargs)
    if round_kwargs.get("backend", "auto") == "auto":
        round_kwargs["choix_max_items"] = 0
    counts = judgment_counts(layout)
    fixed = layout.fixed_weight if layout.fixed_weight is not None else np.zeros(data.n_judgments, dtype=bool)
    base_weight = data.stage_weight

    def weights_from(r: np.ndarray) -> tuple[np.ndarray, float]:
        reference = max(_weighted_median(r, counts.astype(np.float64)), MIN_REFERENCE_RELIABILITY)
        return np.clip(r / reference, 0.0, max_weight), reference

    def weighted(factor: np.ndarray) -> ComparisonData:
        per_judgment = np.where(fixed, 1.0, factor[layout.judgment_annotator])
        return replace(data, stage_weight=base_weight * per_judgment[data.stage_judgment])

    r, b = (np.ones(layout.n_annotators), np.zeros(layout.n_annotators)) if init_reliability is None else (
        np.asarray(init_reliability[0], dtype=np.float64).copy(),
        np.asarray(init_reliability[1], dtype=np.float64).copy(),
    )
    factor, reference = weights_from(r) if init_reliability is not None else (np.ones(layout.n_annotators), 1.0)
    theta = init
    converged, rounds = False, 0
    result = None
    for rounds in range(1, max_rounds + 1):  # noqa: B007 (reported)
        result = engine_fit(weighted(factor), init=theta, compute_se=False, **round_kwargs)
        theta = result.utilities
        log_delta = log_delta_array(data, result.tie_parameters or None) if data.has_ties else None
        r, b, _, _ = annotator_step(
            data, theta, layout, log_delta=log_delta, prior_sd_reliability=prior_sd_reliability,
            prior_sd_bias=prior_sd_bias, init=(r, b),
        )
        new_factor, reference = weights_from(r)
        change = float(np.max(np.abs(new_factor - factor), initial=0.0))
        factor = new_factor
        if change < weight_tol:
            converged = True
            break
    final_data = weighted(factor)
    result = engine_fit(final_data, init=theta, compute_se=True, **fit_kwargs)
    log_delta = log_delta_array(data, result.tie_parameters or None) if data.has_ties else None
    r, b, se_r, se_b = annotator_step(
        data, result.utilities, layout, log_delta=log_delta, prior_sd_reliability=prior_sd_reliability,
        prior_sd_bias=prior_sd_bias, init=(r, b),
    )
    estimates = AnnotatorEstimates(
        reliability=r / reference,
        reliability_se=se_r / reference,
        side_bias=b,
        side_bias_se=se_b,
        n_judgments=counts,
        weight=factor,
        reference=reference,
    )
    return ReliabilityFit(
        result=result,
        estimates=estimates,
        rounds=rounds,
        converged=converged,
        weighted_data=final_data,
        settings={
            "prior_sd_reliability": prior_sd_reliability,
            "prior_sd_bias": prior_sd_bias,
            "max_weight": max_weight,
        },
    )


# ----- simulated crowds (tests and the reliability benchmark) ------------------------------------------------------


@dataclass(frozen=True)
class SimulatedCrowd:
    """Pairwise judgments by a mixed crowd: ``data`` (winners over losers), who gave each, what they saw first."""

    data: ComparisonData
    layout: AnnotatorLayout
    kinds: np.ndarray  # per annotator: "honest" | "spammer" | "adversarial"
    true_reliability: np.ndarray
    true_side_bias: np.ndarray


def simulate_crowd_pairs(
    theta: np.ndarray,
    n_judgments: int,
    *,
    n_annotators: int,
    spammer_share: float = 0.0,
    adversarial_share: float = 0.0,
    side_bias_sd: float = 0.0,
    seed: int | np.random.Generator | None = None,
) -> SimulatedCrowd:
    """Pairs drawn uniformly, each shown in random order to a uniformly drawn annotator, answered by
    P(first above second) = σ(r_a (θ_first − θ_second) + b_a): honest annotators r = 1, spammers r = 0 (they still
    keep their own side bias), adversarial annotators r = −1; side biases b ~ N(0, side_bias_sd²)."""
    rng = np.random.default_rng(seed)
    n_spam = int(round(spammer_share * n_annotators))
    n_adv = int(round(adversarial_share * n_annotators))
    if n_spam + n_adv > n_annotators:
        raise ValueError("spammer_share + adversarial_share exceed the crowd.")
    kinds = np.array(["honest"] * (n_annotators - n_spam - n_adv) + ["spammer"] * n_spam + ["adversarial"] * n_adv)
    rng.shuffle(kinds)
    reliability = np.select([kinds == "spammer", kinds == "adversarial"], [0.0, -1.0], default=1.0)
    bias = rng.normal(0.0, side_bias_sd, size=n_annotators) if side_bias_sd > 0 else np.zeros(n_annotators)
    pairs = distinct_items(theta.size, n_judgments, 2, seed=rng)
    first, second = pairs[:, 0], pairs[:, 1]
    annotator = rng.integers(n_annotators, size=n_judgments)
    margin = reliability[annotator] * (theta[first] - theta[second]) + bias[annotator]
    first_wins = rng.random(n_judgments) < 1.0 / (1.0 + np.exp(-margin))
    winners = np.where(first_wins, first, second)
    losers = np.where(first_wins, second, first)
    data = ComparisonData.from_pairs(theta.size, winners, losers)
    layout = AnnotatorLayout(judgment_annotator=annotator, judgment_first=first, n_annotators=n_annotators)
    return SimulatedCrowd(data, layout, kinds, reliability, bias)
