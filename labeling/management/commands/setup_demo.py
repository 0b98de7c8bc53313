"""`python manage.py setup_demo`: load the taxonomy, the demo corpus, demo users and demo campaigns (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from labeling.services.demo import demo_setup


class Command(BaseCommand):
    help = "Load the taxonomy, the demo corpus, one demo user per role and two running demo campaigns."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", help="password for new demo users (default: VALUEFLOW_DEMO_PASSWORD)")

    def handle(self, *args: Any, **options: Any) -> None:
        summary = demo_setup(password=options.get("password"))
        taxonomy = summary.taxonomy
        self.stdout.write(
            f"Taxonomy: {taxonomy.get('theories')} theories, {taxonomy.get('values')} values, "
            f"{taxonomy.get('concepts')} concepts. Demo corpus: {summary.texts_created} new texts, "
            f"{summary.pool_items} pool items. Demo campaigns created: {summary.campaigns_created}."
        )
        from django.conf import settings

        self.stdout.write("Demo users (log in at /accounts/login/):")
        for username, role, created in summary.users:
            password = options.get("password") or settings.VALUEFLOW_DEMO_PASSWORD
            note = f"password {password}" if created else "existing user, password unchanged"
            self.stdout.write(f"  {role:<11} {username:<11} {note}")
