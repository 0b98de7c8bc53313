"""`manage.py import_texts --format {csv,jsonl,vidb,touche23} PATH...`: import texts into value pools.

Prints the summary as one JSON line. On any problem it prints them as `file:line: reason`, writes nothing and
exits with status 1.
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.services.imports import FORMATS, texts_import


class Command(BaseCommand):
    help = "Import texts and their value labels from files (all-or-nothing, idempotent by content hash)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", required=True, choices=list(FORMATS), help="the file format")
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to import")
        parser.add_argument("--user", help="username recorded as the importer (default: nobody)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user is called {options['user']!r}.")

        def progress(fraction: float, message: str) -> None:
            if options["verbosity"] >= 2:
                self.stderr.write(f"{100 * fraction:5.1f}% {message}")

        try:
            summary = texts_import(
                format=options["format"], paths=options["paths"], imported_by=user, progress=progress
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(summary.as_dict()))
