"""Print one JSON line of platform counts: `python manage.py stats`."""

import json
from typing import Any

from django.core.management.base import BaseCommand

from modeling.selectors import platform_stats


class Command(BaseCommand):
    help = "Print one JSON line of counts: theories, values, target_values, concepts, texts, pool_items, ..."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(platform_stats()))
