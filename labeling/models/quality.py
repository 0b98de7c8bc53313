"""Quality control for preference data, crowd integration and cohorts.

Gold comparisons with a known order, attention checks, qualification quizzes, researchers' adjudications of
contested pairs, crowd-platform sessions (Prolific / MTurk) and named annotator cohorts.
"""

from django.conf import settings
from django.db import models

from labeling.models.campaigns import Campaign
from labeling.models.taxonomy import Value
from labeling.models.texts import PoolItem


class GoldComparison(models.Model):
    """A comparison whose answer is known: `stronger` expresses the value more than `weaker`. Served silently
    among normal work; answers measure an annotator's accuracy."""

    class Source(models.TextChoices):
        CURATED = "curated", "Curated by a researcher"
        PROMOTED = "promoted", "Promoted from a near-certain fitted order"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="gold_comparisons")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")
    stronger = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="+")
    weaker = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.CURATED)
    # Intensity gap and posterior probability of the order when promoted from a fit.
    intensity_gap = models.FloatField(null=True, blank=True)
    order_probability = models.FloatField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "stronger", "weaker"], name="gold_unique_pair_per_campaign")
        ]

    def __str__(self) -> str:
        return f"Gold {self.stronger_id} > {self.weaker_id} in campaign {self.campaign_id}"


class AttentionCheck(models.Model):
    """An instructed-response item ("choose the text on the right") shown every so often; Prolific's rule: at
    least two failures before a participant is rejected in studies of five minutes or more."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attention_checks")
    prompt = models.TextField()
    # Which position (0-based, in the order shown) the instruction asks for.
    expected_position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Attention check #{self.pk} of campaign {self.campaign_id}"


class QualificationQuestion(models.Model):
    """A multiple-choice question on the value's definition, asked before real work."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="qualification_questions")
    prompt = models.TextField()
    choices = models.JSONField()  # list of strings
    correct_choice = models.PositiveSmallIntegerField()
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["campaign", "order", "id"]

    def __str__(self) -> str:
        return f"Qualification question #{self.pk} of campaign {self.campaign_id}"


class QualificationAttempt(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="qualification_attempts")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    answers = models.JSONField(default=list)
    score = models.FloatField()
    passed = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Qualification attempt by {self.annotator_id} in campaign {self.campaign_id}: {self.score}"


class Adjudication(models.Model):
    """A researcher's decision on a contested pair; it enters the fit as a high-weight judgment."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for a researcher"
        DECIDED = "decided", "Decided"
        DISMISSED = "dismissed", "Dismissed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="adjudications")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")
    item_a = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="+")
    item_b = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    # Share of judgments preferring item_a, and how many judgments the pair has, when it was queued.
    disagreement = models.JSONField(default=dict, blank=True)
    # Decision: groups of PoolItem ids strongest → weakest (a tie is one group).
    decision = models.JSONField(null=True, blank=True)
    weight = models.FloatField(default=5.0)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "item_a", "item_b"], name="adjudication_unique_pair")
        ]

    def __str__(self) -> str:
        return f"Adjudication #{self.pk} ({self.status}) in campaign {self.campaign_id}"


class Cohort(models.Model):
    """A named group of annotators; a campaign assigned to cohorts is open only to their members."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="cohorts", blank=True)
    campaigns = models.ManyToManyField(Campaign, related_name="cohorts", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class CrowdSession(models.Model):
    """A participant arriving from a crowd platform by URL (PROLIFIC_PID, STUDY_ID, SESSION_ID)."""

    class Platform(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon Mechanical Turk"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        RETURNED = "returned", "Returned"
        TIMED_OUT = "timed_out", "Timed out"
        REJECTED = "rejected", "Rejected"

    platform = models.CharField(max_length=16, choices=Platform.choices)
    participant_id = models.CharField(max_length=128)
    study_id = models.CharField(max_length=128, blank=True)
    session_id = models.CharField(max_length=128, blank=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="crowd_sessions")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_sessions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    qualification_passed = models.BooleanField(null=True, blank=True)
    attention_failures = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "participant_id", "campaign", "session_id"], name="crowd_session_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} session #{self.pk} ({self.status})"
