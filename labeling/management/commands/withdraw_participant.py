"""`python manage.py withdraw_participant USERNAME`: a participant withdrew from the research — delete their
judgments, release their leases, anonymise their account and request refits (labeling/services/participants.py).
Prints one JSON line of what was done."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.services.participants import participant_withdraw


class Command(BaseCommand):
    help = "Delete a withdrawing participant's judgments, release their leases, anonymise the account, refit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the participant's username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}; nothing was changed.")
        try:
            withdrawal = participant_withdraw(user=user, withdrawn_by=None)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(withdrawal.as_dict()))
