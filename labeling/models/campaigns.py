"""Ranking campaigns: which values and pool items are ranked, by which protocol, and who takes part."""

from django.conf import settings
from django.db import models

from labeling.models.taxonomy import Value
from labeling.models.texts import PoolItem


class Campaign(models.Model):
    class Protocol(models.TextChoices):
        PAIRWISE = "pairwise", "Pairwise (with tie and “neither”)"
        LISTWISE = "listwise", "Listwise ranking (k = 3…8, ties allowed)"
        BEST_WORST = "best_worst", "Best–worst (k = 4…6)"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"

    class Sampling(models.TextChoices):
        RANDOM = "random", "Random"
        BALANCED = "balanced", "Balanced exposure"
        ADAPTIVE = "adaptive", "Adaptive (most informative)"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    values = models.ManyToManyField(Value, related_name="campaigns")
    protocol = models.CharField(max_length=16, choices=Protocol.choices, default=Protocol.PAIRWISE)
    list_size = models.PositiveSmallIntegerField(default=2)
    allow_ties = models.BooleanField(default=True)
    sampling = models.CharField(max_length=16, choices=Sampling.choices, default=Sampling.ADAPTIVE)
    # Stopping targets: an item stops being asked once it has this many judgments and its 95 % interval is at
    # most ci_width_target intensity points wide (either target may be left empty).
    judgments_per_item = models.PositiveIntegerField(default=15)
    ci_width_target = models.FloatField(null=True, blank=True)
    per_annotator_cap = models.PositiveIntegerField(null=True, blank=True)
    lease_ttl_s = models.PositiveIntegerField(default=600)
    # Share of comparisons re-shown (swapped) to the same annotator for test–retest consistency.
    repeat_rate = models.FloatField(default=0.0)
    # Adaptive sampling: share of comparisons drawn at random so the comparison graph stays connected.
    random_fraction = models.FloatField(default=0.2)
    # Quality control. Gold comparisons are served at a rate that tapers from gold_rate_start to gold_rate_end
    # over an annotator's first gold_taper_judgments judgments.
    gold_rate_start = models.FloatField(default=0.0)
    gold_rate_end = models.FloatField(default=0.0)
    gold_taper_judgments = models.PositiveIntegerField(default=100)
    attention_check_every = models.PositiveIntegerField(null=True, blank=True)
    # Answers faster than this many milliseconds per character of the texts shown are flagged as too fast.
    min_ms_per_char = models.FloatField(default=0.0)
    # Auto-pause an annotator whose reliability's upper 95 % bound is below this threshold (None: never).
    reliability_threshold = models.FloatField(null=True, blank=True)
    requires_qualification = models.BooleanField(default=False)
    qualification_pass_score = models.FloatField(default=0.8)
    # Crowd integration: where a finished participant is sent, and the code they report.
    completion_code = models.CharField(max_length=64, blank=True)
    completion_url = models.URLField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="campaigns_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open_for_work(self) -> bool:
        return self.status == self.Status.RUNNING


class CampaignInstructions(models.Model):
    """Instructions are versioned: every edit is a new row, and each judgment records the version it saw."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="instruction_versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "version"], name="campaign_instructions_unique_version")
        ]

    def __str__(self) -> str:
        return f"Instructions v{self.version} of campaign {self.campaign_id}"


class CampaignItem(models.Model):
    """A pool item taking part in a campaign, with the exposure counters the sampler balances on."""

    # indexed by the unique constraint and the sampler's index, both campaign first
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items", db_index=False)
    pool_item = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="campaign_items")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")  # = pool_item.value, denormalised
    judgments_count = models.PositiveIntegerField(default=0)
    # Open leases that include this item; keeps concurrent annotators from piling onto the same items.
    in_flight = models.PositiveIntegerField(default=0)
    # False once the item reached the campaign's stopping targets (or was withdrawn by a researcher).
    is_active = models.BooleanField(default=True)
    # Anchors carry a fixed, human-calibrated intensity; probes (e.g. steered LLM responses) are scored against them.
    is_anchor = models.BooleanField(default=False)
    is_probe = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "pool_item"], name="campaign_item_unique_pool_item")
        ]
        indexes = [models.Index(fields=["campaign", "value", "is_active", "judgments_count"])]

    def __str__(self) -> str:
        return f"Pool item {self.pool_item_id} in campaign {self.campaign_id}"


class CampaignMember(models.Model):
    """One annotator's participation in a campaign. Its row is locked while handing out work to that annotator,
    which serialises their concurrent requests and makes the per-annotator cap exact."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused by quality control"
        REMOVED = "removed", "Removed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    state_reason = models.CharField(max_length=300, blank=True)
    state_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    judgments_count = models.PositiveIntegerField(default=0)
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    attention_answered = models.PositiveIntegerField(default=0)
    attention_failed = models.PositiveIntegerField(default=0)
    too_fast_count = models.PositiveIntegerField(default=0)
    # Latest quality-control figures (transitivity violations, test–retest agreement, outlier test, …).
    qc = models.JSONField(default=dict, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "annotator"], name="campaign_member_unique_annotator")
        ]

    def __str__(self) -> str:
        return f"Annotator {self.annotator_id} in campaign {self.campaign_id} ({self.state})"
