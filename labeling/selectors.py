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


# --- texts and imports (the text browser and the import history) ----------------------------------------------


def text_list(*, q: str = "", value: Value | None = None) -> QuerySet[Text]:
    """Texts whose content contains `q` (any case), optionally only those in one value's pool, newest first,
    with their pool memberships (value and theory) loaded."""
    from django.db.models import Prefetch

    texts = Text.objects.all()
    if q.strip():
        texts = texts.filter(content__icontains=q.strip())
    if value is not None:
        texts = texts.filter(pool_items__value=value)  # (value, text) is unique: no duplicate rows
    memberships = PoolItem.objects.select_related("value__theory").order_by("value__theory__order", "value__key")
    return texts.prefetch_related(Prefetch("pool_items", queryset=memberships)).order_by("-id")


def text_get(*, text_id: int) -> Text:
    """One text with its pool memberships; raises Text.DoesNotExist."""
    return text_list().get(pk=text_id)


def value_get_by_qualified_key(*, qualified_key: str) -> Value:
    """`svt:benevolence` (any accepted spelling, e.g. `pvq:Benevolence`) → the value; raises LookupError saying why."""
    from labeling.services.taxonomy import value_resolve

    theory, separator, key = qualified_key.partition(":")
    if not separator or not theory.strip() or not key.strip():
        raise LookupError(f"value {qualified_key!r} is not written as theory:key (e.g. svt:benevolence)")
    return value_resolve(theory=theory, value=key)


def pooled_value_list() -> QuerySet[Value]:
    """Values that have at least one text in their pool, with the pool size: the text browser's value filter."""
    return (
        Value.objects.annotate(pool_size=Count("pool_items"))
        .filter(pool_size__gt=0)
        .select_related("theory")
        .order_by("theory__order", "level", "order", "key")
    )


def import_record_list() -> QuerySet["ImportRecord"]:
    """Imported files, newest first, with who imported them."""
    from labeling.models import ImportRecord

    return ImportRecord.objects.select_related("imported_by").order_by("-created_at", "-id")
