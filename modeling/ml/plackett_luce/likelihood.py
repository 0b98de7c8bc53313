"""The exact Plackett–Luce (Davidson–Luce) log-likelihood of ComparisonData, its gradient, its information, and the
pseudo-comparison prior.

Utilities θ are log-worths. Ties are priced by ``log_delta``, an array indexed by the size t of a tied group
(log δ_t; entries 0 and 1 are unused and 0). The stage model is described in data.py. Everything here is a few
vectorised passes over the flat stage/term arrays: no Python loop runs over judgments.

The pseudo-comparison prior gives every item ``strength`` virtual wins and ``strength`` virtual losses against a
phantom item of utility 0 (as the R PlackettLuce package does). It keeps early, disconnected comparison graphs
fittable, fixes the gauge (the phantom sits at 0) and, unlike choix's ``alpha``, does not grow with the pool size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .data import ComparisonData


@dataclass(frozen=True)
class Evaluation:
    """The log-likelihood at one point, with what the optimisers and standard errors need from the same pass."""

    log_likelihood: float
    gradient: np.ndarray | None  # ∂ℓ/∂θ, one per item
    tie_gradient: np.ndarray | None  # ∂ℓ/∂log δ_t, indexed by tied-group size
    information_diagonal: np.ndarray | None  # −∂²ℓ/∂θᵢ², one per item
    tie_information: np.ndarray | None = None  # −∂²ℓ/∂(log δ_t)², indexed like tie_gradient


def log_delta_array(data: ComparisonData, tie_parameters: dict[int, float] | float | None) -> np.ndarray:
    """log δ_t indexed by group size, from {size: δ} or one δ shared by all sizes (δ must be > 0)."""
    size = max(data.tie_sizes, default=1) + 1
    log_delta = np.zeros(size)
    if tie_parameters is None:
        return log_delta
    for t in data.tie_sizes:
        value = tie_parameters if isinstance(tie_parameters, (int, float)) else tie_parameters.get(t, 1.0)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"tie parameter for groups of {t} must be a positive number, got {float(value):g}.")
        log_delta[t] = np.log(value)
    return log_delta


def _term_utilities(data: ComparisonData, theta: np.ndarray, log_delta: np.ndarray | None) -> np.ndarray:
    if data.single_member_terms:
        utilities = theta[data.term_members]
    else:
        utilities = np.add.reduceat(theta[data.term_members], data.term_ptr[:-1]) / data.term_size
    if data.has_worst_choices:
        utilities = utilities * data.term_sign
    if data.has_ties and log_delta is not None:
        utilities = utilities + log_delta[data.term_size]
    return utilities


def _stage_softmax(data: ComparisonData, utilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Choice probability of every term within its stage, and each stage's log normaliser (log-sum-exp).

    One shift by the global maximum keeps exp from overflowing; only if some stage then underflows (its terms lie
    ~650 logits below the best term anywhere, which only a wild line-search step produces) do we pay for a
    per-stage maximum. Sums use bincount, several times faster than ufunc.reduceat on short segments."""
    shift = utilities.max()
    expo = np.exp(utilities - shift)
    total = np.bincount(data.term_stage, weights=expo, minlength=data.n_stages)
    if total.min() > 1e-280:
        return expo / total[data.term_stage], shift + np.log(total)
    top = np.maximum.reduceat(utilities, data.stage_ptr[:-1])
    expo = np.exp(utilities - top[data.term_stage])
    total = np.bincount(data.term_stage, weights=expo, minlength=data.n_stages)
    return expo / total[data.term_stage], top + np.log(total)


def evaluate(
    data: ComparisonData,
    theta: np.ndarray,
    log_delta: np.ndarray | None = None,
    *,
    gradient: bool = True,
    information_diagonal: bool = False,
) -> Evaluation:
    """Log-likelihood ℓ(θ, δ) of the data (no prior), optionally with its gradient and the diagonal of −∇²_θ ℓ."""
    n = data.n_items
    if data.n_stages == 0:
        zeros, no_ties = np.zeros(n), None if log_delta is None else np.zeros(len(log_delta))
        return Evaluation(
            0.0,
            zeros if gradient else None,
            no_ties if gradient else None,
            zeros if information_diagonal else None,
            no_ties if information_diagonal else None,
        )
    if data.is_pairwise:
        return _evaluate_pairs(data, theta, log_delta, gradient=gradient, information_diagonal=information_diagonal)
    utilities = _term_utilities(data, theta, log_delta)
    prob, log_norm = _stage_softmax(data, utilities)
    stage_log_prob = utilities[data.stage_chosen] - log_norm
    ll = float(stage_log_prob.sum() if data.unit_weights else np.dot(data.stage_weight, stage_log_prob))
    grad = tie_grad = diag = None
    if gradient:
        residual = data.term_is_chosen - prob
        if not data.unit_weights:
            residual *= data.term_weight
        coef = residual * data.term_sign if data.has_worst_choices else residual
        if data.single_member_terms:
            grad = np.bincount(data.term_members, weights=coef, minlength=n)
        else:
            grad = np.bincount(data.term_members, weights=(coef / data.term_size)[data.member_term], minlength=n)
        if log_delta is not None:
            tie_grad = np.bincount(data.term_size, weights=residual, minlength=len(log_delta))[: len(log_delta)]
            tie_grad[:2] = 0.0
    if information_diagonal:
        weighted = prob if data.unit_weights else data.term_weight * prob
        if data.single_member_terms:  # Σ_s w (p − p²): an item is one term of each stage it is in
            diag = np.bincount(data.term_members, weights=weighted * (1.0 - prob), minlength=n)
        else:
            member_slot, slot_item, slot_stage = data.slots
            first = np.bincount(
                data.term_members, weights=(weighted / data.term_size**2)[data.member_term], minlength=n
            )
            share = np.bincount(member_slot, weights=(prob * data.term_sign / data.term_size)[data.member_term])
            diag = first - np.bincount(slot_item, weights=data.stage_weight[slot_stage] * share**2, minlength=n)
    tie_info = None
    if information_diagonal and log_delta is not None:
        tie_info = np.zeros(len(log_delta))
        for t in data.tie_sizes:  # a stage's chance of choosing some group of t, q, has variance q(1 − q)
            groups = data.term_size == t
            chance = np.bincount(data.term_stage[groups], weights=prob[groups], minlength=data.n_stages)
            tie_info[t] = float(np.dot(data.stage_weight, chance * (1.0 - chance)))
    return Evaluation(ll, grad, tie_grad, diag, tie_info)


def _evaluate_pairs(
    data: ComparisonData, theta: np.ndarray, log_delta: np.ndarray | None, *, gradient: bool, information_diagonal: bool
) -> Evaluation:
    """``evaluate`` for strict pairs (Bradley–Terry), in closed form: about three times faster than the general path
    on the million-judgment refits that Newman's iteration serves."""
    winners, losers, weights = data.pairs()
    n = data.n_items
    margin = theta[winners] - theta[losers]
    log_prob = -np.logaddexp(0.0, -margin)
    ll = float(log_prob.sum() if data.unit_weights else np.dot(weights, log_prob))
    grad = tie_grad = diag = None
    surprise = np.exp(log_prob)  # P(winner wins) for now; 1 − it is how much the outcome surprised the model
    if information_diagonal:
        info = surprise * (1.0 - surprise) if data.unit_weights else weights * surprise * (1.0 - surprise)
        diag = np.bincount(winners, weights=info, minlength=n) + np.bincount(losers, weights=info, minlength=n)
    if gradient:
        surprise = 1.0 - surprise
        if not data.unit_weights:
            surprise *= weights
        grad = np.bincount(winners, weights=surprise, minlength=n) - np.bincount(losers, weights=surprise, minlength=n)
        tie_grad = np.zeros(len(log_delta)) if log_delta is not None else None
    tie_info = np.zeros(len(log_delta)) if information_diagonal and log_delta is not None else None
    return Evaluation(ll, grad, tie_grad, diag, tie_info)


def log_likelihood(
    data: ComparisonData, theta: np.ndarray, tie_parameters: dict[int, float] | float | None = None
) -> float:
    """ℓ(θ, δ): the data's log-likelihood without the prior; δ as {group size: δ} or one shared value."""
    theta = np.asarray(theta, dtype=np.float64)
    return evaluate(data, theta, log_delta_array(data, tie_parameters), gradient=False).log_likelihood


def information_matrix(data: ComparisonData, theta: np.ndarray, log_delta: np.ndarray | None = None) -> sp.csr_matrix:
    """−∇²_θ ℓ as a sparse n×n matrix: Σ_stages w (Σ_T p_T a_T a_Tᵀ − q qᵀ), a_T the term's loadings, q = Σ_T p_T a_T.

    For a log-linear choice model this does not depend on which term was chosen, so observed and expected
    information coincide. Memory is O(Σ_stage (items in stage)²), i.e. O(judgments · k²)."""
    n = data.n_items
    if data.n_stages == 0:
        return sp.csr_matrix((n, n))
    prob, _ = _stage_softmax(data, _term_utilities(data, theta, log_delta))
    weighted = data.term_weight * prob
    rows, cols, vals = [], [], []
    if data.single_member_terms:
        rows.append(data.term_members)
        cols.append(data.term_members)
        vals.append(weighted)
        share = prob * data.term_sign
    else:
        for t in np.unique(data.term_size):
            terms = np.flatnonzero(data.term_size == t)
            members = data.term_members[data.term_ptr[terms][:, None] + np.arange(t)]
            rows.append(np.repeat(members, t, axis=1).ravel())
            cols.append(np.tile(members, (1, t)).ravel())
            vals.append(np.repeat(weighted[terms] / t**2, t * t))
        member_slot, _, _ = data.slots
        share = np.bincount(member_slot, weights=(prob * data.term_sign / data.term_size)[data.member_term])
    _, slot_item, slot_stage = data.slots
    counts = np.bincount(slot_stage, minlength=data.n_stages)
    slot_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for r in np.unique(counts):
        stages = np.flatnonzero(counts == r)
        slots = slot_start[stages][:, None] + np.arange(r)
        left, right = slots[:, :, None], slots[:, None, :]
        rows.append(np.broadcast_to(slot_item[left], (len(stages), r, r)).ravel())
        cols.append(np.broadcast_to(slot_item[right], (len(stages), r, r)).ravel())
        vals.append((-data.stage_weight[stages][:, None, None] * share[left] * share[right]).ravel())
    matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return matrix.tocsr()


def prior_log_density(theta: np.ndarray, strength: float) -> float:
    """Σᵢ strength · [log σ(θᵢ) + log σ(−θᵢ)]: one virtual win and one loss per unit strength against the phantom."""
    if strength == 0:
        return 0.0
    return -strength * float(np.sum(np.logaddexp(0.0, theta) + np.logaddexp(0.0, -theta)))


def prior_gradient(theta: np.ndarray, strength: float) -> np.ndarray:
    return -strength * np.tanh(theta / 2.0)


def prior_information(theta: np.ndarray, strength: float) -> np.ndarray:
    """−∂²/∂θᵢ² of the prior: strength · 2σ(θ)(1 − σ(θ))."""
    return strength * 0.5 / np.cosh(theta / 2.0) ** 2
