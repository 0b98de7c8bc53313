"""Comparison data for Plackett–Luce fits, flattened into choice stages so a likelihood needs no loop over judgments.

The model
---------
Every judgment is read as a sequence of *choice stages* (Luce's choice axiom applied again and again). A stage offers
a set of *terms* — the candidates that could be chosen next — and records which one was chosen:

* a best-choice stage (sign +1) picks the best of the items not yet placed: a ranking of k items is k − 1 such
  stages (the last item is implied) and a pair is one;
* a worst-choice stage (sign −1) picks the worst of the remaining items. Best–worst tuples use the sequential
  best–worst model: the best is chosen from all shown items, then the worst from the others;
* when the protocol lets items tie (``max_tie_size`` ≥ 2), a term may also be a *group* S of up to ``max_tie_size``
  remaining items chosen together as tied. This is the Davidson–Luce model (Firth, Kosmidis & Turner 2019, the model
  of the R PlackettLuce package): a group's utility is log δ_|S| plus the mean utility of its members. For a pair it
  is exactly Davidson's (1970) tie model with ν = δ₂: P(i ≻ j) = πᵢ / (πᵢ + πⱼ + ν√(πᵢπⱼ)).

The probability of a stage is exp(u_chosen) / Σ_T exp(u_T) with u_T = sign · mean_{i∈T} θᵢ + log δ_|T| (δ₁ = 1).
Items shown but left unranked (a top-k partial ranking) stay in every stage's choice set and are never chosen.
Whether ties were *possible* matters as much as whether they happened: a strict win in a campaign that offered a tie
button is less informative than one without, so pass the protocol's ``max_tie_size`` when building data.

Storage is CSR-like: stages point into a flat array of terms, terms into a flat array of member items. Judgments of
the same shape share one stage/term template, so construction is one numpy gather per shape and the likelihood
(likelihood.py) is a handful of bincount/reduceat calls over these arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .templates import Block, best_worst_template, block_from_template, ordering_template

Group = Sequence[int]
Ordering = Sequence[Group]


def _as_weights(weights: Iterable[float] | np.ndarray | None, n: int, what: str) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"weights: expected one weight per {what} ({n}), got an array of shape {array.shape}.")
    bad = np.flatnonzero(~np.isfinite(array) | (array < 0))
    if bad.size:
        raise ValueError(
            f"weights: {what} {bad[0]} has weight {float(array[bad[0]]):g}; weights must be finite and ≥ 0."
        )
    return array


def _check_items(n_items: int, items: np.ndarray, what: str) -> None:
    bad = np.flatnonzero((items < 0) | (items >= n_items))
    if bad.size:
        row = bad[0] // items.shape[1] if items.ndim == 2 else bad[0]
        raise ValueError(f"{what} {row}: item {items.ravel()[bad[0]]} is outside 0..{n_items - 1}.")


def _check_no_repeats(items: np.ndarray, what: str) -> None:
    """Rows of ``items`` (J, k) must not name an item twice."""
    ordered = np.sort(items, axis=1)
    rows, cols = np.nonzero(ordered[:, 1:] == ordered[:, :-1])
    if rows.size:
        raise ValueError(f"{what} {rows[0]}: item {ordered[rows[0], cols[0]]} appears twice.")


@dataclass(frozen=True, eq=False)
class ComparisonData:
    """Judgments of one value as flat arrays of choice stages; build with the ``from_*`` constructors."""

    n_items: int
    n_judgments: int
    stage_ptr: np.ndarray  # (S+1,) stage s offers terms stage_ptr[s]:stage_ptr[s+1]
    stage_chosen: np.ndarray  # (S,) global index of the chosen term
    stage_sign: np.ndarray  # (S,) +1 best-choice, -1 worst-choice
    stage_weight: np.ndarray  # (S,) the judgment's weight
    stage_judgment: np.ndarray  # (S,) which judgment (0..n_judgments-1, in the order given) the stage belongs to
    term_ptr: np.ndarray  # (T+1,) term t has members term_members[term_ptr[t]:term_ptr[t+1]]
    term_size: np.ndarray  # (T,)
    term_members: np.ndarray  # (M,) item indices

    # ----- constructors -------------------------------------------------------------------------------------------

    @classmethod
    def from_orderings(
        cls,
        n_items: int,
        orderings: Sequence[Ordering],
        weights: Sequence[float] | np.ndarray | None = None,
        *,
        max_tie_size: int | None = None,
        shown: Sequence[Iterable[int] | None] | None = None,
    ) -> ComparisonData:
        """Build data from orderings, each a sequence of groups from best to worst; a group of several items is a tie.

        ``((3,), (7,))`` is "3 beat 7", ``((3, 7),)`` a tie, ``((1,), (4, 2), (0,))`` a list with a tie in the middle.
        ``max_tie_size`` is the largest tied group the protocol allowed (1: no ties; 2: a pair may tie; k: any
        group); left as None it is the largest tied group found in ``orderings`` — pass the protocol's value instead
        whenever ties were possible but might not have happened in this batch. ``shown`` optionally gives, per
        ordering, every item shown: items shown but absent from the ordering were ranked below all listed ones, in an
        unknown order (a top-k partial ranking).
        """
        n_items = _check_n_items(n_items)
        if shown is not None and len(shown) != len(orderings):
            raise ValueError(f"shown: expected one entry per ordering ({len(orderings)}), got {len(shown)}.")
        weights_array = _as_weights(weights, len(orderings), "ordering")
        largest_tie = 1
        flat_orders: list[list[int]] = []
        shapes: list[tuple[tuple[int, ...], int]] = []
        for index, ordering in enumerate(orderings):
            if isinstance(ordering, (str, bytes)) or not isinstance(ordering, Sequence) or len(ordering) == 0:
                raise ValueError(f"ordering {index}: expected a non-empty sequence of groups, got {ordering!r}.")
            items: list[int] = []
            sizes = []
            for group in ordering:
                if isinstance(group, (int, np.integer)) or len(group) == 0:
                    raise ValueError(
                        f"ordering {index}: each group must be a non-empty tuple of item indices, got {group!r} "
                        "(write a single item as (3,))."
                    )
                items.extend(int(item) for item in group)
                sizes.append(len(group))
            largest_tie = max(largest_tie, *sizes)
            rest: list[int] = []
            if shown is not None and shown[index] is not None:
                listed = set(items)
                shown_items = [int(item) for item in shown[index]]  # type: ignore[union-attr]
                missing = listed.difference(shown_items)
                if missing:
                    raise ValueError(f"ordering {index}: item {min(missing)} is ranked but not among the shown items.")
                rest = sorted(set(shown_items) - listed)
            order = items + rest
            if len(order) < 2:
                raise ValueError(f"ordering {index}: a judgment needs at least two items, got {ordering!r}.")
            if len(set(order)) != len(order):
                repeated = next(item for item in order if order.count(item) > 1)
                raise ValueError(f"ordering {index}: item {repeated} appears twice.")
            bad = [item for item in order if not 0 <= item < n_items]
            if bad:
                raise ValueError(f"ordering {index}: item {bad[0]} is outside 0..{n_items - 1}.")
            flat_orders.append(order)
            shapes.append((tuple(sizes), len(rest)))
        tie_limit = largest_tie if max_tie_size is None else int(max_tie_size)
        if tie_limit < 1:
            raise ValueError(f"max_tie_size must be at least 1 (1 means no ties), got {max_tie_size!r}.")
        if largest_tie > tie_limit:
            index = next(i for i, (sizes, _) in enumerate(shapes) if max(sizes) > tie_limit)
            raise ValueError(
                f"ordering {index}: a group of {max(shapes[index][0])} tied items exceeds max_tie_size={tie_limit}."
            )
        by_shape: dict[tuple[tuple[int, ...], int], list[int]] = {}
        for index, shape in enumerate(shapes):
            by_shape.setdefault(shape, []).append(index)
        blocks = []
        for (group_sizes, n_rest), indices in by_shape.items():
            template = ordering_template(group_sizes, n_rest, tie_limit)
            if len(template.stage_n_terms) == 0:
                raise ValueError(f"ordering {indices[0]}: {orderings[indices[0]]!r} says nothing about any item.")
            rows = np.array(indices, dtype=np.int64)
            items_matrix = np.array([flat_orders[i] for i in indices], dtype=np.int64)
            blocks.append(block_from_template(template, items_matrix, weights_array[rows], rows))
        return cls._assemble(n_items, len(orderings), blocks)

    @classmethod
    def from_pairs(
        cls,
        n_items: int,
        winners: Sequence[int] | np.ndarray,
        losers: Sequence[int] | np.ndarray,
        *,
        tied: Sequence[bool] | np.ndarray | None = None,
        weights: Sequence[float] | np.ndarray | None = None,
        ties_allowed: bool | None = None,
    ) -> ComparisonData:
        """Vectorised constructor for pairwise judgments: ``winners[j]`` beat ``losers[j]``, or tied with it where
        ``tied[j]``. ``ties_allowed`` says whether the protocol offered a tie (None: whenever ``tied`` has a tie)."""
        n_items = _check_n_items(n_items)
        winners_array = np.asarray(winners, dtype=np.int64).ravel()
        losers_array = np.asarray(losers, dtype=np.int64).ravel()
        if winners_array.shape != losers_array.shape:
            raise ValueError(f"pairs: {winners_array.size} winners but {losers_array.size} losers.")
        tied_array = np.zeros(winners_array.size, bool) if tied is None else np.asarray(tied, dtype=bool).ravel()
        if tied_array.shape != winners_array.shape:
            raise ValueError(f"pairs: {tied_array.size} tie flags for {winners_array.size} pairs.")
        weights_array = _as_weights(weights, winners_array.size, "pair")
        items = np.stack([winners_array, losers_array], axis=1)
        _check_items(n_items, items, "pair")
        same = np.flatnonzero(winners_array == losers_array)
        if same.size:
            raise ValueError(f"pair {same[0]}: item {winners_array[same[0]]} is compared with itself.")
        allowed = bool(tied_array.any()) if ties_allowed is None else bool(ties_allowed)
        if tied_array.any() and not allowed:
            raise ValueError(f"pair {np.flatnonzero(tied_array)[0]} is a tie, but ties_allowed=False.")
        tie_limit = 2 if allowed else 1
        blocks = []
        for is_tie, sizes in ((False, (1, 1)), (True, (2,))):
            rows = np.flatnonzero(tied_array == is_tie)
            if rows.size:
                template = ordering_template(sizes, 0, tie_limit)
                blocks.append(block_from_template(template, items[rows], weights_array[rows], rows))
        return cls._assemble(n_items, winners_array.size, blocks)

    @classmethod
    def from_rankings(
        cls, n_items: int, rankings: np.ndarray | Sequence[Sequence[int]], weights: Sequence[float] | None = None
    ) -> ComparisonData:
        """Vectorised constructor for strict full rankings of equal length: each row lists items best → worst."""
        n_items = _check_n_items(n_items)
        items = np.asarray(rankings, dtype=np.int64)
        if items.ndim != 2 or items.shape[1] < 2:
            raise ValueError(f"rankings: expected a (judgments, k ≥ 2) array of items, got shape {items.shape}.")
        _check_items(n_items, items, "ranking")
        _check_no_repeats(items, "ranking")
        template = ordering_template((1,) * items.shape[1], 0, 1)
        judgment = np.arange(items.shape[0], dtype=np.int64)
        block = block_from_template(template, items, _as_weights(weights, items.shape[0], "ranking"), judgment)
        return cls._assemble(n_items, items.shape[0], [block])

    @classmethod
    def from_best_worst(
        cls,
        n_items: int,
        tuples: Sequence[tuple[int, int, Sequence[int]]],
        weights: Sequence[float] | np.ndarray | None = None,
    ) -> ComparisonData:
        """Build data from best–worst judgments ``(best, worst, all_items_shown)``; the best and the worst must be
        among the shown items. Modelled as a best choice from all shown items, then a worst choice from the rest."""
        n_items = _check_n_items(n_items)
        weights_array = _as_weights(weights, len(tuples), "best–worst tuple")
        by_size: dict[int, list[int]] = {}
        rows_items: list[list[int]] = []
        for index, entry in enumerate(tuples):
            try:
                best, worst, shown_items = entry
                best, worst = int(best), int(worst)
                shown_list = [int(item) for item in shown_items]
            except (TypeError, ValueError):
                raise ValueError(
                    f"best–worst tuple {index}: expected (best, worst, items_shown), got {entry!r}."
                ) from None
            if best == worst:
                raise ValueError(f"best–worst tuple {index}: item {best} is both the best and the worst.")
            for role, item in (("best", best), ("worst", worst)):
                if item not in shown_list:
                    raise ValueError(f"best–worst tuple {index}: the {role} item {item} is not among the items shown.")
            if len(set(shown_list)) != len(shown_list):
                repeated = next(item for item in shown_list if shown_list.count(item) > 1)
                raise ValueError(f"best–worst tuple {index}: item {repeated} is shown twice.")
            bad = [item for item in shown_list if not 0 <= item < n_items]
            if bad:
                raise ValueError(f"best–worst tuple {index}: item {bad[0]} is outside 0..{n_items - 1}.")
            rows_items.append([best, worst, *(item for item in shown_list if item not in (best, worst))])
            by_size.setdefault(len(shown_list), []).append(index)
        blocks = []
        for k, indices in by_size.items():
            rows = np.array(indices, dtype=np.int64)
            items_matrix = np.array([rows_items[i] for i in indices], dtype=np.int64)
            blocks.append(block_from_template(best_worst_template(k), items_matrix, weights_array[rows], rows))
        return cls._assemble(n_items, len(tuples), blocks)

    @classmethod
    def concat(cls, *parts: ComparisonData) -> ComparisonData:
        """Merge data sets; judgments keep their order, numbered on from one part to the next. The merged data
        covers the largest ``n_items`` of the parts (a pool only grows)."""
        if not parts:
            raise ValueError("concat needs at least one ComparisonData.")
        blocks, offset = [], 0
        for part in parts:
            blocks.append(
                Block(
                    n_judgments=part.n_judgments,
                    stage_n_terms=np.diff(part.stage_ptr),
                    stage_chosen=part.stage_chosen,
                    stage_sign=part.stage_sign,
                    stage_weight=part.stage_weight,
                    stage_judgment=part.stage_judgment + offset,
                    term_size=part.term_size,
                    term_members=part.term_members,
                )
            )
            offset += part.n_judgments
        return cls._assemble(max(part.n_items for part in parts), offset, blocks)

    @classmethod
    def _assemble(cls, n_items: int, n_judgments: int, blocks: list[Block]) -> ComparisonData:
        term_offsets = np.cumsum([0] + [len(b.term_size) for b in blocks])
        stage_n_terms = _cat([b.stage_n_terms for b in blocks])
        term_size = _cat([b.term_size for b in blocks])
        return cls(
            n_items=n_items,
            n_judgments=n_judgments,
            stage_ptr=_ptr(stage_n_terms),
            stage_chosen=_cat([b.stage_chosen + off for b, off in zip(blocks, term_offsets, strict=False)]),
            stage_sign=_cat([b.stage_sign for b in blocks], np.int8),
            stage_weight=_cat([b.stage_weight for b in blocks], np.float64),
            stage_judgment=_cat([b.stage_judgment for b in blocks]),
            term_ptr=_ptr(term_size),
            term_size=term_size,
            term_members=_cat([b.term_members for b in blocks]),
        )

    # ----- sizes and shapes ----------------------------------------------------------------------------------------

    @property
    def n_stages(self) -> int:
        return len(self.stage_chosen)

    @property
    def n_terms(self) -> int:
        return len(self.term_size)

    @property
    def nbytes(self) -> int:
        return sum(
            getattr(self, name).nbytes
            for name in (
                "stage_ptr stage_chosen stage_sign stage_weight stage_judgment term_ptr term_size term_members".split()
            )
        )

    @cached_property
    def single_member_terms(self) -> bool:
        """True when no term is a tied group, so terms and members coincide (the fast path)."""
        return bool(self.term_size.size == 0 or self.term_size.max() == 1)

    @cached_property
    def unit_weights(self) -> bool:
        return bool((self.stage_weight == 1.0).all())

    @cached_property
    def tie_sizes(self) -> tuple[int, ...]:
        """Sizes of tied groups the model must price (δ_t for each), whether or not such a tie was observed."""
        if self.term_size.size == 0 or self.term_size.max() == 1:
            return ()
        return tuple(int(t) for t in np.flatnonzero(np.bincount(self.term_size)) if t > 1)

    @cached_property
    def has_ties(self) -> bool:
        """Whether any judgment came from a protocol that allowed ties."""
        return bool(self.tie_sizes)

    @cached_property
    def has_worst_choices(self) -> bool:
        """Whether any stage is a worst choice (best–worst data)."""
        return bool((self.stage_sign < 0).any())

    @cached_property
    def is_pairwise(self) -> bool:
        """Every stage is a strict best choice between two single items — the case Newman's iteration solves.
        (The last stage of a strict ranking is such a pair, but the other stages of a ranking are not.)"""
        return bool(
            self.single_member_terms and not self.has_worst_choices and (np.diff(self.stage_ptr) == 2).all()
        )

    @cached_property
    def observed_tie_counts(self) -> dict[int, float]:
        """Weighted count of chosen tied groups, by group size."""
        sizes = self.term_size[self.stage_chosen]
        return {int(t): float(self.stage_weight[sizes == t].sum()) for t in np.unique(sizes) if t > 1}

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(winners, losers, weights) of pairwise data (see ``is_pairwise``)."""
        if not self.is_pairwise:
            raise ValueError("These data are not all strict pairs; pairs() only applies to pairwise data.")
        return (*self._pair_items, self.stage_weight)

    @cached_property
    def _pair_items(self) -> tuple[np.ndarray, np.ndarray]:
        other = 2 * self.stage_ptr[:-1] + 1 - self.stage_chosen  # a pair stage's other term
        return self.term_members[self.stage_chosen], self.term_members[other]

    def item_judgment_counts(self) -> np.ndarray:
        """How many judgments showed each item (each shown item is a single-item term of its judgment's first stage)."""
        first = np.ones(self.n_stages, dtype=bool)
        first[1:] = self.stage_judgment[1:] != self.stage_judgment[:-1]
        term_first = first[self.term_stage] & (self.term_size == 1)
        return np.bincount(
            self.term_members[self.term_ptr[:-1][term_first]], minlength=self.n_items
        ).astype(np.int64)

    # ----- derived arrays used by the likelihood ---------------------------------------------------------------------

    @cached_property
    def term_stage(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_stages, dtype=np.int64), np.diff(self.stage_ptr))

    @cached_property
    def term_sign(self) -> np.ndarray:
        return self.stage_sign[self.term_stage].astype(np.float64)

    @cached_property
    def term_weight(self) -> np.ndarray:
        return self.stage_weight[self.term_stage]

    @cached_property
    def term_is_chosen(self) -> np.ndarray:
        chosen = np.zeros(self.n_terms, dtype=np.float64)
        chosen[self.stage_chosen] = 1.0
        return chosen

    @cached_property
    def member_term(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_terms, dtype=np.int64), self.term_size)

    @cached_property
    def slots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct (stage, item) pairs, for second derivatives: (member → slot, slot → item, slot → stage).

        Slots are sorted by stage, so each stage's slots are contiguous."""
        if self.single_member_terms:  # an item appears once per stage: every term is its own slot
            slots = np.arange(self.n_terms, dtype=np.int64)
            return slots, self.term_members, self.term_stage
        member_stage = self.term_stage[self.member_term]
        keys = member_stage * self.n_items + self.term_members
        unique, member_slot = np.unique(keys, return_inverse=True)
        return member_slot.astype(np.int64), unique % self.n_items, unique // self.n_items


def _check_n_items(n_items: int) -> int:
    if int(n_items) != n_items or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}.")
    return int(n_items)


def _ptr(counts: np.ndarray) -> np.ndarray:
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr


def _cat(arrays: list[np.ndarray], dtype: type = np.int64) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype=dtype)
