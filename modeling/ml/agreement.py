"""Agreement figures of a Plackett–Luce fit: split-half reliability, each annotator's agreement (Kendall τ) with the
consensus, LLM–human agreement, and fragility (does dropping the k most influential judgments change the top?).

All functions take the engine's ``ComparisonData`` (and, where annotators matter, the reliability module's
``AnnotatorLayout``); pairwise preferences, per-judgment influences and subsets are computed from its flat stage
arrays with numpy, without a loop over judgments.

* **Split-half reliability** (the best–worst scaling literature's standard): the judgments are split at random into
  two halves, each half is fitted on its own, the Pearson correlation r of the two halves' utilities (over items
  judged in both) is corrected to full length by Spearman–Brown, 2r / (1 + r); the median over a few splits is
  reported.
* **Agreement with a reference order**: every stage whose chosen term is a single text implies "chosen above each
  other single text offered" (for a worst choice, below); tied choices imply no strict preference. An annotator's
  agreement is the share of their preferences the reference utilities order the same way (equal utilities: half);
  Kendall's τ is 2 · agreement − 1 over those pairs.
* **Fragility** (after Broderick, Giordano & Meager's approximate maximum influence perturbation): the quantity at
  stake is the utility gap between the 10th and 11th text, the boundary of the top 10. Dropping judgment j moves the
  utilities by about −H⁻¹gⱼ (one Newton step; H the penalised information, gⱼ the judgment's score), so it changes
  the gap by −vᵀH⁻¹gⱼ with v = e₁₀ − e₁₁. The k judgments whose removal shrinks the gap most are dropped, the data
  refitted, and the report says whether the top-10 set changed and gives Kendall's τ of the old top 10 under the
  new utilities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
from scipy.stats import kendalltau

from modeling.ml import plackett_luce
from modeling.ml.plackett_luce.data import ComparisonData
from modeling.ml.plackett_luce.likelihood import information_matrix, log_delta_array, prior_information
from modeling.ml.reliability import AnnotatorLayout


def _ptr(counts: np.ndarray) -> np.ndarray:
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr


def data_subset(data: ComparisonData, keep: np.ndarray) -> ComparisonData:
    """The judgments where ``keep`` (a boolean per judgment) is true, renumbered 0.. in their order."""
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (data.n_judgments,):
        raise ValueError(f"keep: expected one flag per judgment ({data.n_judgments}), got shape {keep.shape}.")
    keep_stage = keep[data.stage_judgment]
    keep_term = keep_stage[data.term_stage]
    keep_member = keep_term[data.member_term]
    new_term = np.cumsum(keep_term) - 1
    new_judgment = np.cumsum(keep) - 1
    stages = np.flatnonzero(keep_stage)
    term_size = data.term_size[keep_term]
    return ComparisonData(
        n_items=data.n_items,
        n_judgments=int(keep.sum()),
        stage_ptr=_ptr(np.diff(data.stage_ptr)[stages]),
        stage_chosen=new_term[data.stage_chosen[stages]],
        stage_sign=data.stage_sign[stages],
        stage_weight=data.stage_weight[stages],
        stage_judgment=new_judgment[data.stage_judgment[stages]],
        term_ptr=_ptr(term_size),
        term_size=term_size,
        term_members=data.term_members[keep_member],
    )


def layout_subset(layout: AnnotatorLayout, keep: np.ndarray) -> AnnotatorLayout:
    return AnnotatorLayout(
        judgment_annotator=layout.judgment_annotator[keep],
        judgment_first=layout.judgment_first[keep],
        n_annotators=layout.n_annotators,
        fixed_weight=None if layout.fixed_weight is None else layout.fixed_weight[keep],
    )


# ----- split-half reliability ---------------------------------------------------------------------------------------


def spearman_brown(correlation: float, factor: float = 2.0) -> float:
    """The reliability of a test ``factor`` times as long as one whose reliability is ``correlation``."""
    return factor * correlation / (1.0 + (factor - 1.0) * correlation)


def split_half_reliability(
    data: ComparisonData,
    *,
    n_splits: int = 5,
    seed: int = 0,
    min_items: int = 3,
    fit: Callable[..., Any] | None = None,
    **fit_kwargs: Any,
) -> dict[str, Any] | None:
    """Median Spearman–Brown-corrected split-half correlation of the utilities over ``n_splits`` random splits of
    the judgments (see the module docstring); None with fewer than two judgments or ``min_items`` items judged in
    both halves."""
    if data.n_judgments < 2:
        return None
    engine_fit = fit if fit is not None else plackett_luce.fit
    fit_kwargs.pop("compute_se", None)
    rng = np.random.default_rng(seed)
    corrected, raw, compared = [], [], []
    for _ in range(n_splits):
        half = np.zeros(data.n_judgments, dtype=bool)
        half[rng.permutation(data.n_judgments)[: data.n_judgments // 2]] = True
        first, second = data_subset(data, half), data_subset(data, ~half)
        both = (first.item_judgment_counts() > 0) & (second.item_judgment_counts() > 0)
        if both.sum() < min_items:
            continue
        u1 = engine_fit(first, compute_se=False, **fit_kwargs).utilities[both]
        u2 = engine_fit(second, compute_se=False, **fit_kwargs).utilities[both]
        if u1.std() == 0 or u2.std() == 0:
            continue
        r = float(np.corrcoef(u1, u2)[0, 1])
        raw.append(r)
        corrected.append(spearman_brown(r))
        compared.append(int(both.sum()))
    if not corrected:
        return None
    return {
        "reliability": float(np.median(corrected)),
        "half_correlation": float(np.median(raw)),
        "splits": [round(value, 4) for value in corrected],
        "items_compared": int(np.median(compared)),
    }


# ----- pairwise preferences and agreement ---------------------------------------------------------------------------


def strict_preferences(data: ComparisonData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(winners, losers, judgment) of every strict pairwise preference the data state (module docstring): at each
    stage, every member of the chosen term (a text, or a group of tied texts) against every other single text
    still offered — above it for a best choice, below it for a worst choice. Texts tied together state nothing
    between themselves."""
    chosen_size = data.term_size[data.stage_chosen]
    stage = data.term_stage
    others = np.flatnonzero((data.term_size == 1) & (data.term_is_chosen == 0))
    other_item = data.term_members[data.term_ptr[:-1][others]]
    other_stage = stage[others]
    winners, losers, judgments = [], [], []
    # one pass per size of chosen group (1 for plain choices, 2.. for tied groups): a few passes, no loop over
    # judgments
    for size in np.unique(chosen_size):
        here = chosen_size[other_stage] == size
        stage_here = other_stage[here]
        members = data.term_members[data.term_ptr[:-1][data.stage_chosen[stage_here]][:, None] + np.arange(size)]
        other_here = np.repeat(other_item[here], size)
        chosen_here = members.ravel()
        stage_rep = np.repeat(stage_here, size)
        distinct = chosen_here != other_here
        if size > 1:  # a single-text term of a member of the chosen group is that member, not an opponent
            in_group = (members == other_item[here][:, None]).any(axis=1)
            distinct &= ~np.repeat(in_group, size)
        best_choice = data.stage_sign[stage_rep] > 0
        winners.append(np.where(best_choice, chosen_here, other_here)[distinct])
        losers.append(np.where(best_choice, other_here, chosen_here)[distinct])
        judgments.append(data.stage_judgment[stage_rep][distinct])
    if not winners:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(winners), np.concatenate(losers), np.concatenate(judgments)


def annotator_agreement(
    data: ComparisonData, reference: np.ndarray, layout: AnnotatorLayout
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per annotator: (pairs, agreement, Kendall τ) of their strict preferences with the ``reference`` utilities;
    agreement and τ are NaN for an annotator without preferences."""
    layout.check(data)
    winners, losers, judgment = strict_preferences(data)
    annotator = layout.judgment_annotator[judgment]
    gap = reference[winners] - reference[losers]
    agree = (gap > 0) + 0.5 * (gap == 0)
    n_pairs = np.bincount(annotator, minlength=layout.n_annotators)
    agreeing = np.bincount(annotator, weights=agree, minlength=layout.n_annotators)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(n_pairs > 0, agreeing / np.maximum(n_pairs, 1), np.nan)
    return n_pairs.astype(np.int64), agreement, 2.0 * agreement - 1.0


def llm_human_agreement(
    data: ComparisonData,
    layout: AnnotatorLayout,
    is_llm: np.ndarray,
    *,
    fit: Callable[..., Any] | None = None,
    **fit_kwargs: Any,
) -> dict[str, Any] | None:
    """Agreement of each LLM annotator (``is_llm[a]``) with the consensus of the *human* judgments alone, beside
    the humans' own agreement with that consensus for scale. None without both humans and LLM judgments."""
    is_llm = np.asarray(is_llm, dtype=bool)
    llm_judgment = is_llm[layout.judgment_annotator]
    if llm_judgment.all() or not llm_judgment.any():
        return None
    engine_fit = fit if fit is not None else plackett_luce.fit
    fit_kwargs.pop("compute_se", None)
    humans = data_subset(data, ~llm_judgment)
    human_consensus = engine_fit(humans, compute_se=False, **fit_kwargs).utilities
    n_pairs, agreement, tau = annotator_agreement(data, human_consensus, layout)
    human_pairs = n_pairs[~is_llm]
    human_agreeing = np.nansum((agreement * n_pairs)[~is_llm])
    return {
        "human_consensus_judgments": int(humans.n_judgments),
        "humans_with_their_consensus": float(human_agreeing / human_pairs.sum()) if human_pairs.sum() else None,
        "annotators": {
            int(a): {"pairs": int(n_pairs[a]), "agreement": _finite(agreement[a]), "tau": _finite(tau[a])}
            for a in np.flatnonzero(is_llm)
            if n_pairs[a] > 0
        },
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# ----- fragility ----------------------------------------------------------------------------------------------------


def _stage_probabilities(data: ComparisonData, theta: np.ndarray, log_delta: np.ndarray | None) -> np.ndarray:
    if data.single_member_terms:
        utility = theta[data.term_members].astype(np.float64)
    else:
        utility = np.add.reduceat(theta[data.term_members], data.term_ptr[:-1]) / data.term_size
    if data.has_worst_choices:
        utility = utility * data.term_sign
    if data.has_ties and log_delta is not None:
        utility = utility + log_delta[data.term_size]
    top = np.maximum.reduceat(utility, data.stage_ptr[:-1])
    expo = np.exp(utility - top[data.term_stage])
    return expo / np.bincount(data.term_stage, weights=expo, minlength=data.n_stages)[data.term_stage]


def judgment_influence_on(
    data: ComparisonData,
    theta: np.ndarray,
    direction: np.ndarray,
    *,
    log_delta: np.ndarray | None,
    prior_strength: float,
) -> np.ndarray:
    """Per judgment j, the first-order change of directionᵀθ when j is dropped: −directionᵀ H⁻¹ gⱼ."""
    hessian = information_matrix(data, theta, log_delta) + sp.diags(prior_information(theta, prior_strength))
    diagonal = hessian.diagonal()
    preconditioner = sp.diags(1.0 / np.where(diagonal > 0, diagonal, 1.0))
    solved, info = scipy.sparse.linalg.cg(hessian, direction, M=preconditioner, rtol=1e-10, maxiter=5000)
    if info != 0:  # CG did not reach its tolerance: fall back to an exact sparse solve
        solved = scipy.sparse.linalg.spsolve(hessian.tocsc(), direction)
    p = _stage_probabilities(data, theta, log_delta)
    residual = data.term_weight * (data.term_is_chosen - p)
    if data.has_worst_choices:
        residual = residual * data.term_sign
    if data.single_member_terms:
        term_value = solved[data.term_members]
    else:
        term_value = np.add.reduceat(solved[data.term_members], data.term_ptr[:-1]) / data.term_size
    stage_score = np.bincount(data.term_stage, weights=residual * term_value, minlength=data.n_stages)
    return -np.bincount(data.stage_judgment, weights=stage_score, minlength=data.n_judgments)


def fragility(
    data: ComparisonData,
    utilities: np.ndarray,
    *,
    tie_parameters: dict[int, float] | None = None,
    prior_strength: float = 1.0,
    top: int = 10,
    drop_fraction: float = 0.01,
    max_drop: int = 200,
    fit: Callable[..., Any] | None = None,
    **fit_kwargs: Any,
) -> dict[str, Any] | None:
    """Drop the k = max(1, min(max_drop, drop_fraction · judgments)) judgments that most support the top-``top``
    boundary and refit (module docstring). None when the pool has no more than ``top`` items or too few judgments."""
    n_items = utilities.size
    if n_items <= top or data.n_judgments < 2:
        return None
    engine_fit = fit if fit is not None else plackett_luce.fit
    fit_kwargs.pop("compute_se", None)
    log_delta = log_delta_array(data, tie_parameters or None) if data.has_ties else None
    order = np.argsort(-utilities, kind="stable")
    inside, outside = order[top - 1], order[top]
    direction = np.zeros(n_items)
    direction[inside], direction[outside] = 1.0, -1.0
    influence = judgment_influence_on(
        data, utilities, direction, log_delta=log_delta, prior_strength=prior_strength
    )
    k = int(max(1, min(max_drop, round(drop_fraction * data.n_judgments), data.n_judgments - 1)))
    dropped = np.argsort(influence, kind="stable")[:k]
    keep = np.ones(data.n_judgments, dtype=bool)
    keep[dropped] = False
    refit = engine_fit(
        data_subset(data, keep), init=utilities, prior_strength=prior_strength, compute_se=False, **fit_kwargs
    ).utilities
    old_top = order[:top]
    new_top = np.argsort(-refit, kind="stable")[:top]
    tau = kendalltau(utilities[old_top], refit[old_top]).statistic
    gap_before = float(utilities[inside] - utilities[outside])
    return {
        "top": top,
        "dropped": k,
        "dropped_share": round(k / data.n_judgments, 5),
        "top_changed": bool(set(old_top.tolist()) != set(new_top.tolist())),
        "top_overlap": len(set(old_top.tolist()) & set(new_top.tolist())) / top,
        "top_kendall_tau": _finite(float(tau)) if tau is not None else None,
        "boundary_gap": gap_before,
        "boundary_gap_predicted": gap_before + float(influence[dropped].sum()),
        "boundary_gap_after": float(refit[inside] - refit[outside]),
    }
