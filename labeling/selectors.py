"""Reads of the taxonomy and texts: the public read API other apps may use."""

from django.db.models import Count, QuerySet

from labeling.models import PoolItem, Text, Theory, Value


def theory_list() -> QuerySet[Theory]:
    return Theory.objects.annotate(value_count=Count("values")).order_by("order", "key")


def target_value_list() -> QuerySet[Value]:
    return Value.objects.filter(is_target=True).select_related("theory").order_by("theory__order", "order", "key")


def platform_counts() -> dict[str, int]:
    """Counts of the labeling side for `manage.py stats`."""
    from labeling.models import Concept

    return {
        "theories": Theory.objects.count(),
        "values": Value.objects.count(),
        "target_values": Value.objects.filter(is_target=True).count(),
        "concepts": Concept.objects.count(),
        "texts": Text.objects.count(),
        "pool_items": PoolItem.objects.count(),
    }
