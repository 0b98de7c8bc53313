"""Judgments for refit tests: a few through the real labeling services, or many simulated from a known truth.

Simulations of hundreds of judgments write Assignment and Judgment rows in bulk: going through `assignment_next`
and `judgment_submit` for each would take a dozen queries per judgment and lets the sampler, not the test, pick the
pairs. The rows have exactly the shape `judgment_submit` stores.
"""

import random
from collections.abc import Sequence

import numpy as np
from django.utils import timezone

from labeling.models import Assignment, Campaign, Judgment, PoolItem, Value
from labeling.services.assignment import assignment_next, comparison_key
from labeling.services.judgments import judgment_submit


def judge_through_services(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, annotator, truth: dict[int, float], n: int, seed: int = 0
) -> list[Judgment]:
    """Ask for `n` comparisons as `annotator` and answer each by the true utilities (PoolItem id → utility):
    the strongest first. Returns the stored judgments."""
    rng = random.Random(seed)
    stored = []
    for _ in range(n):
        lease = assignment_next(campaign=campaign, annotator=annotator, rng=rng).assignment
        assert lease is not None, "the campaign ran out of comparisons"
        ordering = [[item] for item in sorted(lease.item_ids, key=lambda item: -truth[item])]
        stored.append(
            judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, latency_ms=1500).judgment
        )
    return stored


def judgments_bulk_create(
    *,
    campaign: Campaign,
    value: Value,
    annotators: Sequence,
    orderings: Sequence[list[list[int]]],
    kinds: Sequence[str] | None = None,
    latency_ms: int = 2000,
) -> list[int]:
    """Store one submitted assignment + judgment per ordering (PoolItem ids, strongest first), annotators taken in
    turn. Returns the judgment ids in order."""
    now = timezone.now()
    assignments = []
    seen = set(
        Assignment.objects.filter(campaign=campaign, is_repeat=False).values_list("annotator_id", "comparison_key")
    )
    for index, ordering in enumerate(orderings):
        annotator = annotators[index % len(annotators)]
        items = [item for group in ordering for item in group]
        key = comparison_key(items)
        repeat = (annotator.pk, key) in seen  # a second look at the same set is a deliberate repeat
        seen.add((annotator.pk, key))
        assignments.append(
            Assignment(
                campaign=campaign, value=value, annotator=annotator, item_ids=items, comparison_key=key,
                is_repeat=repeat, status=Assignment.Status.SUBMITTED, expires_at=now,
            )
        )
    Assignment.objects.bulk_create(assignments, batch_size=2000)
    kinds = kinds or [Judgment.Kind.RANKING] * len(orderings)
    judgments = Judgment.objects.bulk_create(
        (
            Judgment(
                assignment=assignment, campaign=campaign, value=value, annotator=assignment.annotator,
                kind=kind, ordering=ordering, shown_order=assignment.item_ids, latency_ms=latency_ms,
            )
            for assignment, ordering, kind in zip(assignments, orderings, kinds, strict=True)
        ),
        batch_size=2000,
    )
    return [judgment.pk for judgment in judgments]


def simulated_pairs(
    *, value: Value, n: int, seed: int = 0, spread: float = 2.0
) -> tuple[dict[int, float], list[list[list[int]]]]:
    """A known truth for the value's pool (PoolItem id → utility) and `n` pairwise orderings drawn from it by the
    Bradley–Terry model, pairs chosen uniformly at random."""
    rng = np.random.default_rng(seed)
    item_ids = list(PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True))
    utilities = rng.normal(0.0, spread, size=len(item_ids))
    truth = dict(zip(item_ids, utilities.tolist(), strict=True))
    orderings = []
    for _ in range(n):
        a, b = rng.choice(len(item_ids), size=2, replace=False)
        p_a = 1.0 / (1.0 + np.exp(utilities[b] - utilities[a]))
        winner, loser = (a, b) if rng.random() < p_a else (b, a)
        orderings.append([[item_ids[winner]], [item_ids[loser]]])
    return truth, orderings
