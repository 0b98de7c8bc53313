"""Fit Plackett–Luce utilities behind one interface, ``fit()``, with three backends that reach the same optimum.

* ``choix`` — choix's I-LSR (Maystre & Grossglauser 2015): we call its one-step LSR routines in our own loop
  (``lsr_pairwise_dense`` for pairs, ``lsr_top1`` for rankings decomposed into their choice stages, which is what
  ``ilsr_rankings`` does internally) so that the stopping rule and the iteration count are ours. Our prior is
  expressed in choix as a real phantom item n with its virtual comparisons (choix's own ``alpha`` is added to every
  pair and so grows with n); the gauge is fixed afterwards by moving the phantom to 0. choix builds dense n×n
  matrices, so it serves small pools (``choix_max_items``, 2,000 by default) and is the reference in tests.
* ``newman`` — Newman's (2023) fixed-point iteration for pairwise data, O(judgments) per iteration:
  πᵢ ← Σⱼ wᵢⱼ πⱼ/(πᵢ+πⱼ) / Σⱼ wⱼᵢ/(πᵢ+πⱼ), with the phantom's virtual comparisons added to both sums.
* ``lbfgs`` — L-BFGS on the exact penalised likelihood (likelihood.py), preconditioned by the information diagonal
  at the start: pairs, lists, ties (δ_t estimated or fixed), best–worst, weights. O(judgments · k²) per evaluation.

All three stop at a *statistical* tolerance: the largest change of any utility between iterations below ``tol``
(1e-3 by default, far below any standard error); L-BFGS additionally requires the diagonal Newton step
|gᵢ| / Hᵢᵢ to be below ``tol``, since a quasi-Newton step can be small while still far from the optimum.

Standard errors come from the information matrix of the penalised likelihood (prior included): for up to
``se_exact_max_items`` free items, the exact diagonal of its inverse (dense Cholesky); above that, the diagonal
approximation 1/√Hᵢᵢ, which ignores the uncertainty an item inherits from its opponents and so runs a little narrow
(the refit benchmark prints the resulting coverage). Standard errors are conditional on the fitted tie parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize

from .data import ComparisonData
from .likelihood import (
    evaluate,
    information_matrix,
    log_delta_array,
    prior_gradient,
    prior_information,
    prior_log_density,
)

BACKENDS = ("auto", "choix", "newman", "lbfgs")
# log δ is kept in [1e-6, 1e3]: a protocol that offers ties but never sees one drives δ to 0, i.e. to the boundary.
LOG_DELTA_BOUNDS = (float(np.log(1e-6)), float(np.log(1e3)))
DEFAULT_TIE_START = 0.5


@dataclass
class FitResult:
    """One fit of one value. ``utilities`` are in the prior's gauge (the phantom item sits at 0) unless anchors were
    held ``fixed``, which then set the gauge. ``se`` is 0 for fixed anchors."""

    utilities: np.ndarray
    se: np.ndarray | None
    log_likelihood: float  # of the data alone
    penalised_log_likelihood: float  # data + pseudo-comparison prior: the objective that was maximised
    iterations: int
    converged: bool
    backend: str  # "choix" | "newman" | "lbfgs"
    backend_reason: str
    seconds: float
    tie_parameter: float | None  # Davidson's ν = δ₂ when ties were possible, else None
    tie_parameters: dict[int, float] = field(default_factory=dict)  # δ_t by tied-group size
    se_method: str | None = None  # "exact" | "diagonal" | None
    prior_strength: float = 1.0
    fixed: dict[int, float] = field(default_factory=dict)
    n_judgments: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description of the fit, without the per-item arrays."""
        return {
            "backend": self.backend,
            "backend_reason": self.backend_reason,
            "log_likelihood": self.log_likelihood,
            "penalised_log_likelihood": self.penalised_log_likelihood,
            "iterations": self.iterations,
            "converged": self.converged,
            "seconds": round(self.seconds, 4),
            "tie_parameter": self.tie_parameter,
            "tie_parameters": {str(k): v for k, v in self.tie_parameters.items()},
            "se_method": self.se_method,
            "prior_strength": self.prior_strength,
            "n_fixed": len(self.fixed),
            "n_items": int(self.utilities.size),
            "n_judgments": self.n_judgments,
        }


@dataclass
class _Solution:
    theta: np.ndarray
    log_delta: np.ndarray
    iterations: int
    converged: bool


def choose_backend(
    data: ComparisonData,
    *,
    backend: str = "auto",
    prior_strength: float = 1.0,
    fixed: Mapping[int, float] | None = None,
    choix_max_items: int = 2000,
) -> tuple[str, str]:
    """(backend, reason): which fitter ``fit`` will use for these data and why. Raises ValueError when an explicitly
    requested backend cannot fit the data."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}.")
    unsupported = []
    if data.has_ties:
        unsupported.append("judgments from a protocol that allows ties")
    if data.has_worst_choices:
        unsupported.append("best–worst judgments")
    choix_blockers = list(unsupported)
    if fixed:
        choix_blockers.append("anchors held fixed")
    if not data.is_pairwise and not _is_whole(data.stage_weight):
        choix_blockers.append("non-integer weights on rankings")
    if not data.is_pairwise and not _is_whole(np.array([prior_strength])):
        choix_blockers.append("a non-integer prior strength with rankings")
    if prior_strength <= 0:
        choix_blockers.append("no pseudo-comparison prior")

    if backend == "choix":
        if choix_blockers:
            raise ValueError(f"The choix backend cannot fit these data: {'; '.join(choix_blockers)}.")
        return "choix", "requested"
    if backend == "newman":
        if unsupported or not data.is_pairwise:
            raise ValueError(
                "Newman's iteration fits strict pairwise judgments only; these data contain "
                + ("; ".join(unsupported) if unsupported else "rankings of more than two items")
                + "."
            )
        return "newman", "requested"
    if backend == "lbfgs":
        return "lbfgs", "requested"
    if unsupported:
        return "lbfgs", f"the data contain {' and '.join(unsupported)}, which only the exact-likelihood L-BFGS models"
    if data.n_items <= choix_max_items and not choix_blockers:
        return "choix", f"{data.n_items} items ≤ choix_max_items={choix_max_items}"
    size_note = (
        f"{data.n_items} items > choix_max_items={choix_max_items}"
        if data.n_items > choix_max_items
        else f"choix cannot take {'; '.join(choix_blockers)}"
    )
    if data.is_pairwise:
        return "newman", f"strict pairwise data; {size_note}"
    return "lbfgs", f"rankings; {size_note}"


def fit(
    data: ComparisonData,
    *,
    backend: str = "auto",
    prior_strength: float = 1.0,
    init: np.ndarray | FitResult | None = None,
    fixed: Mapping[int, float] | None = None,
    tie_strength: float | None = None,
    tol: float = 1e-3,
    max_iter: int = 1000,
    choix_max_items: int = 2000,
    compute_se: bool = True,
    se_exact_max_items: int = 2000,
) -> FitResult:
    """Fit utilities θ maximising ℓ(θ, δ) + prior(θ).

    ``init`` warm-starts from earlier utilities (an array, or a FitResult whose tie parameters are reused too); it
    may be shorter than the pool, and items it does not cover start at 0. ``fixed`` holds anchors' utilities at the
    given values. ``tie_strength`` fixes δ (Davidson's ν; shared by all tied-group sizes); None estimates δ_t for
    every size the data can tie. See the module docstring for backends, stopping and standard errors.
    """
    started = time.perf_counter()
    if not (np.isfinite(prior_strength) and prior_strength >= 0):
        raise ValueError(f"prior_strength must be a finite number ≥ 0, got {prior_strength!r}.")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}.")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter!r}.")
    fixed_map = _check_fixed(fixed, data.n_items)
    if prior_strength == 0 and not fixed_map:
        raise ValueError(
            "Without a prior (prior_strength=0) and without fixed anchors the utilities have no gauge and "
            "disconnected data have no finite optimum; use prior_strength > 0 or fix at least one anchor."
        )
    if tie_strength is not None and not (np.isfinite(tie_strength) and tie_strength > 0):
        raise ValueError(f"tie_strength must be a positive number or None (estimate it), got {tie_strength!r}.")
    name, reason = choose_backend(
        data, backend=backend, prior_strength=prior_strength, fixed=fixed_map, choix_max_items=choix_max_items
    )

    theta0 = _initial_utilities(init, data.n_items)
    fixed_idx = np.fromiter(fixed_map.keys(), dtype=np.int64, count=len(fixed_map))
    theta0[fixed_idx] = np.fromiter(fixed_map.values(), dtype=np.float64, count=len(fixed_map))
    free = np.setdiff1d(np.arange(data.n_items), fixed_idx)
    if tie_strength is not None:
        log_delta0 = log_delta_array(data, float(tie_strength))
    elif isinstance(init, FitResult) and init.tie_parameters:
        log_delta0 = log_delta_array(data, {t: init.tie_parameters.get(t, DEFAULT_TIE_START) for t in data.tie_sizes})
    else:
        log_delta0 = log_delta_array(data, DEFAULT_TIE_START)

    if data.n_stages == 0:  # nothing judged: the prior alone, whose optimum puts every free item at the phantom's 0
        theta0[free] = 0.0
        solution = _Solution(theta0, log_delta0, 0, True)
        reason = "no judgments yet: the prior alone"
    elif name == "choix":
        solution = _fit_choix(data, theta0, prior_strength, tol, int(max_iter))
    elif name == "newman":
        solution = _fit_newman(data, theta0, free, prior_strength, tol, int(max_iter))
    else:
        solution = _fit_lbfgs(data, theta0, log_delta0, free, tie_strength is None, prior_strength, tol, int(max_iter))

    theta, log_delta = solution.theta, solution.log_delta
    if not np.isfinite(theta).all():
        raise ValueError(
            "The fit diverged (some utilities are infinite): with prior_strength=0 an item that always wins or always "
            "loses has no finite utility. Use a pseudo-comparison prior (prior_strength > 0)."
        )
    # One pass gives the log-likelihood and, when the standard errors will use it, the information diagonal.
    diagonal_se = compute_se and free.size > se_exact_max_items
    final = evaluate(data, theta, log_delta, gradient=False, information_diagonal=diagonal_se)
    ll = final.log_likelihood
    se, se_method = (None, None)
    if compute_se:
        se, se_method = standard_errors(
            data,
            theta,
            log_delta,
            prior_strength=prior_strength,
            free=free,
            exact_max_items=se_exact_max_items,
            information_diagonal=final.information_diagonal,
        )
    tie_parameters = {t: float(np.exp(log_delta[t])) for t in data.tie_sizes}
    return FitResult(
        utilities=theta,
        se=se,
        log_likelihood=ll,
        penalised_log_likelihood=ll + prior_log_density(theta, prior_strength),
        iterations=solution.iterations,
        converged=solution.converged,
        backend=name,
        backend_reason=reason,
        seconds=time.perf_counter() - started,
        tie_parameter=tie_parameters.get(2),
        tie_parameters=tie_parameters,
        se_method=se_method,
        prior_strength=float(prior_strength),
        fixed=fixed_map,
        n_judgments=data.n_judgments,
    )


def standard_errors(
    data: ComparisonData,
    theta: np.ndarray,
    log_delta: np.ndarray | None = None,
    *,
    prior_strength: float,
    free: np.ndarray | None = None,
    exact_max_items: int = 2000,
    information_diagonal: np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """(se, method) of the utilities from the penalised information matrix; 0 for items not in ``free``.
    ``information_diagonal`` may pass in the data's −∂²ℓ/∂θᵢ² at ``theta`` if already computed."""
    free = np.arange(data.n_items) if free is None else free
    se = np.zeros(data.n_items)
    if free.size == 0:
        return se, "exact"
    prior_info = prior_information(theta[free], prior_strength)
    if free.size <= exact_max_items:
        info = information_matrix(data, theta, log_delta)[free][:, free].toarray()
        info[np.diag_indices_from(info)] += prior_info
        try:
            lower = scipy.linalg.cholesky(info, lower=True)
        except np.linalg.LinAlgError:
            pass  # singular: some free item is pinned by nothing (no prior, no comparisons); fall back below
        else:
            # diag(H⁻¹)ᵢ = Σₖ (L⁻¹)ₖᵢ² for H = LLᵀ; LAPACK's triangular inverse costs a third of a solve against I.
            inverse_lower, status = scipy.linalg.lapack.dtrtri(lower, lower=1)
            if status == 0:
                se[free] = np.sqrt((inverse_lower**2).sum(axis=0))
                return se, "exact"
    diagonal = information_diagonal
    if diagonal is None:
        diagonal = evaluate(data, theta, log_delta, gradient=False, information_diagonal=True).information_diagonal
    assert diagonal is not None
    total = diagonal[free] + prior_info
    with np.errstate(divide="ignore"):
        se[free] = np.where(total > 0, 1.0 / np.sqrt(np.maximum(total, 0.0)), np.inf)
    return se, "diagonal"


# ----- backends ----------------------------------------------------------------------------------------------------


def _fit_newman(
    data: ComparisonData, theta0: np.ndarray, free: np.ndarray, prior: float, tol: float, max_iter: int
) -> _Solution:
    winners, losers, weights = data.pairs()
    unit = bool((weights == 1).all())
    n = data.n_items
    theta = theta0.copy()
    is_free = np.zeros(n, dtype=bool)
    is_free[free] = True
    converged, iterations = False, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        worth = np.exp(theta)
        pair_rate = 1.0 / (worth[winners] + worth[losers])
        if not unit:
            pair_rate *= weights
        wins = np.bincount(winners, weights=pair_rate * worth[losers], minlength=n)
        losses = np.bincount(losers, weights=pair_rate, minlength=n)
        if prior > 0:
            phantom_rate = prior / (worth + 1.0)  # the phantom's worth is exp(0) = 1
            wins += phantom_rate
            losses += phantom_rate
        with np.errstate(divide="ignore"):
            updated = np.log(wins) - np.log(losses)
        change = float(np.max(np.abs(updated[is_free] - theta[is_free]), initial=0.0))
        theta[is_free] = updated[is_free]
        if change < tol:
            converged = True
            break
        if not np.isfinite(change):
            break
    return _Solution(theta, np.zeros(1), iterations, converged)


def _fit_lbfgs(
    data: ComparisonData,
    theta0: np.ndarray,
    log_delta0: np.ndarray,
    free: np.ndarray,
    estimate_ties: bool,
    prior: float,
    tol: float,
    max_iter: int,
) -> _Solution:
    theta, log_delta = theta0.copy(), log_delta0.copy()
    n_free = free.size
    tie_index = np.array(data.tie_sizes if estimate_ties else (), dtype=np.int64)
    latest: dict[str, Any] = {}
    # Diagonal preconditioning: optimise x = √Hᵢᵢ·θᵢ (H at the start; likewise for log δ), so that an item compared 200
    # times and one compared twice look alike to L-BFGS. Measured: warm refits take half the iterations, and fits
    # with a tie parameter (which couples every judgment) a third.
    start = evaluate(data, theta, log_delta, gradient=False, information_diagonal=True)
    assert start.information_diagonal is not None and start.tie_information is not None
    curvature0 = np.concatenate(
        [start.information_diagonal[free] + prior_information(theta[free], prior), start.tie_information[tie_index]]
    )
    scale = np.sqrt(np.where(curvature0 > 0, curvature0, 1.0))

    def unpack(x: np.ndarray) -> None:
        theta[free] = x[:n_free] / scale[:n_free]
        log_delta[tie_index] = x[n_free:] / scale[n_free:]

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        unpack(x)
        ev = evaluate(data, theta, log_delta, information_diagonal=True)
        assert ev.gradient is not None and ev.information_diagonal is not None and ev.tie_gradient is not None
        theta_free = theta[free]
        grad_free = ev.gradient[free] + prior_gradient(theta_free, prior)
        curvature = ev.information_diagonal[free] + prior_information(theta_free, prior)
        newton = np.divide(np.abs(grad_free), curvature, out=np.zeros(n_free), where=curvature > 0)
        latest.update(x=x.copy(), newton_step=float(np.max(newton, initial=0.0)))
        value = -(ev.log_likelihood + prior_log_density(theta_free, prior))
        return value, -np.concatenate([grad_free, ev.tie_gradient[tie_index]]) / scale

    def newton_step_at(x: np.ndarray) -> float:
        if "x" not in latest or not np.array_equal(latest["x"], x):
            objective(x)
        return float(latest["newton_step"])

    x0 = np.concatenate([theta0[free], log_delta0[tie_index]]) * scale
    previous = {"x": x0.copy()}

    def converged_at(x: np.ndarray) -> bool:
        step = float(np.max(np.abs(x - previous["x"]) / scale, initial=0.0))  # in logits, not in x
        previous["x"] = x.copy()
        return step < tol and newton_step_at(x) < tol

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        if converged_at(intermediate_result.x):
            raise StopIteration

    bounds = None
    if tie_index.size:
        lower = np.concatenate([np.full(n_free, -np.inf), np.full(tie_index.size, LOG_DELTA_BOUNDS[0])])
        upper = np.concatenate([np.full(n_free, np.inf), np.full(tie_index.size, LOG_DELTA_BOUNDS[1])])
        bounds = scipy.optimize.Bounds(lower * scale, upper * scale)
    if x0.size == 0:  # every item is a fixed anchor: nothing to optimise
        return _Solution(theta, log_delta, 0, True)
    result = scipy.optimize.minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        # Our callback decides convergence; scipy's own tests are set so that they do not stop first.
        options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-15, "gtol": 1e-12},
    )
    unpack(result.x)
    return _Solution(theta, log_delta, int(result.nit), newton_step_at(result.x) < tol)


def _fit_choix(data: ComparisonData, theta0: np.ndarray, prior: float, tol: float, max_iter: int) -> _Solution:
    import choix  # only this backend needs it

    n = data.n_items
    phantom = n
    step: Callable[[np.ndarray], np.ndarray]
    if data.is_pairwise:
        winners, losers, weights = data.pairs()
        cells = winners * (n + 1) + losers
        counts = np.bincount(cells, weights=weights, minlength=(n + 1) ** 2).astype(np.float64)
        comparisons = counts.reshape(n + 1, n + 1)
        comparisons[:n, phantom] += prior  # each item beats the phantom `prior` times ...
        comparisons[phantom, :n] += prior  # ... and loses to it as often

        def step(params: np.ndarray) -> np.ndarray:
            return choix.lsr_pairwise_dense(comparisons, alpha=0.0, initial_params=params)

    else:
        top1 = _choice_stages_as_top1(data)
        top1 += [(i, (phantom,)) for i in range(n)] * int(prior) + [(phantom, (i,)) for i in range(n)] * int(prior)

        def step(params: np.ndarray) -> np.ndarray:
            return choix.lsr_top1(n + 1, top1, alpha=0.0, initial_params=params)

    params = np.append(theta0, 0.0)
    theta = theta0.copy()
    converged, iterations = False, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        params = step(params)
        updated = params[:n] - params[phantom]  # gauge: the phantom at 0
        change = float(np.max(np.abs(updated - theta), initial=0.0))
        theta = updated
        if change < tol:
            converged = True
            break
    return _Solution(theta, np.zeros(1), iterations, converged)


def _choice_stages_as_top1(data: ComparisonData) -> list[tuple[int, tuple[int, ...]]]:
    """Strict best-choice stages as choix top-1 data (winner, the others offered), repeated by integer weight."""
    stages = []
    for s in range(data.n_stages):
        terms = data.term_members[data.stage_ptr[s] : data.stage_ptr[s + 1]]
        winner = int(data.term_members[data.stage_chosen[s]])
        stage = (winner, tuple(int(item) for item in terms if item != winner))
        stages += [stage] * int(round(data.stage_weight[s]))
    return stages


# ----- helpers -----------------------------------------------------------------------------------------------------


def _is_whole(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


def _check_fixed(fixed: Mapping[int, float] | None, n_items: int) -> dict[int, float]:
    checked: dict[int, float] = {}
    for item, value in (fixed or {}).items():
        if int(item) != item or not 0 <= item < n_items:
            raise ValueError(f"fixed: anchor {item!r} is not an item index in 0..{n_items - 1}.")
        if not np.isfinite(value):
            raise ValueError(f"fixed: anchor {item} has utility {value!r}; anchors need finite utilities.")
        checked[int(item)] = float(value)
    return checked


def _initial_utilities(init: np.ndarray | FitResult | None, n_items: int) -> np.ndarray:
    theta = np.zeros(n_items)
    if init is None:
        return theta
    values = np.asarray(init.utilities if isinstance(init, FitResult) else init, dtype=np.float64).ravel()
    if values.size > n_items:
        raise ValueError(f"init: {values.size} utilities for a pool of {n_items} items.")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"init: item {bad[0]} has utility {float(values[bad[0]]):g}; warm starts need finite utilities."
        )
    theta[: values.size] = values
    return theta
