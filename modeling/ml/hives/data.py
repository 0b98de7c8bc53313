"""HiVES training examples: a text with its value path (cut to three levels), its direction, and optional
individual-anchor and cross-theory concept ids — plus the integer label arrays the sampler, losses and metrics use.

How a value becomes a three-level path (the cut):

- A value's path is the chain of values from its theory's top level down to it, following the *first* parent in
  taxonomy order where a value has two (Schwartz's hedonism sits under openness to change, face under
  self-enhancement, humility under self-transcendence).
- A theory deeper than three levels loses its top levels: Schwartz's refined theory has four (growth /
  self-protection → the four higher-order values → the basic values → the refined sub-values), so HiVES paths start
  at the higher-order value. Nothing is lost: each higher-order value has exactly one parent above it. Texts
  labelled only with a dropped top-level value name nothing HiVES can place and are left out.
- A path shorter than three levels is padded by repeating its deepest value, so a text labelled with a coarse value
  (a Moral Foundations foundation, a duty) counts as that value's own leaf: two texts of `mft:care-harm` share
  every level, and a text of `mft:care-harm` and one of `mft:kindness` share level 1 only.

Path elements are qualified keys (`svt:benevolence`), so keys that two theories share (`justice`, `tradition`)
never match across theories. Directions are +1 supports, −1 opposes, 0 neutral.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LEVELS = 3
# |published intensity| below this counts as neutral when a pool item has no direction of its own.
NEUTRAL_DEAD_ZONE = 1.0
SUPPORTS, NEUTRAL, OPPOSES = 1, 0, -1
DIRECTION_NAMES = {SUPPORTS: "supports", NEUTRAL: "neutral", OPPOSES: "opposes"}


@dataclass(frozen=True)
class ValueNode:
    """A value of the taxonomy as HiVES sees it: its qualified key and its parents' keys, first parent first."""

    key: str  # theory:key
    theory: str
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class HivesExample:
    """One training or evaluation example: a text under one value path. A text with several labels gives several
    examples that share `text_id`."""

    text_id: int | str
    text: str
    theory: str
    path: tuple[str, ...]  # exactly LEVELS qualified keys, padded (see the module docstring)
    direction: int
    anchor: str | None = None  # individual-anchor id (Stage 2)
    concept: str | None = None  # cross-theory concept id (Stage 2)
    value: str = ""  # the qualified key of the value the label came from

    @property
    def depth(self) -> int:
        """How many levels of the path are real rather than padding."""
        depth = LEVELS
        while depth > 1 and self.path[depth - 1] == self.path[depth - 2]:
            depth -= 1
        return depth


def full_path(key: str, nodes: dict[str, ValueNode]) -> list[str]:
    """Top-level value → … → `key`, following first parents; stops at a cycle rather than looping."""
    chain = [key]
    seen = {key}
    node = nodes[key]
    while node.parents:
        parent = node.parents[0]
        if parent in seen or parent not in nodes:
            break
        chain.append(parent)
        seen.add(parent)
        node = nodes[parent]
    return chain[::-1]


def value_paths(values: Iterable[ValueNode], *, levels: int = LEVELS) -> dict[str, tuple[str, ...]]:
    """Qualified value key → its padded `levels`-level path; values on a dropped top level are absent."""
    nodes = {node.key: node for node in values}
    chains = {key: full_path(key, nodes) for key in nodes}
    depth_of_theory: dict[str, int] = defaultdict(int)
    for key, chain in chains.items():
        depth_of_theory[nodes[key].theory] = max(depth_of_theory[nodes[key].theory], len(chain))
    paths: dict[str, tuple[str, ...]] = {}
    for key, chain in chains.items():
        dropped = max(0, depth_of_theory[nodes[key].theory] - levels)
        if len(chain) > dropped:  # a value on a dropped top level has no path
            paths[key] = pad_path(chain[dropped:], levels=levels)
    return paths


def pad_path(path: Sequence[str], *, levels: int = LEVELS) -> tuple[str, ...]:
    if not path:
        raise ValueError("a value path needs at least one value")
    cut = list(path)[:levels]
    return tuple(cut + [cut[-1]] * (levels - len(cut)))


def direction_from(
    direction: int | None, intensity: float | None, *, dead_zone: float = NEUTRAL_DEAD_ZONE
) -> int | None:
    """The label's own direction if it has one, else the sign of its intensity (|x| < dead_zone is neutral)."""
    if direction is not None:
        return int(direction)
    if intensity is None:
        return None
    if abs(intensity) < dead_zone:
        return NEUTRAL
    return SUPPORTS if intensity > 0 else OPPOSES


def collapse_labels(examples: Iterable[HivesExample]) -> list[HivesExample]:
    """Drop a label that a deeper label of the same text (same theory and direction) already implies.

    Imports often put a text in a refined value's pool and in its parent's (Touché's `Benevolence: caring` is both
    benevolence-caring and benevolence); the coarser label would otherwise be a second example of the same text with
    a different path, and the two would be pushed apart as negatives.
    """
    by_text: dict[tuple, list[HivesExample]] = defaultdict(list)
    for example in examples:
        by_text[(example.text_id, example.theory, example.direction)].append(example)
    kept: list[HivesExample] = []
    for group in by_text.values():
        unique = list({example.path: example for example in group}.values())
        for example in unique:
            own = example.path[: example.depth]
            implied = any(
                other is not example and other.depth > example.depth and other.path[: example.depth] == own
                for other in unique
            )
            if not implied:
                kept.append(example)
    return kept


def split_by_text(
    examples: Sequence[HivesExample], *, held_out_fraction: float, seed: int
) -> tuple[list[HivesExample], list[HivesExample]]:
    """(train, held out): every example of one text lands on the same side, so no text is seen in both."""
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be between 0 and 1, got {held_out_fraction}")
    text_ids = sorted({example.text_id for example in examples}, key=str)
    random.Random(seed).shuffle(text_ids)
    n_held_out = max(1, round(len(text_ids) * held_out_fraction)) if len(text_ids) > 1 else 0
    held_out_ids = set(text_ids[:n_held_out])
    train = [example for example in examples if example.text_id not in held_out_ids]
    held_out = [example for example in examples if example.text_id in held_out_ids]
    return train, held_out


def graded_similarity(shared: Callable[[int, bool], np.ndarray]) -> np.ndarray:
    """How closely two texts are related, for a matrix of text pairs: the most leading path levels any label pair of
    the two shares, + 0.5 when those labels also agree in direction (level 0 is the theory: 0–3.5). `shared(level,
    directed)` says, as a boolean matrix, which pairs share a level-`level` prefix (and direction when `directed`).
    The one definition that training (LabelArrays.text_similarity) and the evaluation (metrics) both use."""
    target: np.ndarray | None = None
    for level in range(LEVELS + 1):
        for directed, score in ((False, float(level)), (True, level + 0.5)):
            pairs = shared(level, directed)
            if target is None:
                target = np.zeros(pairs.shape, dtype=np.float32)
            target = np.where(pairs, np.maximum(target, score), target)
    assert target is not None  # LEVELS + 1 ≥ 1 rounds
    return target


@dataclass
class LabelArrays:
    """Integer labels of a list of examples, row for row.

    `level_ids[i, l]` identifies the (theory, path[: l + 1]) prefix of example i, so two examples share level l + 1
    exactly when their ids in column l are equal. `anchor_ids` / `concept_ids` are −1 where an example has none.
    """

    level_ids: np.ndarray  # int64 [n, LEVELS]
    directions: np.ndarray  # int64 [n]
    theory_ids: np.ndarray  # int64 [n]
    text_index: np.ndarray  # int64 [n]: index into `texts`
    anchor_ids: np.ndarray  # int64 [n]
    concept_ids: np.ndarray  # int64 [n]
    texts: list[str] = field(repr=False)  # the distinct texts, in first-seen order
    theories: list[str] = field(default_factory=list)
    prefixes: list[tuple[str, ...]] = field(default_factory=list, repr=False)  # level id → prefix

    def __len__(self) -> int:
        return int(self.level_ids.shape[0])

    def text_positives(self, rows: np.ndarray) -> np.ndarray:
        """[LEVELS, len(rows), len(rows)] boolean: the *texts* of rows i and j share a level-l prefix with the same
        direction through any of their labels (a text with several labels carries all of them, whichever one its
        row was sampled for). Pairs of rows of the same text are False."""
        texts = self.text_index[rows]
        out = np.zeros((LEVELS, len(rows), len(rows)), dtype=bool)
        for level, matrix in enumerate(self._text_label_matrices()):
            sub = matrix[texts]
            out[level] = (sub @ sub.T).toarray() > 0
        out[:, texts[:, None] == texts[None, :]] = False
        return out

    def text_similarity(self, rows: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
        """[len(rows), len(others)] float32 (others: `rows` again by default): how closely the *texts* of rows i and
        j are related, as the evaluation scores it (metrics.TextLabels.relations) — the most leading path levels any
        label pair of the two shares, + 0.5 when those labels agree in direction (0–3.5; texts of different theories
        0). Pairs of rows of the same text are 0."""
        texts = self.text_index[rows]
        other_texts = texts if others is None else self.text_index[others]

        def shared(level: int, directed: bool) -> np.ndarray:
            matrix = self._text_incidence(level, directed=directed)
            return (matrix[texts] @ matrix[other_texts].T).toarray() > 0

        target = graded_similarity(shared)
        target[texts[:, None] == other_texts[None, :]] = 0.0
        return target

    def _text_label_matrices(self) -> list:
        """Per level 1..LEVELS, a sparse [texts, (prefix, direction)] incidence matrix (built once)."""
        return [self._text_incidence(level, directed=True) for level in range(1, LEVELS + 1)]

    def _text_incidence(self, level: int, *, directed: bool) -> Any:
        """A sparse [texts, level-`level` prefix (and direction)] incidence matrix (built once); level 0 is the
        theory."""
        cached: dict[tuple[int, bool], Any] = self.__dict__.setdefault("_incidence", {})
        if (level, directed) not in cached:
            from scipy.sparse import csr_matrix

            prefixes = self.theory_ids if level == 0 else self.level_ids[:, level - 1]
            keys = prefixes * 3 + (self.directions + 1) if directed else prefixes
            _, columns = np.unique(keys, return_inverse=True)
            data = np.ones(len(keys), dtype=np.int32)
            cached[(level, directed)] = csr_matrix(
                (data, (self.text_index, columns)), shape=(len(self.texts), columns.max() + 1)
            )
        return cached[(level, directed)]

    @classmethod
    def from_examples(cls, examples: Sequence[HivesExample]) -> LabelArrays:
        prefix_ids: dict[tuple[str, ...], int] = {}
        theory_ids: dict[str, int] = {}
        text_ids: dict[int | str, int] = {}
        texts: list[str] = []
        anchor_ids: dict[str, int] = {}
        concept_ids: dict[str, int] = {}
        n = len(examples)
        level_ids = np.empty((n, LEVELS), dtype=np.int64)
        arrays = {name: np.empty(n, dtype=np.int64) for name in ("dir", "theory", "text", "anchor", "concept")}
        for row, example in enumerate(examples):
            if len(example.path) != LEVELS:
                raise ValueError(f"example {example.text_id!r} has a path of {len(example.path)} levels, not {LEVELS}")
            for level in range(LEVELS):
                prefix = (example.theory, *example.path[: level + 1])
                level_ids[row, level] = prefix_ids.setdefault(prefix, len(prefix_ids))
            arrays["dir"][row] = example.direction
            arrays["theory"][row] = theory_ids.setdefault(example.theory, len(theory_ids))
            if example.text_id not in text_ids:
                text_ids[example.text_id] = len(texts)
                texts.append(example.text)
            arrays["text"][row] = text_ids[example.text_id]
            arrays["anchor"][row] = anchor_ids.setdefault(example.anchor, len(anchor_ids)) if example.anchor else -1
            arrays["concept"][row] = (
                concept_ids.setdefault(example.concept, len(concept_ids)) if example.concept else -1
            )
        return cls(
            level_ids=level_ids,
            directions=arrays["dir"],
            theory_ids=arrays["theory"],
            text_index=arrays["text"],
            anchor_ids=arrays["anchor"],
            concept_ids=arrays["concept"],
            texts=texts,
            theories=list(theory_ids),
            prefixes=list(prefix_ids),
        )
