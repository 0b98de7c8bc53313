"""Judgments for reliability tests: pairs shown in random order (as assignment_next shows them), so that an
annotator's first-position bias is not confounded with their answers, each annotator a campaign member."""

import numpy as np
from django.utils import timezone

from labeling.models import Assignment, CampaignMember, Judgment
from labeling.services.assignment import comparison_key


def judge_pairs(campaign, value, rows, *, seed: int = 0) -> list[int]:  # type: ignore[no-untyped-def]
    """Store one submitted pair per (annotator, winner, loser) row, shown in random order (as assignment_next
    does), each annotator a campaign member. Returns the judgment ids."""
    rng = np.random.default_rng(seed)
    now = timezone.now()
    earlier = Assignment.objects.filter(campaign=campaign, is_repeat=False)
    seen = set(earlier.values_list("annotator_id", "comparison_key"))
    assignments = []
    for annotator, winner, loser in rows:
        shown = [winner, loser] if rng.random() < 0.5 else [loser, winner]
        key = comparison_key(shown)
        repeat = (annotator.pk, key) in seen
        seen.add((annotator.pk, key))
        assignments.append(Assignment(
            campaign=campaign, value=value, annotator=annotator, item_ids=shown, comparison_key=key,
            is_repeat=repeat, status=Assignment.Status.SUBMITTED, expires_at=now,
        ))
    Assignment.objects.bulk_create(assignments)
    judgments = Judgment.objects.bulk_create(
        Judgment(assignment=a, campaign=campaign, value=value, annotator=a.annotator, ordering=[[winner], [loser]],
                 shown_order=a.item_ids, latency_ms=1500)
        for a, (_, winner, loser) in zip(assignments, rows, strict=True)
    )
    for annotator in {row[0] for row in rows}:
        CampaignMember.objects.get_or_create(campaign=campaign, annotator=annotator)
    return [j.pk for j in judgments]
