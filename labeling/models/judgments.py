"""Leases on comparisons (assignments) and the append-only judgments annotators submit for them."""

from django.conf import settings
from django.db import models

from labeling.models.campaigns import Campaign
from labeling.models.taxonomy import Value


class Assignment(models.Model):
    """A comparison handed to one annotator under a lease. `item_ids` are PoolItem ids in the order SHOWN."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Expired"
        RELEASED = "released", "Released"

    # Indexed through Meta.indexes (campaign first): a lone campaign index here would tempt the planner, on a table
    # without statistics yet, to filter a whole campaign's leases where the composite finds one annotator's.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    item_ids = models.JSONField()
    # The set of items, independent of order ("12-57-90"): an annotator sees a set once unless it is a repeat.
    comparison_key = models.CharField(max_length=200)
    is_repeat = models.BooleanField(default=False)
    repeat_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Why the sampler chose this comparison (shown to researchers, logged).
    reason = models.CharField(max_length=200, blank=True)
    instructions_version = models.PositiveIntegerField(default=1)
    # Quality-control items served silently among normal work.
    gold = models.ForeignKey(
        "labeling.GoldComparison", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    attention_check = models.ForeignKey(
        "labeling.AttentionCheck", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "annotator", "comparison_key"],
                condition=models.Q(is_repeat=False, status__in=["open", "submitted"]),
                name="assignment_no_repeat_unless_deliberate",
            )
        ]
        # Every lease is written twice (issued, then answered), so each index here is paid on the hot path: the
        # rarely set foreign keys are indexed only where set, and expiry only while a lease is open (the reclaimer's
        # question); status alone is not indexed (every status query also names an annotator or asks for expiry).
        indexes = [
            models.Index(fields=["campaign", "annotator", "status"], name="assignment_campaign_annotator"),
            models.Index(fields=["expires_at"], condition=models.Q(status="open"), name="assignment_open_expiry"),
            models.Index(fields=["gold"], condition=models.Q(gold__isnull=False), name="assignment_gold"),
            models.Index(
                fields=["attention_check"], condition=models.Q(attention_check__isnull=False), name="assignment_check"
            ),
            models.Index(fields=["repeat_of"], condition=models.Q(repeat_of__isnull=False), name="assignment_repeat"),
        ]

    def __str__(self) -> str:
        return f"Assignment #{self.pk} ({self.status}) of campaign {self.campaign_id} for annotator {self.annotator_id}"


class Judgment(models.Model):
    """What an annotator answered for one assignment. Never updated; an undo adds a JudgmentRetraction.

    `ordering` is a list of groups of PoolItem ids from strongest to weakest expression of the value; a group with
    several ids is a tie. For best–worst, `ordering` is [[best], [the others], [worst]] with `kind="best_worst"`
    (the middle group is unordered, not tied).
    """

    class Kind(models.TextChoices):
        RANKING = "ranking", "Ranking"  # pairwise win, full or partial list, with or without ties
        NEITHER = "neither", "Neither text expresses the value"
        BEST_WORST = "best_worst", "Best–worst"

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="judgment")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="judgments")
    # value and annotator are indexed by the composites in Meta.indexes, whose first column they are.
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="judgments", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgments", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RANKING)
    ordering = models.JSONField()
    shown_order = models.JSONField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    client_info = models.JSONField(default=dict, blank=True)
    # Weight in the fit: 1 for crowd judgments; researchers' adjudications enter with a higher weight.
    weight = models.FloatField(default=1.0)
    # Gold and attention-check answers measure the annotator and never enter the fit.
    is_quality_check = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["value", "id"]), models.Index(fields=["annotator", "campaign"])]

    def __str__(self) -> str:
        return f"Judgment #{self.pk} on value {self.value_id} by annotator {self.annotator_id}"


class JudgmentRetraction(models.Model):
    """An annotator's undo of their last judgment (within a short window). Fits leave retracted judgments out."""

    judgment = models.OneToOneField(Judgment, on_delete=models.CASCADE, related_name="retraction")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Retraction of judgment {self.judgment_id}"
