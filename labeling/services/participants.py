"""A participant withdraws from the research: everything they answered is deleted, their open work goes back to the
pool, the intensities are refit without them, and their account is anonymised.

`participant_withdraw` runs in one transaction (all or nothing) and, in order:

1. gives back their open leases (the items' in-flight counters drop, as for a skipped comparison);
2. takes their answers out of the campaigns' exposure counters (items below their target are asked again);
3. deletes their judgments (undo records go with them) and assignments, memberships, qualification attempts and
   crowd sessions (which hold the crowd platform's participant id), and removes them from cohorts;
4. anonymises the account: username `withdrawn-<id>`, no name or e-mail, an unusable password, inactive — the row
   stays so that foreign keys (who created a job, an earlier fit's reliability estimate) still resolve, but nothing
   in it names the person, and it can no longer log in;
5. records the withdrawal in the audit log, and after commit asks for a refit of every value they judged (by task
   name: labeling never imports modeling). The periodic catch-up refit also notices the missing judgments.

Snapshots exported before the withdrawal are immutable and keep the pseudonymised judgments they froze; the
pseudonym (an HMAC of the user id) no longer leads to a name. Snapshots made after the refit do not contain them.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import F, Q

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.models import (
    Assignment,
    CampaignItem,
    CampaignMember,
    CrowdSession,
    Judgment,
    QualificationAttempt,
)
from labeling.services.assignment import _do_lease_expire

logger = logging.getLogger("valueflow.participants")
audit_logger = logging.getLogger("valueflow.audit")


@dataclass(frozen=True)
class Withdrawal:
    user_id: int
    former_username: str
    judgments_deleted: int
    leases_released: int
    campaigns_left: int
    values_refit: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "former_username": self.former_username,
            "judgments_deleted": self.judgments_deleted,
            "leases_released": self.leases_released,
            "campaigns_left": self.campaigns_left,
            "values_refit": self.values_refit,
        }


def withdrawn_username(user_id: int) -> str:
    return f"withdrawn-{user_id}"


def participant_withdraw(*, user: User, withdrawn_by: Any = None) -> Withdrawal:
    """Delete a participant's judgments and related records, release their leases, anonymise their account and
    request refits of the values they judged (module docstring). Admin accounts are refused: take the admin role
    away first, so that the platform never loses its last administrator by accident."""
    with transaction.atomic():
        locked = User.objects.select_for_update().filter(pk=user.pk).first()
        if locked is None:
            raise ApplicationError("No such user.", extra={"user_id": user.pk}, status_code=404)
        if locked.username == withdrawn_username(locked.pk) and not locked.is_active:
            raise ApplicationError(
                f"User {locked.pk} has already withdrawn; nothing is left to delete.", extra={"user_id": locked.pk}
            )
        if locked.role == User.Role.ADMIN or locked.is_superuser:
            raise ApplicationError(
                f"{locked.username} is an admin. Change their role first (Users page); admins cannot withdraw as "
                "participants.",
                extra={"user_id": locked.pk, "role": locked.role},
            )
        former_username = locked.username

        leases = list(Assignment.objects.select_for_update().filter(annotator=locked, status=Assignment.Status.OPEN))
        for lease in leases:
            _do_lease_expire(lease, status=Assignment.Status.RELEASED)

        judgments = Judgment.objects.filter(annotator=locked)
        counted = judgments.filter(retraction__isnull=True, is_quality_check=False)
        _do_uncount_exposures(counted.values_list("campaign_id", "shown_order"))
        value_ids = sorted(set(judgments.filter(is_quality_check=False).values_list("value_id", flat=True)))
        campaigns_left = CampaignMember.objects.filter(annotator=locked).count()
        judgments_deleted = judgments.count()
        judgments.delete()
        Assignment.objects.filter(annotator=locked).delete()
        CampaignMember.objects.filter(annotator=locked).delete()
        QualificationAttempt.objects.filter(annotator=locked).delete()
        CrowdSession.objects.filter(annotator=locked).delete()
        locked.cohorts.clear()

        locked.username = withdrawn_username(locked.pk)
        locked.first_name = locked.last_name = locked.email = ""
        locked.set_unusable_password()
        locked.is_active = False
        locked.is_staff = False
        locked.role = User.Role.ANNOTATOR
        locked.save()

        audit_logger.info(
            "participant withdrawn: user id %s (was %r) by %s; %s judgments deleted, %s leases released, values %s",
            locked.pk,
            former_username,
            _actor(withdrawn_by),
            judgments_deleted,
            len(leases),
            value_ids,
        )
        for value_id in value_ids:
            _request_refit_on_commit(value_id)
    return Withdrawal(
        user_id=locked.pk,
        former_username=former_username,
        judgments_deleted=judgments_deleted,
        leases_released=len(leases),
        campaigns_left=campaigns_left,
        values_refit=value_ids,
    )


def _do_uncount_exposures(rows) -> None:  # type: ignore[no-untyped-def]
    """Call inside the withdrawing transaction. Each judgment counted once for every item it showed; take those
    counts back (one UPDATE per distinct count) and reactivate items that fell below their campaign's target."""
    per_item: Counter[tuple[int, int]] = Counter()
    for campaign_id, item_ids in rows.iterator(chunk_size=2000):
        for item_id in item_ids:
            per_item[(campaign_id, item_id)] += 1
    by_amount: dict[int, list[Q]] = {}
    for (campaign_id, item_id), amount in per_item.items():
        by_amount.setdefault(amount, []).append(Q(campaign_id=campaign_id, pool_item_id=item_id))
    for amount, conditions in by_amount.items():
        for start in range(0, len(conditions), 500):
            condition = Q()
            for one in conditions[start : start + 500]:
                condition |= one
            items = CampaignItem.objects.filter(condition)
            # Lock in id order, as judgment submission does, so a concurrent submit cannot deadlock with us.
            list(items.select_for_update().order_by("id").values_list("id", flat=True))
            items.update(judgments_count=F("judgments_count") - amount)
    touched = {campaign_id for campaign_id, _ in per_item}
    for item in CampaignItem.objects.filter(campaign_id__in=touched, is_active=False).select_related("campaign"):
        judged_here = (item.campaign_id, item.pool_item_id) in per_item
        if judged_here and item.judgments_count < item.campaign.judgments_per_item:
            CampaignItem.objects.filter(pk=item.pk).update(is_active=True)


def _request_refit_on_commit(value_id: int) -> None:
    def send() -> None:
        try:
            current_app.send_task("modeling.tasks.refit_request", kwargs={"value_id": value_id})
        except Exception:  # noqa: BLE001 - the deletion is committed; the periodic catch-up refit covers it
            logger.warning("could not request a refit of value %s after a withdrawal", value_id, exc_info=True)

    transaction.on_commit(send)


def _actor(user: Any) -> str:
    if user is None or not getattr(user, "pk", None):
        return "the command line"
    return f"user {user.pk} ({user.username})"


def participant_summary(*, user: User) -> dict[str, int]:
    """What a withdrawal of `user` would delete, for the confirmation page."""
    return {
        "judgments": Judgment.objects.filter(annotator=user).count(),
        "open_leases": Assignment.objects.filter(annotator=user, status=Assignment.Status.OPEN).count(),
        "campaigns": CampaignMember.objects.filter(annotator=user).count(),
        "crowd_sessions": CrowdSession.objects.filter(annotator=user).count(),
    }
