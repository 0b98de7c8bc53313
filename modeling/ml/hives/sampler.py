"""Batches for HiVES training.

Stage 1 (`HierarchicalBatchSampler`): an anchor example, up to 4 positives sharing its full path and direction, and
negatives from the anchor's theory filling the batch (32 rows by default). Random same-theory rows share the
anchor's coarser levels often enough to give every level positives. A text never appears twice in a batch: two
labels of one text would otherwise be pulled apart as negatives of each other. With `stratified`, the negatives come
in equal shares from each relation their texts have to the anchor's text (same path, same levels 1–2, same level 1,
another level-1 value), as the evaluation draws one candidate per bin; at random, texts with several labels make
most of a Touché batch share the anchor's full path.

Stage 2 (`Stage2BatchSampler`): the Stage 1 batch plus anchor/positive pairs for the individual-anchor term (two
different texts with the same individual-anchor id) and for the concept term (two texts of one cross-theory concept
from different theories). The batch keeps *which rows belong to which term* as explicit positions, so each loss
term is computed on exactly its own rows — never on positional slices of a shuffled batch.

Samplers are deterministic given their seed; `state()` / `set_state()` let training resume mid-run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data import LabelArrays


class HierarchicalBatchSampler:
    def __init__(
        self,
        labels: LabelArrays,
        *,
        batch_size: int = 32,
        n_positives: int = 4,
        seed: int = 0,
        stratified: bool = False,
    ) -> None:
        if len(labels) == 0:
            raise ValueError("HiVES needs at least one training example")
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {batch_size}")
        if not 0 <= n_positives < batch_size:
            raise ValueError(f"n_positives must be between 0 and batch_size - 1, got {n_positives}")
        self.labels = labels
        self.batch_size = batch_size
        self.n_positives = n_positives
        self.stratified = stratified
        self.rng = np.random.default_rng(seed)
        leaf = labels.level_ids[:, -1]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for row, key in enumerate(zip(leaf.tolist(), labels.directions.tolist(), strict=True)):
            groups[key].append(row)
        self._group_of_row = [(int(a), int(b)) for a, b in zip(leaf, labels.directions, strict=True)]
        self._groups = {key: np.asarray(rows) for key, rows in groups.items()}
        self._theory_rows = {
            int(theory): np.flatnonzero(labels.theory_ids == theory) for theory in np.unique(labels.theory_ids)
        }
        self._order = self.rng.permutation(len(labels))
        self._position = 0

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": self._order.tolist(), "position": self._position}

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._order = np.asarray(state["order"], dtype=np.int64)
        self._position = int(state["position"])

    def _next_anchor(self) -> int:
        if self._position >= len(self._order):
            self._order = self.rng.permutation(len(self.labels))
            self._position = 0
        anchor = int(self._order[self._position])
        self._position += 1
        return anchor

    def _take(self, candidates: np.ndarray, wanted: int, chosen: list[int], used_texts: set[int]) -> None:
        """Append up to `wanted` rows of `candidates` (in random order) whose texts are not in the batch yet."""
        if wanted <= 0 or candidates.size == 0:
            return
        taken = 0
        for row in self.rng.permutation(candidates):
            text = int(self.labels.text_index[row])
            if text in used_texts:
                continue
            chosen.append(int(row))
            used_texts.add(text)
            taken += 1
            if taken == wanted:
                return

    def _take_stratified(
        self, anchor: int, rows: np.ndarray, wanted: int, chosen: list[int], used_texts: set[int]
    ) -> None:
        """Up to `wanted` rows of `rows`, in equal shares from each relation their texts have to the anchor's text
        (LabelArrays.text_similarity: same path, same levels 1–2, same level 1, other level-1 value, …)."""
        rows = rows[self.labels.text_index[rows] != self.labels.text_index[anchor]]
        relation = self.labels.text_similarity(np.asarray([anchor]), rows)[0]
        values = self.rng.permutation(np.unique(relation))
        for i, value in enumerate(values):
            share = wanted // len(values) + (1 if i < wanted % len(values) else 0)
            self._take(rows[relation == value], share, chosen, used_texts)

    def sample(self, batch_size: int | None = None) -> np.ndarray:
        """Row indices of one batch: the anchor first, then its positives, then same-theory negatives."""
        size = batch_size or self.batch_size
        anchor = self._next_anchor()
        chosen = [anchor]
        used_texts = {int(self.labels.text_index[anchor])}
        group = self._groups[self._group_of_row[anchor]]
        self._take(group[group != anchor], self.n_positives, chosen, used_texts)
        theory_rows = self._theory_rows[int(self.labels.theory_ids[anchor])]
        if self.stratified:
            self._take_stratified(anchor, theory_rows, size - len(chosen), chosen, used_texts)
        in_group = np.isin(theory_rows, group)
        self._take(theory_rows[~in_group], size - len(chosen), chosen, used_texts)
        # A theory with few other values: fill up with more rows of the anchor's own group.
        self._take(group, size - len(chosen), chosen, used_texts)
        return np.asarray(chosen, dtype=np.int64)


@dataclass
class Stage2Batch:
    """One Stage 2 batch: `rows` are example indices (each embedded once); the other fields are positions into
    `rows` naming the rows of each loss term."""

    rows: np.ndarray
    hierarchical: np.ndarray
    individual_anchors: np.ndarray
    individual_positives: np.ndarray
    concept_anchors: np.ndarray
    concept_positives: np.ndarray


class Stage2BatchSampler:
    """Stage 2 batches: 32 hierarchical rows + 8 individual-anchor pairs + 8 concept pairs (64 rows) by default."""

    def __init__(
        self,
        labels: LabelArrays,
        *,
        hierarchical_rows: int = 32,
        individual_pairs: int = 8,
        concept_pairs: int = 8,
        n_positives: int = 4,
        seed: int = 0,
        stratified: bool = False,
    ) -> None:
        self.labels = labels
        self.hierarchical = HierarchicalBatchSampler(
            labels, batch_size=hierarchical_rows, n_positives=n_positives, seed=seed, stratified=stratified
        )
        self.rng = np.random.default_rng(seed + 1)
        self.individual_pairs = individual_pairs
        self.concept_pairs = concept_pairs
        # Individual anchors with at least two different texts can form a pair.
        self._anchor_groups = {
            anchor: rows
            for anchor, rows in _rows_by(labels.anchor_ids).items()
            if np.unique(labels.text_index[rows]).size >= 2
        }
        # Concepts whose examples span two or more theories can form a cross-theory pair.
        self._concept_groups = {
            concept: rows
            for concept, rows in _rows_by(labels.concept_ids).items()
            if np.unique(labels.theory_ids[rows]).size >= 2
        }

    @property
    def has_individual_pairs(self) -> bool:
        return bool(self._anchor_groups)

    @property
    def has_concept_pairs(self) -> bool:
        return bool(self._concept_groups)

    def state(self) -> dict[str, Any]:
        return {"hierarchical": self.hierarchical.state(), "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        self.hierarchical.set_state(state["hierarchical"])
        self.rng.bit_generator.state = state["rng"]

    def _individual(self) -> list[tuple[int, int]]:
        keys = list(self._anchor_groups)
        pairs = []
        for key in self.rng.permutation(keys)[: self.individual_pairs]:
            rows = self._anchor_groups[int(key)]
            first = int(self.rng.choice(rows))
            others = rows[self.labels.text_index[rows] != self.labels.text_index[first]]
            pairs.append((first, int(self.rng.choice(others))))
        return pairs

    def _concepts(self) -> list[tuple[int, int]]:
        keys = list(self._concept_groups)
        pairs = []
        for key in self.rng.permutation(keys)[: self.concept_pairs]:
            rows = self._concept_groups[int(key)]
            first = int(self.rng.choice(rows))
            others = rows[self.labels.theory_ids[rows] != self.labels.theory_ids[first]]
            pairs.append((first, int(self.rng.choice(others))))
        return pairs

    def sample(self) -> Stage2Batch:
        hierarchical = self.hierarchical.sample()
        individual, concept = self._individual(), self._concepts()
        rows = list(dict.fromkeys([*hierarchical.tolist(), *(r for pair in individual + concept for r in pair)]))
        position = {row: i for i, row in enumerate(rows)}

        def positions(selected: list[int]) -> np.ndarray:
            return np.asarray([position[row] for row in selected], dtype=np.int64)

        return Stage2Batch(
            rows=np.asarray(rows, dtype=np.int64),
            hierarchical=positions(hierarchical.tolist()),
            individual_anchors=positions([a for a, _ in individual]),
            individual_positives=positions([p for _, p in individual]),
            concept_anchors=positions([a for a, _ in concept]),
            concept_positives=positions([p for _, p in concept]),
        )


def _rows_by(ids: np.ndarray) -> dict[int, np.ndarray]:
    groups: dict[int, list[int]] = defaultdict(list)
    for row, key in enumerate(ids.tolist()):
        if key >= 0:
            groups[key].append(row)
    return {key: np.asarray(rows, dtype=np.int64) for key, rows in groups.items()}
