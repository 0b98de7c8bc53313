"""Handing out comparisons under leases ("next"), and reclaiming leases that expired.

The selection algorithm is drawn in assignment.md beside this file. In short, inside one transaction:
lock the annotator's membership row (serialises one annotator's requests, makes caps exact) → resume an open
lease → stop at the cap → maybe a deliberate, swapped repeat → sample items of one value from a small window of
the least-exposed active items, locked with SELECT … FOR UPDATE SKIP LOCKED so concurrent annotators take
different rows → store the lease with the order shown and the reason it was chosen.
"""

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from labeling.models import Assignment, Campaign, CampaignItem, CampaignMember

logger = logging.getLogger("valueflow.assignment")

# How many of the least-exposed items one request locks and samples from. Small keeps locks short; larger
# spreads concurrent annotators over more items.
WINDOW_PER_SLOT = 4
MIN_WINDOW = 16
# Share of comparisons that take one item from anywhere in the pool, keeping the comparison graph connected.
RANDOM_PARTNER_RATE = 0.25
SAMPLE_ATTEMPTS = 6


@dataclass(frozen=True)
class NextAssignment:
    assignment: Assignment | None
    reason: str  # why this comparison, or why there is none ("complete", "cap_reached", "paused", "busy", …)


def comparison_key(item_ids: Sequence[int]) -> str:
    return "-".join(str(i) for i in sorted(item_ids))


def assignment_next(*, campaign: Campaign, annotator, rng: random.Random | None = None) -> NextAssignment:  # type: ignore[no-untyped-def]
    """Give the annotator their open lease, or a new comparison, or say why there is none."""
    if campaign.status != Campaign.Status.RUNNING:
        return NextAssignment(None, f"campaign_{campaign.status}")
    rng = rng or random.Random()
    now = timezone.now()
    with transaction.atomic():
        member = _membership_lock(campaign=campaign, annotator=annotator)
        if member.state != CampaignMember.State.ACTIVE:
            return NextAssignment(None, f"member_{member.state}")
        open_lease = _open_lease(campaign=campaign, annotator=annotator, now=now)
        if open_lease is not None:
            return NextAssignment(open_lease, "resume")
        if campaign.per_annotator_cap is not None and member.judgments_count >= campaign.per_annotator_cap:
            return NextAssignment(None, "cap_reached")
        chosen = _try_repeat(campaign=campaign, annotator=annotator, rng=rng) or _try_sample(
            campaign=campaign, annotator=annotator, rng=rng
        )
        if chosen is None:
            still_active = CampaignItem.objects.filter(campaign=campaign, is_active=True).exists()
            return NextAssignment(None, "busy" if still_active else "complete")
        value_id, shown_order, reason, repeat_of = chosen
        assignment = _do_assignment_create(
            campaign=campaign,
            annotator=annotator,
            value_id=value_id,
            shown_order=shown_order,
            reason=reason,
            repeat_of=repeat_of,
            now=now,
        )
    logger.info(
        "assignment %s to annotator %s in campaign %s: %s", assignment.pk, annotator.pk, campaign.pk, reason
    )
    return NextAssignment(assignment, reason)


def _membership_lock(*, campaign: Campaign, annotator) -> CampaignMember:  # type: ignore[no-untyped-def]
    member = CampaignMember.objects.select_for_update().filter(campaign=campaign, annotator=annotator).first()
    if member is None:  # first request of this annotator in this campaign
        CampaignMember.objects.get_or_create(campaign=campaign, annotator=annotator)
        member = CampaignMember.objects.select_for_update().get(campaign=campaign, annotator=annotator)
    return member


def _open_lease(*, campaign: Campaign, annotator, now) -> Assignment | None:  # type: ignore[no-untyped-def]
    """The annotator's unexpired open lease; an expired one is reclaimed on the spot."""
    lease = (
        Assignment.objects.filter(campaign=campaign, annotator=annotator, status=Assignment.Status.OPEN)
        .order_by("id")
        .first()
    )
    if lease is None:
        return None
    if lease.expires_at > now:
        return lease
    _do_lease_expire(lease)
    return None


def _try_repeat(*, campaign: Campaign, annotator, rng: random.Random):  # type: ignore[no-untyped-def]
    """A deliberate repeat of one of the annotator's judged comparisons, shown in reverse order."""
    if campaign.repeat_rate <= 0 or rng.random() >= campaign.repeat_rate:
        return None
    repeated = Assignment.objects.filter(campaign=campaign, annotator=annotator, is_repeat=True).values("repeat_of_id")
    original = (
        Assignment.objects.filter(
            campaign=campaign, annotator=annotator, is_repeat=False, status=Assignment.Status.SUBMITTED
        )
        .exclude(pk__in=repeated)
        .order_by("?")
        .first()
    )
    if original is None:
        return None
    return original.value_id, list(reversed(original.item_ids)), "repeat: test-retest, order reversed", original


def _try_sample(*, campaign: Campaign, annotator, rng: random.Random):  # type: ignore[no-untyped-def]
    value_ids = list(campaign.values.values_list("id", flat=True))
    rng.shuffle(value_ids)
    for value_id in value_ids:
        chosen = _sample_value(campaign=campaign, annotator=annotator, value_id=value_id, rng=rng)
        if chosen is not None:
            shown_order, reason = chosen
            return value_id, shown_order, reason, None
    return None


def _sample_value(*, campaign: Campaign, annotator, value_id: int, rng: random.Random):  # type: ignore[no-untyped-def]
    k = campaign.list_size
    eligible = (
        CampaignItem.objects.filter(campaign=campaign, value_id=value_id, is_active=True)
        .alias(exposure=F("judgments_count") + F("in_flight"))
        .filter(exposure__lt=campaign.judgments_per_item)
    )
    window_size = max(MIN_WINDOW, WINDOW_PER_SLOT * k)
    if campaign.sampling == Campaign.Sampling.RANDOM:
        window = _random_window(eligible, rng=rng, size=window_size)
        label = "random"
    else:
        # balanced (and adaptive before a posterior exists): least-exposed items first
        window = _locked_ids(eligible.order_by("judgments_count", "in_flight", "id"), window_size)
        label = "balanced: least-judged items"
    if len(window) < k:
        return None
    seen = set(
        Assignment.objects.filter(campaign=campaign, annotator=annotator, value_id=value_id, is_repeat=False)
        .values_list("comparison_key", flat=True)
    )
    for _ in range(SAMPLE_ATTEMPTS):
        items = rng.sample(window, k)
        reason = label
        if k >= 2 and rng.random() < RANDOM_PARTNER_RATE:
            partner = _random_partner(eligible, exclude=items, rng=rng)
            if partner is not None:
                items[-1] = partner
                reason = f"{label} + random partner (graph connectivity)"
        if comparison_key(items) not in seen:
            rng.shuffle(items)  # the order shown is random and stored with the lease
            return items, reason
    return None


def _locked_ids(items, size: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Pool item ids of up to `size` campaign items, row-locked; rows other requests hold are skipped."""
    return list(items.select_for_update(skip_locked=True, of=("self",)).values_list("pool_item_id", flat=True)[:size])


def _random_window(eligible, *, rng: random.Random, size: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Items from a random point of the id range, wrapping around: O(window), not ORDER BY random() over the pool."""
    bounds = eligible.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return []
    start = rng.randint(bounds["low"], bounds["high"])
    window = _locked_ids(eligible.filter(id__gte=start).order_by("id"), size)
    if len(window) < size:
        window += _locked_ids(eligible.filter(id__lt=start).order_by("id"), size - len(window))
    return window


def _random_partner(eligible, *, exclude: Sequence[int], rng: random.Random) -> int | None:  # type: ignore[no-untyped-def]
    """One eligible item from a random point of the pool, row-locked like the window (so it cannot be
    over-assigned by a concurrent request)."""
    bounds = eligible.aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return None
    start = rng.randint(bounds["low"], bounds["high"])
    candidates = eligible.exclude(pool_item_id__in=exclude)
    found = _locked_ids(candidates.filter(id__gte=start).order_by("id"), 1) or _locked_ids(
        candidates.filter(id__lt=start).order_by("id"), 1
    )
    return found[0] if found else None


def _do_assignment_create(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, annotator, value_id: int, shown_order: list[int], reason: str, repeat_of, now
) -> Assignment:
    """Call while holding the annotator's membership lock (and the sampled items' row locks)."""
    instructions = campaign.instruction_versions.order_by("-version").values_list("version", flat=True).first()
    assignment = Assignment.objects.create(
        campaign=campaign,
        value_id=value_id,
        annotator=annotator,
        item_ids=shown_order,
        comparison_key=comparison_key(shown_order),
        is_repeat=repeat_of is not None,
        repeat_of=repeat_of,
        reason=reason[:200],
        instructions_version=instructions or 1,
        expires_at=now + timedelta(seconds=campaign.lease_ttl_s),
    )
    CampaignItem.objects.filter(campaign=campaign, pool_item_id__in=shown_order).update(in_flight=F("in_flight") + 1)
    return assignment


def _do_lease_expire(lease: Assignment, status: str = Assignment.Status.EXPIRED) -> None:
    """Call inside a transaction that holds the lease's row (or the annotator's membership) lock."""
    updated = Assignment.objects.filter(pk=lease.pk, status=Assignment.Status.OPEN).update(status=status)
    if updated:
        CampaignItem.objects.filter(campaign_id=lease.campaign_id, pool_item_id__in=lease.item_ids, in_flight__gt=0).update(
            in_flight=F("in_flight") - 1
        )


def assignment_release(*, assignment: Assignment, annotator) -> Assignment:  # type: ignore[no-untyped-def]
    """The annotator gives a comparison back without judging it (skip, or a returned crowd session)."""
    with transaction.atomic():
        lease = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if lease.annotator_id == annotator.pk and lease.status == Assignment.Status.OPEN:
            _do_lease_expire(lease, status=Assignment.Status.RELEASED)
            lease.refresh_from_db()
    return lease


def assignments_expire_stale(*, now=None, batch_size: int = 500) -> int:  # type: ignore[no-untyped-def]
    """Reclaim expired open leases so their items go back to the pool. Run periodically; safe to run twice."""
    now = now or timezone.now()
    reclaimed = 0
    while True:
        with transaction.atomic():
            leases = list(
                Assignment.objects.select_for_update(skip_locked=True)
                .filter(status=Assignment.Status.OPEN, expires_at__lte=now)
                .order_by("id")[:batch_size]
            )
            for lease in leases:
                _do_lease_expire(lease)
        reclaimed += len(leases)
        if len(leases) < batch_size:
            return reclaimed
