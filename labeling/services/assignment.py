"""Handing out comparisons under leases ("next"), and reclaiming leases that expired.

The selection algorithm is drawn in assignment.md beside this file. In short, inside one transaction:
lock the annotator's membership row (serialises one annotator's requests, makes caps exact; the same query says
whether cohorts restrict the campaign) → resume an open lease → stop at the cap → quality-control items in Label
Studio's order: an attention check when one is due, a gold comparison at a tapering rate, a deliberate swapped
repeat → the sampler: adaptive (most informative comparison under the published posterior, see sampling.py),
balanced (least-exposed items) or random, the chosen items locked with SELECT … FOR UPDATE SKIP LOCKED so
concurrent annotators take different rows → store the lease with the order shown and the reason it was chosen.
"""

import functools
import itertools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, F
from django.utils import timezone

from labeling.models import Assignment, AttentionCheck, Campaign, CampaignItem, CampaignMember, Cohort, GoldComparison
from labeling.services import annotation_sql, sampling

logger = logging.getLogger("valueflow.assignment")

# How many of the least-exposed items one request locks and samples from. Small keeps locks short; larger
# spreads concurrent annotators over more items.
WINDOW_PER_SLOT = 4
MIN_WINDOW = 16
# Balanced sampling reads this many times the window (by judgments) and locks the window's least-leased rows.
WINDOW_SPREAD = 4
# Balanced sampling: share of comparisons that take one item from anywhere in the pool, keeping the comparison
# graph connected (adaptive sampling has its own `Campaign.random_fraction` of wholly random comparisons).
RANDOM_PARTNER_RATE = 0.25
SAMPLE_ATTEMPTS = 6
# Bound on the deterministic search for an unseen comparison after the random draws (see _sample_value).
MAX_COMBINATIONS_SCANNED = 2000
# Adaptive sampling: how many of its best comparisons a request tries to lock before it falls back to balanced
# sampling (the others were taken by concurrent requests in the meantime).
ADAPTIVE_LOCK_ATTEMPTS = 4
# Ranked comparisons whose seen check goes to the database together.
SEEN_BATCH = 8

# Why there is no comparison for this annotator, beyond the campaign's own state.
NOT_IN_COHORT = "not_in_cohort"
QUALIFICATION_REQUIRED = "qualification_required"


@dataclass(frozen=True)
class NextAssignment:
    assignment: Assignment | None
    reason: str  # why this comparison, or why there is none ("complete", "cap_reached", "paused", "busy", …)


@dataclass(frozen=True)
class _Choice:
    """A comparison a strategy chose, not stored yet. `key` overrides the comparison key (quality-control items
    have their own key space, so they never collide with the annotator's real comparisons)."""

    value_id: int
    shown_order: list[int]
    reason: str
    repeat_of: Assignment | None = None
    gold: GoldComparison | None = None
    attention_check: AttentionCheck | None = None
    key: str | None = None


# Lease states that count as "this annotator has this comparison": open (being answered) or answered.
ANSWERABLE = (Assignment.Status.OPEN, Assignment.Status.SUBMITTED)


def comparison_key(item_ids: Sequence[int]) -> str:
    return "-".join(str(i) for i in sorted(item_ids))


def gold_rate(*, campaign: Campaign, judgments: int) -> float:
    """Share of comparisons that are gold at this point of an annotator's work: gold_rate_start for a newcomer,
    tapering linearly to gold_rate_end over their first gold_taper_judgments judgments."""
    if campaign.gold_taper_judgments <= 0:
        return campaign.gold_rate_end
    progress = min(1.0, judgments / campaign.gold_taper_judgments)
    return campaign.gold_rate_start + (campaign.gold_rate_end - campaign.gold_rate_start) * progress


def assignment_next(*, campaign: Campaign, annotator, rng: random.Random | None = None) -> NextAssignment:  # type: ignore[no-untyped-def]
    """Give the annotator their open lease, or a new comparison, or say why there is none."""
    if campaign.status != Campaign.Status.RUNNING:
        return NextAssignment(None, f"campaign_{campaign.status}")
    rng = rng or random.Random()
    now = timezone.now()
    with transaction.atomic():
        member = _membership_lock(campaign=campaign, annotator=annotator)
        # cohort_restricted and in_cohort: set on the locked row by _membership_lock (on either path)
        outsider = member is not None and member.cohort_restricted and not member.in_cohort  # type: ignore[attr-defined]
        if member is None or (outsider and not annotator.is_researcher):
            return NextAssignment(None, NOT_IN_COHORT)
        if member.state != CampaignMember.State.ACTIVE:
            return NextAssignment(None, f"member_{member.state}")
        if campaign.requires_qualification and not annotator.is_researcher and not _qualified(member):
            return NextAssignment(None, QUALIFICATION_REQUIRED)
        open_lease = _open_lease(campaign=campaign, annotator=annotator, member=member, now=now)
        if open_lease is not None:
            return NextAssignment(open_lease, "resume")
        if campaign.per_annotator_cap is not None and member.judgments_count >= campaign.per_annotator_cap:
            return NextAssignment(None, "cap_reached")
        # Label Studio's strategy order: quality-control items first, then the sampler.
        chosen = (
            _try_attention_check(campaign=campaign, annotator=annotator, member=member, rng=rng)
            or _try_gold(campaign=campaign, annotator=annotator, member=member, rng=rng)
            or _try_repeat(campaign=campaign, annotator=annotator, rng=rng)
            or _try_sample(campaign=campaign, annotator=annotator, rng=rng)
        )
        if chosen is None:
            still_active = CampaignItem.objects.filter(campaign=campaign, is_active=True).exists()
            return NextAssignment(None, "busy" if still_active else "complete")
        assignment = _do_assignment_create(
            campaign=campaign,
            annotator=annotator,
            value_id=chosen.value_id,
            shown_order=chosen.shown_order,
            reason=chosen.reason,
            repeat_of=chosen.repeat_of,
            gold=chosen.gold,
            attention_check=chosen.attention_check,
            key=chosen.key,
            now=now,
        )
    logger.info(
        "assignment %s to annotator %s in campaign %s: %s", assignment.pk, annotator.pk, campaign.pk, chosen.reason
    )
    return NextAssignment(assignment, chosen.reason)


def campaign_for_annotation(*, campaign_id: int, user) -> Campaign | None:  # type: ignore[no-untyped-def]
    """The campaign a `next` request names, by primary key only: researchers reach any, annotators running ones.
    Whether cohorts keep this annotator out is left to `assignment_next`, which resolves it under the membership
    lock anyway (reason NOT_IN_COHORT) — the cohort EXISTS subqueries are not built twice per request."""
    if annotation_sql.enabled():
        campaign = annotation_sql.campaign_read(campaign_id=campaign_id)
    else:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or (campaign.status != Campaign.Status.RUNNING and not user.is_researcher):
        return None
    return campaign


def _membership_lock(*, campaign: Campaign, annotator) -> CampaignMember | None:  # type: ignore[no-untyped-def]
    """Lock the annotator's membership row, creating it on their first request. The same query says whether
    cohorts restrict the campaign and whether the annotator is in one of them. None: an outsider of a campaign
    restricted to cohorts asked (no membership is created for them)."""
    if annotation_sql.enabled():
        member = annotation_sql.member_lock(campaign_id=campaign.pk, annotator_id=annotator.pk)
        if member is not None:
            return member
    cohort_links = Cohort.campaigns.through.objects.filter(campaign_id=campaign.pk)
    locked = (
        CampaignMember.objects.select_for_update(of=("self",))
        .annotate(
            cohort_restricted=Exists(cohort_links),
            in_cohort=Exists(cohort_links.filter(cohort__members=annotator)),
        )
        .filter(campaign=campaign, annotator=annotator)
    )
    member = locked.first()
    if member is None:  # first request of this annotator in this campaign
        outsider = cohort_links.exists() and not cohort_links.filter(cohort__members=annotator).exists()
        if outsider and not annotator.is_researcher:
            return None
        CampaignMember.objects.get_or_create(campaign=campaign, annotator=annotator)
        member = locked.get()
    return member


def _qualified(member: CampaignMember) -> bool:
    """Whether the annotator passed the campaign's qualification quiz (recorded by labeling.services.crowd)."""
    return bool((member.qc or {}).get("qualification", {}).get("passed"))


def _open_lease(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, annotator, member: CampaignMember, now
) -> Assignment | None:
    """The annotator's unexpired open lease; an expired one is reclaimed on the spot."""
    if hasattr(member, "open_lease"):  # read with the membership lock (annotation_sql.member_lock)
        lease = member.open_lease
    elif annotation_sql.enabled():
        lease = annotation_sql.open_lease(campaign_id=campaign.pk, annotator_id=annotator.pk)
    else:
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


def _try_attention_check(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, annotator, member: CampaignMember, rng: random.Random
) -> _Choice | None:
    """An instructed-response check on every attention_check_every-th comparison: ordinary texts, but the card
    shows the check's prompt ("choose text 2") as the instruction. A check whose lease expired unanswered is due
    again on the next request."""
    every = campaign.attention_check_every
    if not every or member.judgments_count + 1 < every * (member.attention_answered + 1):
        return None
    check = AttentionCheck.objects.filter(campaign=campaign, is_active=True).order_by("?").first()
    if check is None or check.expected_position >= campaign.list_size:
        return None
    used = set(
        Assignment.objects.filter(campaign=campaign, annotator=annotator, attention_check__isnull=False).values_list(
            "comparison_key", flat=True
        )
    )
    value_id, pool = _any_items(campaign=campaign, rng=rng, size=4 * campaign.list_size)
    if len(pool) < campaign.list_size:
        return None
    for _ in range(SAMPLE_ATTEMPTS):
        items = rng.sample(pool, campaign.list_size)
        key = f"attention:{comparison_key(items)}"
        if key not in used:
            return _Choice(value_id, items, "attention check: instructed response", attention_check=check, key=key)
    return None


def _try_gold(*, campaign: Campaign, annotator, member: CampaignMember, rng: random.Random) -> _Choice | None:  # type: ignore[no-untyped-def]
    """A gold comparison (known order) the annotator has not had, at the tapering gold rate, served like any other
    comparison. Lists are filled up with other texts of the value; only the gold pair's order is scored."""
    rate = gold_rate(campaign=campaign, judgments=member.judgments_count)
    if rate <= 0 or rng.random() >= rate:
        return None
    served = Assignment.objects.filter(campaign=campaign, annotator=annotator, gold__isnull=False).values("gold_id")
    gold = GoldComparison.objects.filter(campaign=campaign, is_active=True).exclude(pk__in=served).order_by("?").first()
    if gold is None:
        return None
    items = [gold.stronger_id, gold.weaker_id]
    if campaign.list_size > 2:
        _, fillers = _any_items(campaign=campaign, rng=rng, size=4 * campaign.list_size, value_id=gold.value_id)
        fillers = [item for item in fillers if item not in items]
        if len(fillers) < campaign.list_size - 2:
            return None
        items += rng.sample(fillers, campaign.list_size - 2)
    rng.shuffle(items)
    return _Choice(gold.value_id, items, "gold: a comparison with a known order", gold=gold, key=f"gold:{gold.pk}")


def _any_items(
    *, campaign: Campaign, rng: random.Random, size: int, value_id: int | None = None
) -> tuple[int, list[int]]:
    """(value id, up to `size` pool item ids of that value) from a random point of the campaign's items, active or
    not and without locks: quality-control items do not count towards any item's exposure."""
    if value_id is None:
        value_ids = sampling.campaign_value_ids(campaign_id=campaign.pk)
        value_id = rng.choice(value_ids)
    bounds = sampling.campaign_item_id_bounds(campaign_id=campaign.pk, value_id=value_id)
    if bounds is None:
        return value_id, []
    items = CampaignItem.objects.filter(campaign=campaign, value_id=value_id)
    start = rng.randint(*bounds)
    ids = list(items.filter(id__gte=start).order_by("id").values_list("pool_item_id", flat=True)[:size])
    if len(ids) < size:
        ids += items.filter(id__lt=start).order_by("id").values_list("pool_item_id", flat=True)[: size - len(ids)]
    return value_id, ids


def _try_repeat(*, campaign: Campaign, annotator, rng: random.Random) -> _Choice | None:  # type: ignore[no-untyped-def]
    """A deliberate repeat of one of the annotator's judged comparisons, shown in reverse order."""
    if campaign.repeat_rate <= 0 or rng.random() >= campaign.repeat_rate:
        return None
    repeated = Assignment.objects.filter(campaign=campaign, annotator=annotator, is_repeat=True).values("repeat_of_id")
    original = (
        Assignment.objects.filter(
            campaign=campaign,
            annotator=annotator,
            is_repeat=False,
            status=Assignment.Status.SUBMITTED,
            gold__isnull=True,
            attention_check__isnull=True,
        )
        .exclude(pk__in=repeated)
        .order_by("?")
        .first()
    )
    if original is None:
        return None
    return _Choice(
        original.value_id, list(reversed(original.item_ids)), "repeat: test-retest, order reversed", repeat_of=original
    )


def _try_sample(*, campaign: Campaign, annotator, rng: random.Random) -> _Choice | None:  # type: ignore[no-untyped-def]
    value_ids = sampling.campaign_value_ids(campaign_id=campaign.pk)
    rng.shuffle(value_ids)
    for value_id in value_ids:
        chosen = _sample_value(campaign=campaign, annotator=annotator, value_id=value_id, rng=rng)
        if chosen is not None:
            shown_order, reason = chosen
            return _Choice(value_id, shown_order, reason)
    return None


def _sample_value(*, campaign: Campaign, annotator, value_id: int, rng: random.Random):  # type: ignore[no-untyped-def]
    k = campaign.list_size
    # the ORM queryset of eligible items, built on first use only: the PostgreSQL path rarely needs it, and
    # building it costs more CPU than some of the statements it would replace
    eligible = functools.cache(lambda: sampling.eligible_items(campaign=campaign, value_id=value_id))
    seen = _SeenKeys(campaign=campaign, annotator=annotator, value_id=value_id)
    window_size = max(MIN_WINDOW, WINDOW_PER_SLOT * k)
    random_partner = True
    if campaign.sampling == Campaign.Sampling.ADAPTIVE:
        outcome = _adaptive_choice(campaign=campaign, eligible=eligible, value_id=value_id, seen=seen, rng=rng)
        if outcome.choice is not None:
            return outcome.choice
        if outcome.random:
            window = _random_window(eligible, campaign=campaign, value_id=value_id, rng=rng, size=window_size)
            label = f"adaptive: random comparison ({campaign.random_fraction:.0%} kept random for connectivity)"
            random_partner = False
        else:
            # before the first published fit (cold start), or when every informative comparison is taken
            window = _least_exposed_window(eligible, campaign=campaign, value_id=value_id, size=window_size)
            label = (
                "balanced: least-judged items (adaptive cold start: no published fit yet)"
                if outcome.cold
                else "balanced: least-judged items (adaptive: no informative comparison free)"
            )
    elif campaign.sampling == Campaign.Sampling.RANDOM:
        window = _random_window(eligible, campaign=campaign, value_id=value_id, rng=rng, size=window_size)
        label = "random"
    else:
        window = _least_exposed_window(eligible, campaign=campaign, value_id=value_id, size=window_size)
        label = "balanced: least-judged items"
    if len(window) < k:
        return None
    for _ in range(SAMPLE_ATTEMPTS):
        items = rng.sample(window, k)
        reason = label
        if random_partner and k >= 2 and rng.random() < RANDOM_PARTNER_RATE:
            partner = _random_partner(eligible, campaign=campaign, value_id=value_id, exclude=items, rng=rng)
            if partner is not None:
                items[-1] = partner
                reason = f"{label} + random partner (graph connectivity)"
        if comparison_key(items) not in seen:
            rng.shuffle(items)  # the order shown is random and stored with the lease
            return items, reason
    # Random draws keep missing on small pools the annotator has mostly seen: look through the window's
    # combinations in order (bounded), so a comparison they have not seen is always found if the window holds one.
    combinations = list(itertools.islice(itertools.combinations(window, k), MAX_COMBINATIONS_SCANNED))
    seen.prefetch([comparison_key(combination) for combination in combinations])
    for combination in combinations:
        if comparison_key(combination) not in seen:
            items = list(combination)
            rng.shuffle(items)
            return items, f"{label} (first comparison of the window not yet seen)"
    return None


class _SeenKeys:
    """Whether the annotator holds or answered a comparison of this value (an open or submitted lease that is not a
    deliberate repeat), asked only about the comparisons the sampler draws: the annotator's whole history in the
    value grows with every judgment. Released and expired leases were never answered: those may come back."""

    # SQLite allows a bounded number of parameters per statement
    CHUNK = 500

    def __init__(self, *, campaign: Campaign, annotator, value_id: int) -> None:  # type: ignore[no-untyped-def]
        self._campaign = campaign
        self._annotator = annotator
        self._value_id = value_id
        self._known: dict[str, bool] = {}

    def prefetch(self, keys: Sequence[str]) -> None:
        """Ask about every key not asked about yet, in one query (per CHUNK keys)."""
        unknown = [key for key in dict.fromkeys(keys) if key not in self._known]
        for start in range(0, len(unknown), self.CHUNK):
            chunk = unknown[start : start + self.CHUNK]
            seen = self._seen_among(chunk)
            self._known.update((key, key in seen) for key in chunk)

    def __contains__(self, key: str) -> bool:
        self.prefetch([key])
        return self._known[key]

    def _seen_among(self, keys: list[str]) -> set[str]:
        if annotation_sql.enabled():
            return annotation_sql.seen_keys(
                campaign_id=self._campaign.pk, annotator_id=self._annotator.pk, value_id=self._value_id, keys=keys
            )
        leases = Assignment.objects.filter(
            campaign=self._campaign,
            annotator=self._annotator,
            value_id=self._value_id,
            is_repeat=False,
            status__in=ANSWERABLE,
            comparison_key__in=keys,
        )
        return set(leases.values_list("comparison_key", flat=True))


@dataclass(frozen=True)
class _AdaptiveOutcome:
    choice: tuple[list[int], str] | None = None  # (order shown, reason)
    random: bool = False  # this comparison is one of the campaign's random_fraction
    cold: bool = False  # no published posterior yet


def _adaptive_choice(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, eligible, value_id: int, seen: _SeenKeys, rng: random.Random
) -> _AdaptiveOutcome:
    """The most informative comparison under the published posterior. The candidates are read without locks and
    scored (sampling.py); only the chosen items are locked, SKIP LOCKED, and the next-best comparison is tried when
    a concurrent request holds one of them. Before any fit (cold start) the caller samples balanced."""
    bounds = sampling.campaign_item_id_bounds(campaign_id=campaign.pk, value_id=value_id)
    if bounds is None:
        return _AdaptiveOutcome(cold=True)
    if not sampling.value_has_posterior(value_id=value_id):
        # No published utility on any of the value's items, so none among the candidates either: skip reading them,
        # but take the draw of their random stretch, so that a seeded sampler chooses as it would have.
        rng.randint(*bounds)
        return _AdaptiveOutcome(cold=True)
    candidates = sampling.candidates_read(campaign=campaign, value_id=value_id, bounds=bounds, rng=rng)
    if not sampling.has_posterior(candidates):
        return _AdaptiveOutcome(cold=True)
    if rng.random() < campaign.random_fraction:
        return _AdaptiveOutcome(random=True)
    attempts = 0
    ranking = list(sampling.ranked_comparisons(candidates, k=campaign.list_size))
    for position, ranked in enumerate(ranking):
        if position % SEEN_BATCH == 0:  # asked a batch at a time: the first few are nearly always new to them
            seen.prefetch([comparison_key(later.pool_item_ids) for later in ranking[position : position + SEEN_BATCH]])
        if comparison_key(ranked.pool_item_ids) in seen:
            continue
        if annotation_sql.enabled():
            locked = annotation_sql.items_lock(campaign=campaign, value_id=value_id, pool_item_ids=ranked.pool_item_ids)
        else:
            chosen = eligible().filter(pool_item_id__in=ranked.pool_item_ids).order_by("id")
            locked = _locked_ids(chosen, campaign.list_size)
        if len(locked) == campaign.list_size:
            items = list(ranked.pool_item_ids)
            rng.shuffle(items)  # the order shown is random and stored with the lease
            return _AdaptiveOutcome(choice=(items, ranked.reason))
        attempts += 1
        if attempts >= ADAPTIVE_LOCK_ATTEMPTS:
            break
    return _AdaptiveOutcome()


def _least_exposed_window(  # type: ignore[no-untyped-def]
    eligible, *, campaign: Campaign, value_id: int, size: int
) -> list[int]:
    """The least-exposed eligible items (fewest judgments, then fewest open leases), locked.

    Two short queries instead of one ORDER BY judgments_count, in_flight, id over the pool: that sort reads every
    eligible row (~100 ms at 100K items). Ordered by judgments_count alone, the (campaign, value, is_active,
    judgments_count) index yields the first rows at once; among a few times the window of those, the rows with
    the fewest open leases are locked, so concurrent annotators still spread over different items.
    """
    if annotation_sql.enabled():
        window = annotation_sql.least_exposed_window(
            campaign=campaign, value_id=value_id, size=size, nearest=size * WINDOW_SPREAD
        )
        return sorted(window)
    nearest = eligible().order_by("judgments_count").values_list("id", flat=True)[: size * WINDOW_SPREAD]
    ordered = eligible().filter(id__in=list(nearest)).order_by("judgments_count", "in_flight", "id")
    # sorted, so that a seeded sampler draws the same comparisons whatever order the rows came back in
    return sorted(_locked_ids(ordered, size))


def _locked_ids(items, size: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Pool item ids of up to `size` campaign items, row-locked; rows other requests hold are skipped."""
    return list(items.select_for_update(skip_locked=True, of=("self",)).values_list("pool_item_id", flat=True)[:size])


def _random_window(eligible, *, campaign: Campaign, value_id: int, rng: random.Random, size: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Items from a random point of the id range, wrapping around: O(window), not ORDER BY random() over the pool."""
    bounds = sampling.campaign_item_id_bounds(campaign_id=campaign.pk, value_id=value_id)
    if bounds is None:
        return []
    start = rng.randint(*bounds)
    if annotation_sql.enabled():
        return annotation_sql.random_window(campaign=campaign, value_id=value_id, start=start, size=size)
    window = _locked_ids(eligible().filter(id__gte=start).order_by("id"), size)
    if len(window) < size:
        window += _locked_ids(eligible().filter(id__lt=start).order_by("id"), size - len(window))
    return window


def _random_partner(  # type: ignore[no-untyped-def]
    eligible, *, campaign: Campaign, value_id: int, exclude: Sequence[int], rng: random.Random
) -> int | None:
    bounds = sampling.campaign_item_id_bounds(campaign_id=campaign.pk, value_id=value_id)
    if bounds is None:
        return None
    start = rng.randint(*bounds)
    if annotation_sql.enabled():
        return annotation_sql.random_partner(campaign=campaign, value_id=value_id, start=start, exclude=exclude)
    # locked like the window (SKIP LOCKED): the lease then updates only rows this request holds, so it cannot
    # deadlock with a submit that holds the partner and waits for a window row
    partner = _locked_ids(eligible().filter(id__gte=start).exclude(pool_item_id__in=exclude).order_by("id"), 1)
    return partner[0] if partner else None


def _do_assignment_create(  # type: ignore[no-untyped-def]
    *,
    campaign: Campaign,
    annotator,
    value_id: int,
    shown_order: list[int],
    reason: str,
    repeat_of,
    now,
    gold: GoldComparison | int | None = None,
    attention_check: AttentionCheck | int | None = None,
    key: str | None = None,
) -> Assignment:
    """Call while holding the annotator's membership lock (and the sampled items' row locks). Quality-control
    leases (gold, attention check) leave the items' exposure counters alone: their answers never enter a fit."""
    assignment = Assignment(
        campaign=campaign,
        value_id=value_id,
        annotator=annotator,
        item_ids=shown_order,
        comparison_key=key or comparison_key(shown_order),
        is_repeat=repeat_of is not None,
        repeat_of=repeat_of,
        reason=reason[:200],
        gold_id=getattr(gold, "pk", gold),
        attention_check_id=getattr(attention_check, "pk", attention_check),
        expires_at=now + timedelta(seconds=campaign.lease_ttl_s),
    )
    if annotation_sql.enabled():
        # the lease, the latest instructions version and the items' in_flight in one statement
        assignment.issued_at = timezone.now()
        annotation_sql.lease_insert(lease=assignment, counts_exposure=not is_quality_check(assignment))
        return assignment
    instructions = campaign.instruction_versions.order_by("-version").values_list("version", flat=True).first()
    assignment.instructions_version = instructions or 1
    assignment.save(force_insert=True)
    if not is_quality_check(assignment):
        items = CampaignItem.objects.filter(campaign=campaign, pool_item_id__in=shown_order)
        items.update(in_flight=F("in_flight") + 1)
    return assignment


def is_quality_check(assignment: Assignment) -> bool:
    """Gold and attention-check leases measure the annotator; they count towards no item's exposure or fit."""
    return assignment.gold_id is not None or assignment.attention_check_id is not None


def _do_lease_expire(lease: Assignment, status: str = Assignment.Status.EXPIRED) -> None:
    """Call inside a transaction that holds the lease's row (or the annotator's membership) lock."""
    updated = Assignment.objects.filter(pk=lease.pk, status=Assignment.Status.OPEN).update(status=status)
    if updated and not is_quality_check(lease):
        items = CampaignItem.objects.filter(campaign_id=lease.campaign_id, pool_item_id__in=lease.item_ids)
        # Lock in id order, as judgment submission does, so the two can never deadlock.
        list(items.select_for_update().order_by("id").values_list("id", flat=True))
        items.filter(in_flight__gt=0).update(in_flight=F("in_flight") - 1)


def assignment_release(*, assignment: Assignment, annotator) -> Assignment:  # type: ignore[no-untyped-def]
    """The annotator gives a comparison back without judging it (skip, or a returned crowd session)."""
    with transaction.atomic():
        lease = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if lease.annotator_id == annotator.pk and lease.status == Assignment.Status.OPEN:
            _do_lease_expire(lease, status=Assignment.Status.RELEASED)
            lease.refresh_from_db()
    return lease


def assignments_release_open(*, campaign_id: int, annotator_id: int) -> int:
    """Give back every open lease of an annotator in a campaign (a returned or timed-out crowd session, a paused or
    removed member), so their items go back to the pool at once. Returns the number released."""
    released = 0
    with transaction.atomic():
        for lease in Assignment.objects.select_for_update().filter(
            campaign_id=campaign_id, annotator_id=annotator_id, status=Assignment.Status.OPEN
        ):
            _do_lease_expire(lease, status=Assignment.Status.RELEASED)
            released += 1
    return released


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
