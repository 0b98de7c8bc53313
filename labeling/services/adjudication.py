"""The disagreement queue: contested pairs go to researchers, whose decisions enter the fit as high-weight
judgments.

A pair is contested when at least `MIN_ANNOTATORS` annotators judged it and either their split is close to 50/50
(the minority holds at least `CONTESTED_MINORITY_SHARE` of the decisive answers, a tie counting half to each
side) or their majority contradicts a confident published order (the published fit puts one text above the other
with probability ≥ `CONFIDENT_ORDER`, yet at most `CONTRADICTING_SHARE` of the answers agree). Only pairwise
comparisons are looked at: the same list of texts rarely reaches several annotators.

A researcher's decision is stored like any judgment — an Assignment for the researcher (so every judgment keeps
its one lease) and a Judgment with weight = Adjudication.weight — and triggers a refit.
"""

import math
from collections import defaultdict

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Adjudication, Assignment, Campaign, Judgment, PoolItem
from labeling.services.judgments import _request_refit_on_commit

MIN_ANNOTATORS = 3
CONTESTED_MINORITY_SHARE = 0.4
CONFIDENT_ORDER = 0.95
CONTRADICTING_SHARE = 0.25
_PAIR_KEY = r"^[0-9]+-[0-9]+$"  # the comparison key of a plain pair (quality-control leases have other keys)


def adjudications_queue_refresh(*, campaign: Campaign) -> int:
    """Queue the campaign's newly contested pairs as open adjudications (a pair is queued once, whatever became of
    it). Returns how many were queued."""
    judged = Judgment.objects.filter(
        campaign=campaign, retraction__isnull=True, is_quality_check=False, assignment__comparison_key__regex=_PAIR_KEY
    )
    crowded = (
        judged.values("assignment__comparison_key")
        .annotate(annotators=Count("annotator", distinct=True))
        .filter(annotators__gte=MIN_ANNOTATORS)
        .values_list("assignment__comparison_key", flat=True)
    )
    tallies: dict[str, dict] = defaultdict(
        lambda: {"a_wins": 0, "b_wins": 0, "ties": 0, "neither": 0, "annotators": set()}
    )
    values: dict[str, int] = {}
    rows = judged.filter(assignment__comparison_key__in=crowded).values_list(
        "assignment__comparison_key", "value_id", "annotator_id", "kind", "ordering"
    )
    for key, value_id, annotator_id, kind, ordering in rows:
        a, _ = (int(part) for part in key.split("-"))
        tally = tallies[key]
        values[key] = value_id
        tally["annotators"].add(annotator_id)
        if kind == Judgment.Kind.NEITHER:
            tally["neither"] += 1
        elif len(ordering) == 1:
            tally["ties"] += 1
        else:
            tally["a_wins" if ordering[0] == [a] else "b_wins"] += 1
    if not tallies:
        return 0
    items = {
        row[0]: row[1:]
        for row in PoolItem.objects.filter(
            pk__in={int(part) for key in tallies for part in key.split("-")}
        ).values_list("pk", "utility", "utility_se")
    }
    queued = []
    for key, tally in tallies.items():
        a, b = (int(part) for part in key.split("-"))
        evidence = _contest(tally, items.get(a), items.get(b))
        if evidence is not None:
            queued.append(
                Adjudication(campaign=campaign, value_id=values[key], item_a_id=a, item_b_id=b, disagreement=evidence)
            )
    existing = set(
        Adjudication.objects.filter(campaign=campaign).values_list("item_a_id", "item_b_id")
    )
    fresh = [adj for adj in queued if (adj.item_a_id, adj.item_b_id) not in existing]
    Adjudication.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def _contest(tally: dict, utility_a, utility_b) -> dict | None:  # type: ignore[no-untyped-def]
    """Why the pair is contested (the evidence stored with the adjudication), or None."""
    decisive = tally["a_wins"] + tally["b_wins"] + tally["ties"]
    if len(tally["annotators"]) < MIN_ANNOTATORS or decisive < MIN_ANNOTATORS:
        return None
    share_a = (tally["a_wins"] + 0.5 * tally["ties"]) / decisive
    evidence = {
        "judgments": decisive + tally["neither"],
        "annotators": len(tally["annotators"]),
        "a_wins": tally["a_wins"],
        "b_wins": tally["b_wins"],
        "ties": tally["ties"],
        "neither": tally["neither"],
        "share_a": round(share_a, 3),
    }
    if min(share_a, 1 - share_a) >= CONTESTED_MINORITY_SHARE:
        return {**evidence, "reason": "split"}
    if utility_a and utility_b and None not in (*utility_a, *utility_b):
        (u_a, se_a), (u_b, se_b) = utility_a, utility_b
        spread = math.sqrt(se_a**2 + se_b**2) or 1e-9
        p_a = 0.5 * (1 + math.erf((u_a - u_b) / spread / math.sqrt(2)))
        if (p_a >= CONFIDENT_ORDER and share_a <= CONTRADICTING_SHARE) or (
            p_a <= 1 - CONFIDENT_ORDER and share_a >= 1 - CONTRADICTING_SHARE
        ):
            return {**evidence, "reason": "contradicts the published order", "published_probability_a": round(p_a, 4)}
    return None


def adjudication_decide(*, adjudication: Adjudication, researcher, ordering: list[list[int]]) -> Judgment:  # type: ignore[no-untyped-def]
    """Store the researcher's decision — [[stronger], [weaker]] or a tie [[a, b]] — as a high-weight judgment."""
    pair = {adjudication.item_a_id, adjudication.item_b_id}
    flat = [item for group in ordering for item in group] if isinstance(ordering, list) else []
    well_formed = all(isinstance(group, list) and group for group in ordering) and len(ordering) <= 2
    if sorted(flat) != sorted(pair) or not well_formed:
        raise ApplicationError(
            "A decision orders exactly the two texts of the pair: [[stronger], [weaker]] or [[a, b]] for a tie.",
            extra={"field": "ordering", "expected_items": sorted(pair)},
        )
    now = timezone.now()
    with transaction.atomic():
        locked = Adjudication.objects.select_for_update().get(pk=adjudication.pk)
        if locked.status != Adjudication.Status.OPEN:
            raise ApplicationError(f"This pair was already {locked.get_status_display().lower()}.", status_code=409)
        shown = [adjudication.item_a_id, adjudication.item_b_id]
        lease = Assignment.objects.create(
            campaign_id=locked.campaign_id,
            value_id=locked.value_id,
            annotator=researcher,
            item_ids=shown,
            # its own key space: the researcher may also have judged the pair as an annotator
            comparison_key=f"adjudication:{locked.pk}",
            reason="adjudication of a contested pair",
            status=Assignment.Status.SUBMITTED,
            expires_at=now,
        )
        judgment = Judgment.objects.create(
            assignment=lease,
            campaign_id=locked.campaign_id,
            value_id=locked.value_id,
            annotator=researcher,
            kind=Judgment.Kind.RANKING,
            ordering=ordering,
            shown_order=shown,
            weight=locked.weight,
            client_info={"via": "adjudication", "adjudication_id": locked.pk},
        )
        locked.status = Adjudication.Status.DECIDED
        locked.decision = ordering
        locked.decided_by = researcher
        locked.decided_at = now
        locked.save(update_fields=["status", "decision", "decided_by", "decided_at"])
        _request_refit_on_commit(locked.value_id)
    adjudication.refresh_from_db()
    return judgment


def adjudication_dismiss(*, adjudication: Adjudication, researcher) -> Adjudication:  # type: ignore[no-untyped-def]
    """The researcher finds the pair genuinely ambiguous (or not worth a decision): it leaves the queue."""
    with transaction.atomic():
        locked = Adjudication.objects.select_for_update().get(pk=adjudication.pk)
        if locked.status != Adjudication.Status.OPEN:
            raise ApplicationError(f"This pair was already {locked.get_status_display().lower()}.", status_code=409)
        locked.status = Adjudication.Status.DISMISSED
        locked.decided_by = researcher
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
    return locked


def running_campaigns_adjudications_refresh() -> int:
    """The periodic task's work: refresh the queue of every running campaign. Returns pairs queued."""
    return sum(
        adjudications_queue_refresh(campaign=campaign)
        for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING)
    )
