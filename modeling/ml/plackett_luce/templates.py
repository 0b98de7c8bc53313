"""Stage templates: how a judgment of a given shape (group sizes, unranked items, tie allowance; or a best–worst
tuple) becomes choice stages, and how one template is stamped out for many judgments at once with numpy.

A template works in *positions* of a judgment's item list; ``block_from_template`` gathers the items for J judgments
of that shape in one step. The stage model itself is described in data.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class Template:
    """The stages and terms shared by every judgment of one shape, in positions of the judgment's item list."""

    n_positions: int
    stage_n_terms: np.ndarray  # terms offered at each stage
    stage_chosen: np.ndarray  # chosen term of each stage, indexed within the template's terms
    stage_sign: np.ndarray  # +1 best-choice, -1 worst-choice
    term_size: np.ndarray  # 1 for a single item, t for a group of t tied items
    member_positions: np.ndarray  # the positions of each term's members, terms one after another


def template_from_stages(n_positions: int, stages: list[tuple[list[tuple[int, ...]], int, int]]) -> Template:
    terms = [term for stage_terms, _, _ in stages for term in stage_terms]
    chosen, offset = [], 0
    for stage_terms, chosen_local, _ in stages:
        chosen.append(offset + chosen_local)
        offset += len(stage_terms)
    return Template(
        n_positions=n_positions,
        stage_n_terms=np.array([len(stage_terms) for stage_terms, _, _ in stages], dtype=np.int64),
        stage_chosen=np.array(chosen, dtype=np.int64),
        stage_sign=np.array([sign for _, _, sign in stages], dtype=np.int8),
        term_size=np.array([len(term) for term in terms], dtype=np.int64),
        member_positions=np.array([p for term in terms for p in term], dtype=np.int64),
    )


@lru_cache(maxsize=1024)
def ordering_template(group_sizes: tuple[int, ...], n_unranked: int, max_tie_size: int) -> Template:
    """Stages of an ordering whose groups have these sizes, followed by ``n_unranked`` shown-but-unranked items."""
    n_positions = sum(group_sizes) + n_unranked
    remaining = list(range(n_positions))
    stages: list[tuple[list[tuple[int, ...]], int, int]] = []
    start = 0
    for size in group_sizes:
        group = tuple(range(start, start + size))
        start += size
        if len(remaining) <= 1:  # choosing the only item left tells nothing
            break
        stage_terms = [
            subset for t in range(1, min(max_tie_size, len(remaining)) + 1) for subset in combinations(remaining, t)
        ]
        stages.append((stage_terms, stage_terms.index(group), 1))
        remaining = [p for p in remaining if p not in group]
    return template_from_stages(n_positions, stages)


@lru_cache(maxsize=64)
def best_worst_template(k: int) -> Template:
    """Positions: 0 is the best, 1 the worst, 2..k-1 the other shown items."""
    stages: list[tuple[list[tuple[int, ...]], int, int]] = [([(p,) for p in range(k)], 0, 1)]
    if k > 2:  # with two items the worst is implied by the best
        stages.append(([(p,) for p in range(1, k)], 0, -1))
    return template_from_stages(k, stages)


@dataclass(frozen=True)
class Block:
    """Arrays of one group of judgments before they are joined; indices are local to the block."""

    n_judgments: int
    stage_n_terms: np.ndarray
    stage_chosen: np.ndarray
    stage_sign: np.ndarray
    stage_weight: np.ndarray
    stage_judgment: np.ndarray
    term_size: np.ndarray
    term_members: np.ndarray


def block_from_template(template: Template, items: np.ndarray, weights: np.ndarray, judgment: np.ndarray) -> Block:
    """Instantiate a template for J judgments: ``items`` is (J, n_positions), the judgments' items by position."""
    n = items.shape[0]
    n_stages, n_terms = len(template.stage_n_terms), len(template.term_size)
    return Block(
        n_judgments=n,
        stage_n_terms=np.tile(template.stage_n_terms, n),
        stage_chosen=(np.arange(n, dtype=np.int64)[:, None] * n_terms + template.stage_chosen).ravel(),
        stage_sign=np.tile(template.stage_sign, n),
        stage_weight=np.repeat(weights, n_stages),
        stage_judgment=np.repeat(judgment, n_stages),
        term_size=np.tile(template.term_size, n),
        term_members=items[:, template.member_positions].ravel(),
    )
