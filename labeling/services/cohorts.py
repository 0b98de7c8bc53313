"""Cohorts: named groups of annotators that campaigns can be assigned to.

A campaign assigned to one or more cohorts is shown and served only to their members (researchers and admins
still see every campaign, to check it). `assignment_next` enforces it, the annotators' campaign lists and pages
filter by it, and crowd links cannot enter such a campaign. A campaign with no cohort is open to every annotator.
"""

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.models import Campaign, Cohort

MAX_NAME = 120


def cohort_create(*, name: str, description: str = "") -> Cohort:
    name = name.strip()
    if not name:
        raise ApplicationError("A cohort needs a name.", extra={"field": "name"})
    if len(name) > MAX_NAME:
        raise ApplicationError(f"A cohort's name has at most {MAX_NAME} characters.", extra={"field": "name"})
    try:
        with transaction.atomic():
            return Cohort.objects.create(name=name, description=description.strip())
    except IntegrityError:
        raise ApplicationError(
            f"A cohort named “{name}” already exists.", extra={"field": "name"}, status_code=409
        ) from None


def cohort_members_add(*, cohort: Cohort, usernames: Sequence[str]) -> list[User]:
    """Add annotators by username (all or none: unknown usernames are named and nothing is added). Returns the
    users added; those already in the cohort are skipped."""
    wanted = list(dict.fromkeys(name.strip() for name in usernames if name.strip()))
    if not wanted:
        raise ApplicationError("Give at least one username.", extra={"field": "usernames"})
    found = {user.username: user for user in User.objects.filter(username__in=wanted)}
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise ApplicationError(
            f"No user is called {', '.join(unknown)}; nothing was added.",
            extra={"field": "usernames", "unknown": unknown},
        )
    existing = set(cohort.members.filter(username__in=wanted).values_list("username", flat=True))
    added = [found[name] for name in wanted if name not in existing]
    cohort.members.add(*added)
    return added


def cohort_member_remove(*, cohort: Cohort, user: User) -> None:
    cohort.members.remove(user)


def cohort_campaign_assign(*, cohort: Cohort, campaign: Campaign) -> None:
    """From now on the campaign is served only to members of its cohorts (this one and any others it has)."""
    cohort.campaigns.add(campaign)


def cohort_campaign_unassign(*, cohort: Cohort, campaign: Campaign) -> None:
    cohort.campaigns.remove(campaign)
