"""Submitting judgments (idempotent, all-or-nothing), undoing the last one within a short window, and the stopping
rule that retires items once they have their judgments or a narrow enough published interval."""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import current_app
from django.core.cache import cache
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Assignment, Campaign, CampaignItem, CampaignMember, Judgment, JudgmentRetraction
from labeling.services import annotation_sql, quality
from labeling.services.assignment import _do_assignment_create, _do_lease_expire, is_quality_check

logger = logging.getLogger("valueflow.judgments")

UNDO_WINDOW_S = 30
# Refit requests are throttled to one message per value per this many seconds; the modeling side debounces more.
REFIT_REQUEST_THROTTLE_S = 1
MAX_LATENCY_MS = 24 * 3600 * 1000
# What a client may say about itself (browser, app version, …) is kept with the judgment; it is small or refused.
MAX_CLIENT_INFO_BYTES = 4096


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool  # False when this was a client retry of an identical submission


def judgment_submit(
    *,
    assignment_id: int,
    annotator,  # type: ignore[no-untyped-def]
    ordering: Any,
    kind: str = Judgment.Kind.RANKING,
    latency_ms: int | None = None,
    client_info: dict[str, Any] | None = None,
) -> SubmitResult:
    """Store the annotator's answer to their lease. The same answer sent twice stores one judgment and answers the
    same; anything invalid is rejected with a clear message and stores nothing."""
    _check_client_info(client_info)
    with transaction.atomic():
        if annotation_sql.enabled():
            assignment = annotation_sql.lease_lock(assignment_id=assignment_id)
        else:
            locked = Assignment.objects.select_for_update(of=("self",)).select_related("campaign")
            assignment = locked.filter(pk=assignment_id).first()
        if assignment is None or assignment.annotator_id != annotator.pk:
            raise ApplicationError(
                "No such assignment for you.", extra={"assignment_id": assignment_id}, status_code=404
            )
        campaign = assignment.campaign
        groups = _validated_ordering(assignment=assignment, campaign=campaign, ordering=ordering, kind=kind)
        # An open lease has no judgment yet (submitting closes it in the same transaction), so only a closed one
        # can be a client's retry: one query fewer on every first submit.
        existing = (
            Judgment.objects.filter(assignment=assignment).first()
            if assignment.status != Assignment.Status.OPEN
            else None
        )
        if existing is not None:
            if existing.ordering == groups and existing.kind == kind:
                return SubmitResult(existing, created=False)
            raise ApplicationError(
                "This comparison was already judged with a different answer.",
                extra={"assignment_id": assignment.pk, "judgment_id": existing.pk},
                status_code=409,
            )
        if assignment.status != Assignment.Status.OPEN or assignment.expires_at <= timezone.now():
            raise ApplicationError(
                "This comparison's lease has expired; ask for the next one.",
                extra={"assignment_id": assignment.pk, "status": assignment.status},
                status_code=409,
            )
        if latency_ms is not None and not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise ApplicationError("latency_ms must be between 0 and 86,400,000.", extra={"field": "latency_ms"})
        checks_annotator = is_quality_check(assignment)
        judgment = Judgment(
            assignment=assignment,
            campaign=campaign,
            value_id=assignment.value_id,
            annotator=annotator,
            kind=kind,
            ordering=groups,
            shown_order=assignment.item_ids,
            latency_ms=latency_ms,
            client_info=client_info or {},
            # gold and attention-check answers measure the annotator; fits leave them out
            is_quality_check=checks_annotator,
        )
        counters = quality.answer_counters(
            campaign=campaign, assignment=assignment, groups=groups, kind=kind, latency_ms=latency_ms
        )
        if annotation_sql.enabled() and not checks_annotator:
            # the judgment, the lease's end, the items' and the member's counters in one statement
            judgment.created_at = timezone.now()
            annotation_sql.judgment_insert(judgment=judgment, lease=assignment, member_counters=counters)
            if campaign.ci_width_target is not None:
                shown = CampaignItem.objects.filter(campaign=campaign, pool_item_id__in=assignment.item_ids)
                _do_stopping_rule(campaign=campaign, items=shown)
            _request_refit_on_commit(assignment.value_id)
            return SubmitResult(judgment, created=True)
        judgment.save(force_insert=True)
        Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED)
        _do_counters_after_judgment(
            campaign=campaign, assignment=assignment, annotator=annotator, delta=1, member_counters=counters
        )
        if checks_annotator:
            quality.do_quality_check_rules(campaign=campaign, annotator=annotator, counters=counters)
        else:
            _request_refit_on_commit(assignment.value_id)
    return SubmitResult(judgment, created=True)


def _check_client_info(client_info: dict[str, Any] | None) -> None:
    if client_info is None:
        return
    if not isinstance(client_info, dict):
        raise ApplicationError("client_info must be a JSON object.", extra={"field": "client_info"})
    encoded = json.dumps(client_info, default=str)
    if "\\u0000" in encoded:  # PostgreSQL's JSON type cannot hold a NUL character
        raise ApplicationError("client_info must not contain NUL characters.", extra={"field": "client_info"})
    size = len(encoded.encode("utf-8"))
    if size > MAX_CLIENT_INFO_BYTES:
        raise ApplicationError(
            f"client_info is {size:,} bytes of JSON; the limit is {MAX_CLIENT_INFO_BYTES:,}.",
            extra={"field": "client_info", "limit_bytes": MAX_CLIENT_INFO_BYTES},
        )


def _validated_ordering(*, assignment: Assignment, campaign: Campaign, ordering: Any, kind: str) -> list[list[int]]:
    """Check that `ordering` is a ranking of exactly the assignment's items; return it as a list of groups."""
    shown = list(assignment.item_ids)
    if kind not in Judgment.Kind.values:
        raise ApplicationError(f"Unknown judgment kind {kind!r}.", extra={"field": "kind"})
    if not isinstance(ordering, list) or not ordering:
        raise ApplicationError("ordering must be a non-empty list of groups of item ids.", extra={"field": "ordering"})
    groups: list[list[int]] = []
    for position, group in enumerate(ordering):
        members = group if isinstance(group, list) else [group]
        if not members or not all(isinstance(i, int) and not isinstance(i, bool) for i in members):
            raise ApplicationError(
                f"ordering[{position}] must be an item id or a non-empty list of item ids.", extra={"field": "ordering"}
            )
        groups.append(list(members))
    flat = [item for group in groups for item in group]
    if len(flat) != len(set(flat)):
        raise ApplicationError("ordering names an item more than once.", extra={"field": "ordering"})
    if set(flat) != set(shown):
        raise ApplicationError(
            "ordering must rank exactly the items of this comparison.",
            extra={"field": "ordering", "expected_items": sorted(shown), "got_items": sorted(flat)},
        )
    ties = any(len(group) > 1 for group in groups)
    if kind == Judgment.Kind.NEITHER:
        if campaign.protocol != Campaign.Protocol.PAIRWISE or len(groups) != 1:
            raise ApplicationError(
                "“Neither” is an answer to a pair only: send both items as one group.", extra={"field": "kind"}
            )
    elif kind == Judgment.Kind.BEST_WORST:
        if campaign.protocol != Campaign.Protocol.BEST_WORST:
            raise ApplicationError("This campaign does not use best–worst judgments.", extra={"field": "kind"})
        if len(groups) != 3 or len(groups[0]) != 1 or len(groups[2]) != 1:
            raise ApplicationError(
                "A best–worst answer is [[best], [the others], [worst]].", extra={"field": "ordering"}
            )
    else:
        if campaign.protocol == Campaign.Protocol.BEST_WORST:
            raise ApplicationError("This campaign expects kind=best_worst.", extra={"field": "kind"})
        if ties and not campaign.allow_ties:
            raise ApplicationError("This campaign does not allow ties.", extra={"field": "ordering"})
    return groups


def _do_counters_after_judgment(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, assignment: Assignment, annotator, delta: int, member_counters: dict[str, int] | None = None
) -> None:
    """Call inside the submitting (or undoing) transaction. Keeps exposure counters and stopping targets exact, and
    adds `member_counters` (quality counters of the answer, negated for an undo) to the annotator's membership.
    Quality-control answers count for the annotator only: no item's exposure moves."""
    if not is_quality_check(assignment):
        items = CampaignItem.objects.filter(campaign=campaign, pool_item_id__in=assignment.item_ids)
        # Lock the items in id order first: concurrent submits touching overlapping items then cannot deadlock.
        list(items.select_for_update().order_by("id").values_list("id", flat=True))
        if delta > 0:
            # One UPDATE for the lease's end, the new judgment and the judgment-count stopping target (PostgreSQL
            # evaluates every SET on the row as it was); the interval target needs the pool item, so it runs apart.
            items.update(
                in_flight=Greatest(F("in_flight") - 1, 0),
                judgments_count=F("judgments_count") + 1,
                is_active=Case(
                    When(judgments_count__gte=campaign.judgments_per_item - 1, then=Value(False)),
                    default=F("is_active"),
                ),
            )
            if campaign.ci_width_target is not None:
                _do_stopping_rule(campaign=campaign, items=items)
        else:
            items.filter(judgments_count__gt=0).update(judgments_count=F("judgments_count") - 1)
            items.filter(judgments_count__lt=campaign.judgments_per_item).update(is_active=True)
    updates = {"judgments_count": F("judgments_count") + delta}
    for field, increment in (member_counters or {}).items():
        updates[field] = F(field) + increment * delta
    CampaignMember.objects.filter(campaign=campaign, annotator=annotator).update(**updates)


def _do_stopping_rule(*, campaign: Campaign, items) -> int:  # type: ignore[no-untyped-def]
    """Retire the active items among `items` that reached the campaign's stopping targets: judgments_per_item
    judgments, or a published 95 % interval at most ci_width_target intensity points wide. One UPDATE."""
    stop = Q(judgments_count__gte=campaign.judgments_per_item)
    if campaign.ci_width_target is not None:
        stop |= Q(
            pool_item__ci_low__isnull=False,
            pool_item__ci_high__lte=F("pool_item__ci_low") + campaign.ci_width_target,
        )
    return CampaignItem.objects.filter(pk__in=items.filter(stop, is_active=True).values("pk")).update(is_active=False)


def campaign_items_apply_stopping(*, campaign: Campaign) -> int:
    """Apply the stopping rule to every item of the campaign, without waiting for a new judgment: run after a fit
    is published (its intervals may now be narrow enough) and periodically. Returns the number of items retired."""
    retired = _do_stopping_rule(campaign=campaign, items=CampaignItem.objects.filter(campaign=campaign))
    if retired:
        logger.info("stopping rule retired %s items of campaign %s", retired, campaign.pk)
    return retired


def _request_refit_on_commit(value_id: int) -> None:
    """Ask the modeling side (by task name: labeling never imports modeling) to refit this value soon."""

    def send() -> None:
        if cache.add(f"valueflow:refit-requested:{value_id}", 1, timeout=REFIT_REQUEST_THROTTLE_S):
            try:
                current_app.send_task("modeling.tasks.refit_request", kwargs={"value_id": value_id})
            except Exception:  # noqa: BLE001 - the judgment is stored; the periodic catch-up refit covers it
                logger.warning("could not request a refit of value %s; the catch-up task will", value_id, exc_info=True)

    transaction.on_commit(send)


def judgment_undo(*, judgment_id: int, annotator, window_s: int = UNDO_WINDOW_S) -> Assignment:  # type: ignore[no-untyped-def]
    """Retract the annotator's most recent judgment in its campaign (within window_s seconds) and hand the same
    comparison back, in the same order, as a new lease."""
    with transaction.atomic():
        judgment = (
            Judgment.objects.select_for_update(of=("self",))
            .select_related("assignment", "campaign")
            .filter(pk=judgment_id, annotator=annotator)
            .first()
        )
        if judgment is None:
            raise ApplicationError("No such judgment of yours.", extra={"judgment_id": judgment_id}, status_code=404)
        if JudgmentRetraction.objects.filter(judgment=judgment).exists():
            raise ApplicationError("This judgment was already undone.", status_code=409)
        latest_id = (
            Judgment.objects.filter(campaign=judgment.campaign, annotator=annotator, retraction__isnull=True)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        if latest_id != judgment.pk:
            raise ApplicationError("Only your most recent judgment can be undone.", status_code=409)
        if judgment.created_at < timezone.now() - timedelta(seconds=window_s):
            raise ApplicationError(f"Judgments can be undone for {window_s} seconds only.", status_code=409)
        JudgmentRetraction.objects.create(judgment=judgment)
        campaign = judgment.campaign
        original = judgment.assignment
        # take the answer's quality counters back too (a gold or attention answer is scored again when re-answered)
        counters = quality.answer_counters(
            campaign=campaign, assignment=original, groups=judgment.ordering, kind=judgment.kind,
            latency_ms=judgment.latency_ms,
        )
        _do_counters_after_judgment(
            campaign=campaign, assignment=original, annotator=annotator, delta=-1, member_counters=counters
        )
        # Close any lease handed out since, so the undone comparison is next.
        for lease in Assignment.objects.filter(campaign=campaign, annotator=annotator, status=Assignment.Status.OPEN):
            _do_lease_expire(lease, status=Assignment.Status.RELEASED)
        again = _do_assignment_create(
            campaign=campaign,
            annotator=annotator,
            value_id=judgment.value_id,
            shown_order=list(judgment.shown_order),
            reason="undo: the same comparison again",
            repeat_of=original,
            gold=original.gold_id,
            attention_check=original.attention_check_id,
            key=original.comparison_key,
            now=timezone.now(),
        )
        if not judgment.is_quality_check:
            _request_refit_on_commit(judgment.value_id)
    return again


def ordering_for_pair(*, assignment: Assignment, answer: str) -> tuple[list[list[int]], str]:
    """Translate a pairwise key answer ("1", "2", "tie", "neither") into (ordering, kind) for judgment_submit."""
    shown: Sequence[int] = assignment.item_ids
    if len(shown) != 2:
        raise ApplicationError("This comparison is not a pair.", extra={"field": "answer"})
    first, second = shown
    answers = {
        "1": ([[first], [second]], Judgment.Kind.RANKING),
        "2": ([[second], [first]], Judgment.Kind.RANKING),
        "tie": ([[first, second]], Judgment.Kind.RANKING),
        "neither": ([[first, second]], Judgment.Kind.NEITHER),
    }
    if answer not in answers:
        raise ApplicationError(f"Unknown answer {answer!r}: expected 1, 2, tie or neither.", extra={"field": "answer"})
    return answers[answer]

