"""`python manage.py load_taxonomy [--path FILE]`: load (or refresh) the value taxonomy from its YAML file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.exceptions import ApplicationError
from labeling.services.taxonomy import DEFAULT_TAXONOMY_PATH, taxonomy_load


class Command(BaseCommand):
    help = "Load the value theories, values and cross-theory concepts from a taxonomy YAML file (safe to rerun)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--path", type=Path, default=DEFAULT_TAXONOMY_PATH,
            help=f"taxonomy YAML file (default: {DEFAULT_TAXONOMY_PATH})",
        )

    def handle(self, *args: object, path: Path, **options: object) -> None:
        try:
            counts = taxonomy_load(path=path)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Taxonomy {path.name}: {counts['theories']} theories ({counts['theories_created']} new, "
            f"{counts['theories_updated']} updated), {counts['values']} values ({counts['values_created']} new, "
            f"{counts['values_updated']} updated), {counts['edges_created']} edges added and "
            f"{counts['edges_removed']} removed, {counts['concepts']} concepts ({counts['concepts_created']} new, "
            f"{counts['concepts_updated']} updated)."
        )
