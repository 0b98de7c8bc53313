"""Reads of the taxonomy and texts: the public read API other apps may use."""

from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q, QuerySet

from labeling.models import Concept, PoolItem, Text, Theory, Value, ValueEdge


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


# --- taxonomy browsing: the taxonomy page, value pages and the taxonomy API ----------------------------------------


@dataclass
class ValueTreeNode:
    """One value in a theory's tree; a value with two parents (Schwartz's hedonism, humility, face) sits under both."""

    value: Value
    children: list["ValueTreeNode"] = field(default_factory=list)


@dataclass
class TheoryTree:
    theory: Theory
    roots: list[ValueTreeNode]
    value_count: int
    target_count: int


def theory_tree_list() -> list[TheoryTree]:
    """Every theory with its values as a nested tree, read in three queries whatever the size of the taxonomy."""
    theories = list(Theory.objects.order_by("order", "key"))
    values = list(Value.objects.order_by("order", "key"))
    nodes = {value.pk: ValueTreeNode(value=value) for value in values}
    has_parent: set[int] = set()
    for parent_id, child_id in ValueEdge.objects.order_by("child__order").values_list("parent_id", "child_id"):
        nodes[parent_id].children.append(nodes[child_id])
        has_parent.add(child_id)
    trees = []
    for theory in theories:
        own = [value for value in values if value.theory_id == theory.pk]
        for value in own:
            value.theory = theory  # spares a query per value wherever a node links to its page
        trees.append(
            TheoryTree(
                theory=theory,
                roots=[nodes[value.pk] for value in own if value.pk not in has_parent],
                value_count=len(own),
                target_count=sum(value.is_target for value in own),
            )
        )
    return trees


# The hierarchy is read through ValueEdge (parent → child) rather than the `Value.parents` many-to-many accessor:
# that accessor takes ValueEdge's first foreign key (`parent`) as its source, so it yields a value's children.
def _edges_to_parents() -> Prefetch:
    """Prefetch `parent_edges` (edges whose child is the value) with each parent and its theory, in display order."""
    edges = ValueEdge.objects.select_related("parent__theory").order_by("parent__level", "parent__order")
    return Prefetch("parent_edges", queryset=edges)


def _edges_to_children() -> Prefetch:
    edges = ValueEdge.objects.select_related("child__theory").order_by("child__order")
    return Prefetch("child_edges", queryset=edges)


def value_search(*, theory_key: str | None = None, target: bool | None = None, query: str = "") -> QuerySet[Value]:
    """Values filtered by theory, target flag and a free-text query over key, name and definition.

    Each value's `parent_edges` are prefetched: `[edge.parent for edge in value.parent_edges.all()]`.
    """
    values = Value.objects.select_related("theory").prefetch_related(_edges_to_parents())
    if theory_key:
        values = values.filter(theory__key=theory_key)
    if target is not None:
        values = values.filter(is_target=target)
    if query:
        values = values.filter(
            Q(name__icontains=query) | Q(definition__icontains=query) | Q(key__icontains=query.replace(" ", "-"))
        )
    return values.order_by("theory__order", "level", "order", "key")


def _values_in_display_order() -> QuerySet[Value]:
    return Value.objects.select_related("theory").order_by("theory__order", "level", "order", "key")


def value_detail(*, theory_key: str, value_key: str) -> Value | None:
    """One value with `parent_values`, `child_values` (lists), its concepts (with their values) and `pool_size`;
    None when the theory has no such value."""
    value = (
        Value.objects.filter(theory__key=theory_key, key=value_key)
        .select_related("theory")
        .annotate(pool_size=Count("pool_items"))
        .prefetch_related(
            _edges_to_parents(),
            _edges_to_children(),
            Prefetch(
                "concepts",
                queryset=Concept.objects.order_by("name").prefetch_related(
                    Prefetch("values", queryset=_values_in_display_order())
                ),
            ),
        )
        .first()
    )
    if value is not None:
        value.parent_values = [edge.parent for edge in value.parent_edges.all()]
        value.child_values = [edge.child for edge in value.child_edges.all()]
    return value


def concept_list() -> QuerySet[Concept]:
    """Cross-theory concepts with their linked values (theory order, then level)."""
    return Concept.objects.order_by("name").prefetch_related(Prefetch("values", queryset=_values_in_display_order()))


@dataclass
class ConceptMapRow:
    concept: Concept
    # One cell per theory, in theory order: the concept's values in that theory (possibly none).
    cells: list[list[Value]]


def concept_map(*, theories: list[Theory]) -> list[ConceptMapRow]:
    """The concept map as table rows: a concept and, under each theory, the values it links there."""
    rows = []
    for concept in concept_list():
        linked = list(concept.values.all())
        rows.append(
            ConceptMapRow(
                concept=concept,
                cells=[[value for value in linked if value.theory_id == theory.pk] for theory in theories],
            )
        )
    return rows
