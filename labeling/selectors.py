"""Reads of the taxonomy, texts and campaigns: the public read API other apps may use."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Case, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum, When
from django.db.models.functions import Least
from django.utils import timezone

from labeling.models import (
    Adjudication,
    Assignment,
    AttentionCheck,
    Campaign,
    CampaignInstructions,
    CampaignItem,
    CampaignMember,
    Cohort,
    Concept,
    CrowdSession,
    GoldComparison,
    ImportRecord,
    Judgment,
    PoolItem,
    QualificationQuestion,
    Text,
    Theory,
    Value,
    ValueEdge,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class PoolSize(TypedDict):
    pool_size: int


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


def pooled_value_list() -> "QuerySet[WithAnnotations[Value, PoolSize]]":
    """Values that have at least one text in their pool, with the pool size: the text browser's value filter."""
    return (
        Value.objects.annotate(pool_size=Count("pool_items"))
        .filter(pool_size__gt=0)
        .select_related("theory")
        .order_by("theory__order", "level", "order", "key")
    )


def import_record_list() -> QuerySet[ImportRecord]:
    """Imported files, newest first, with who imported them."""
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
    if value is not None:  # the page's lists of related values, attached for the template
        value.parent_values = [edge.parent for edge in value.parent_edges.all()]  # type: ignore[attr-defined]
        value.child_values = [edge.child for edge in value.child_edges.all()]  # type: ignore[attr-defined]
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


# --- campaigns: researchers' progress pages, annotators' own work ---------------------------------------------------


@dataclass(frozen=True)
class CampaignProgress:
    """How far a campaign is, counted the way its stopping rule counts: per item, up to judgments_per_item each.

    An item retired early (its interval reached the CI-width target) counts as complete. The projection divides
    the remaining item-judgments by the rate of the last hour; None when nobody judged anything in that hour.
    """

    items: int
    target: int  # items × judgments_per_item
    done: int  # item-judgments counted towards the target
    judgments: int  # judgments stored (undone ones left out)
    judgments_last_hour: int
    projected_completion: datetime | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.target) if self.target else 0.0

    @property
    def percent(self) -> int:
        return int(self.fraction * 100)

    @property
    def is_complete(self) -> bool:
        return self.target > 0 and self.done >= self.target


def campaign_progress_list(*, campaigns: list[Campaign], now: datetime | None = None) -> dict[int, CampaignProgress]:
    """Progress of several campaigns in three grouped queries (items, judgments, judgments of the last hour)."""
    now = now or timezone.now()
    ids = [campaign.pk for campaign in campaigns]
    per_campaign: dict[int, Campaign] = {campaign.pk: campaign for campaign in campaigns}
    item_rows = {
        row["campaign_id"]: row
        for row in CampaignItem.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(
            items=Count("id"),
            # active items count their judgments up to the target; retired items count as complete
            done=Sum(
                Case(
                    When(is_active=False, then=F("campaign__judgments_per_item")),
                    default=Least(F("judgments_count"), F("campaign__judgments_per_item")),
                )
            ),
        )
    }
    judgments = Judgment.objects.filter(campaign_id__in=ids, retraction__isnull=True)
    totals = dict(judgments.values("campaign_id").annotate(n=Count("id")).values_list("campaign_id", "n"))
    recent = dict(
        judgments.filter(created_at__gte=now - timedelta(hours=1))
        .values("campaign_id")
        .annotate(n=Count("id"))
        .values_list("campaign_id", "n")
    )
    progress = {}
    for campaign_id, campaign in per_campaign.items():
        row = item_rows.get(campaign_id, {"items": 0, "done": 0})
        target = row["items"] * campaign.judgments_per_item
        done = min(row["done"] or 0, target)
        last_hour = recent.get(campaign_id, 0)
        projected = None
        # each judgment advances list_size items by one; an hour's rate projects the rest
        if last_hour and done < target and campaign.status == Campaign.Status.RUNNING:
            hours_left = (target - done) / (last_hour * campaign.list_size)
            projected = now + timedelta(hours=hours_left)
        progress[campaign_id] = CampaignProgress(
            items=row["items"],
            target=target,
            done=done,
            judgments=totals.get(campaign_id, 0),
            judgments_last_hour=last_hour,
            projected_completion=projected,
        )
    return progress


def campaign_list() -> QuerySet[Campaign]:
    """Every campaign, newest first, with its values (and their theories) loaded."""
    return Campaign.objects.prefetch_related(
        Prefetch("values", queryset=Value.objects.select_related("theory").order_by("theory__order", "order", "key"))
    ).order_by("-created_at", "-id")


def campaign_list_visible_to(*, user) -> QuerySet[Campaign]:  # type: ignore[no-untyped-def]
    """Researchers see every campaign; annotators only those running now (and open to them: see cohorts)."""
    campaigns = campaign_list()
    if not user.is_researcher:
        campaigns = campaigns.filter(_open_to(user), status=Campaign.Status.RUNNING)
    return campaigns


def campaign_get_visible_to(*, campaign_id: int, user) -> Campaign | None:  # type: ignore[no-untyped-def]
    """One campaign the user may see (researchers: any; annotators: running ones), or None. One query."""
    campaigns = Campaign.objects.filter(pk=campaign_id)
    if not user.is_researcher:
        campaigns = campaigns.filter(_open_to(user), status=Campaign.Status.RUNNING)
    return campaigns.first()


def _open_to(user) -> Q:  # type: ignore[no-untyped-def]
    """Campaigns an annotator may work on: those assigned to no cohort, and those of a cohort they belong to."""
    links = Cohort.campaigns.through.objects.filter(campaign_id=OuterRef("pk"))
    return Q(~Exists(links)) | Q(Exists(links.filter(cohort__members=user)))


def campaign_instructions_history(*, campaign: Campaign) -> QuerySet[CampaignInstructions]:
    """Every version of the campaign's instructions, newest first, with who wrote it."""
    return campaign.instruction_versions.select_related("created_by").order_by("-version")


def campaign_instructions_current(*, campaign: Campaign) -> CampaignInstructions | None:
    return campaign.instruction_versions.order_by("-version").first()


def campaign_member_list(*, campaign: Campaign) -> QuerySet[CampaignMember]:
    """The campaign's annotators with their judgment counts and state, most productive first."""
    return campaign.members.select_related("annotator").order_by("-judgments_count", "annotator__username")


def campaign_recent_assignments(*, campaign: Campaign, limit: int = 20) -> QuerySet[Assignment]:
    """The latest comparisons handed out, with why the sampler chose them (researchers' view of the sampler)."""
    return campaign.assignments.select_related("annotator", "value").order_by("-issued_at", "-id")[:limit]


def annotator_campaign_list(*, annotator) -> QuerySet[Campaign]:  # type: ignore[no-untyped-def]
    """Running campaigns open to the annotator, each with `my_judgments`: how many judgments they gave there (undone
    left out)."""
    campaigns = campaign_list().filter(status=Campaign.Status.RUNNING)
    if not annotator.is_researcher:
        campaigns = campaigns.filter(_open_to(annotator))
    return campaigns.annotate(
        my_judgments=Count(
            "judgments",
            filter=Q(judgments__annotator=annotator, judgments__retraction__isnull=True),
        )
    )


def assignment_items_in_shown_order(*, assignment: Assignment) -> list[PoolItem]:
    """The pool items of a comparison (with their texts, and their value and its theory), in the order shown."""
    items = PoolItem.objects.select_related("text", "value__theory").filter(pk__in=assignment.item_ids)
    by_id = {item.pk: item for item in items}
    return [by_id[item_id] for item_id in assignment.item_ids]


def judgment_latest_undoable(*, campaign: Campaign, annotator, window_s: int, now: datetime | None = None):  # type: ignore[no-untyped-def]
    """The annotator's most recent judgment in the campaign if it is still inside the undo window, else None."""
    now = now or timezone.now()
    latest = (
        Judgment.objects.filter(campaign=campaign, annotator=annotator, retraction__isnull=True)
        .order_by("-id")
        .first()
    )
    if latest is None or latest.created_at < now - timedelta(seconds=window_s):
        return None
    return latest


def campaign_progress_for_annotator(*, campaign: Campaign, annotator) -> dict[str, int | None]:  # type: ignore[no-untyped-def]
    """How far the annotator is: judgments given, their cap, and the campaign's remaining active items."""
    done = Judgment.objects.filter(campaign=campaign, annotator=annotator, retraction__isnull=True).count()
    return {
        "done": done,
        "cap": campaign.per_annotator_cap,
        "remaining_items": CampaignItem.objects.filter(campaign=campaign, is_active=True).count(),
    }


def assignment_of_annotator(*, assignment_id: int, annotator, campaign: Campaign | None = None) -> Assignment | None:  # type: ignore[no-untyped-def]
    """The annotator's own assignment (optionally only in `campaign`); None for anyone else's or an unknown id."""
    assignments = Assignment.objects.filter(pk=assignment_id, annotator=annotator)
    if campaign is not None:
        assignments = assignments.filter(campaign=campaign)
    return assignments.first()


def judgment_of_annotator(*, judgment_id: int, annotator, campaign: Campaign) -> Judgment | None:  # type: ignore[no-untyped-def]
    """The annotator's own judgment in `campaign`; None for anyone else's or an unknown id."""
    return Judgment.objects.filter(pk=judgment_id, annotator=annotator, campaign=campaign).first()


# --- quality control, crowd sessions and cohorts ----------------------------------------------------------------


def campaign_quality_members(*, campaign: Campaign) -> list[CampaignMember]:
    """The campaign's annotators with their quality figures: paused, removed and flagged ones first (the review
    list), then the rest by judgments. Each row has `flags` (the rules their figures break, with evidence)."""
    members = list(campaign.members.select_related("annotator", "state_changed_by"))
    for member in members:
        member.flags = (member.qc or {}).get("flags", [])  # type: ignore[attr-defined]
    state_order: dict[str, int] = {
        CampaignMember.State.PAUSED: 0, CampaignMember.State.REMOVED: 1, CampaignMember.State.ACTIVE: 2
    }
    members.sort(key=lambda m: (state_order[m.state], not m.flags, -m.judgments_count, m.annotator.username))  # type: ignore[attr-defined]
    return members


def campaign_member_get(*, campaign: Campaign, member_id: int) -> CampaignMember | None:
    return campaign.members.select_related("annotator").filter(pk=member_id).first()


def gold_comparison_list(*, campaign: Campaign) -> QuerySet[GoldComparison]:
    return campaign.gold_comparisons.select_related("stronger__text", "weaker__text", "value").order_by("-id")


def attention_check_list(*, campaign: Campaign) -> QuerySet[AttentionCheck]:
    return campaign.attention_checks.order_by("-is_active", "id")


def qualification_question_list(*, campaign: Campaign) -> QuerySet[QualificationQuestion]:
    return campaign.qualification_questions.order_by("order", "id")


def adjudication_list(*, campaign: Campaign, status: str = Adjudication.Status.OPEN) -> QuerySet[Adjudication]:
    """A campaign's adjudications of one status, oldest first (the queue order), with both texts loaded."""
    return (
        campaign.adjudications.filter(status=status)
        .select_related("item_a__text", "item_b__text", "value__theory", "decided_by")
        .order_by("created_at", "id")
    )


def adjudication_counts(*, campaign: Campaign) -> dict[str, int]:
    counts = dict(campaign.adjudications.values("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in Adjudication.Status.values}


def crowd_session_active(*, campaign: Campaign, annotator) -> CrowdSession | None:  # type: ignore[no-untyped-def]
    """The annotator's active crowd session in the campaign (None for logged-in annotators)."""
    return (
        CrowdSession.objects.filter(campaign=campaign, annotator=annotator, status=CrowdSession.Status.ACTIVE)
        .select_related("campaign")
        .order_by("-started_at")
        .first()
    )


def crowd_session_latest(*, campaign: Campaign, annotator) -> CrowdSession | None:  # type: ignore[no-untyped-def]
    return (
        CrowdSession.objects.filter(campaign=campaign, annotator=annotator)
        .select_related("campaign", "annotator")
        .order_by("-started_at")
        .first()
    )


def crowd_session_counts(*, campaign: Campaign) -> dict[str, int]:
    counts = dict(campaign.crowd_sessions.values("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in CrowdSession.Status.values}


def cohort_list() -> QuerySet[Cohort]:
    return Cohort.objects.annotate(
        member_count=Count("members", distinct=True), campaign_count=Count("campaigns", distinct=True)
    ).order_by("name")


def cohort_get(*, cohort_id: int) -> Cohort | None:
    return Cohort.objects.prefetch_related("members", "campaigns").filter(pk=cohort_id).first()


def campaign_is_open_to(*, campaign: Campaign, user) -> bool:  # type: ignore[no-untyped-def]
    """Whether cohorts let the user work on the campaign (researchers may always look)."""
    return user.is_researcher or Campaign.objects.filter(_open_to(user), pk=campaign.pk).exists()
