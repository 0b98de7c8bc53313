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
    sampling = models.CharField(max_length=16, choices=Sampling.choices, default=Sampling.BALANCED)
    # Stopping targets: an item stops being asked once it has this many judgments and its 95 % interval is at
    # most ci_width_target intensity points wide (either target may be left empty).
    judgments_per_item = models.PositiveIntegerField(default=15)
    ci_width_target = models.FloatField(null=True, blank=True)
    per_annotator_cap = models.PositiveIntegerField(null=True, blank=True)
    lease_ttl_s = models.PositiveIntegerField(default=600)
    # Share of comparisons re-shown (swapped) to the same annotator for test–retest consistency.
    repeat_rate = models.FloatField(default=0.0)
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


class CampaignItem(models.Model):
    """A pool item taking part in a campaign, with the exposure counters the sampler balances on."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    pool_item = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="campaign_items")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")  # = pool_item.value, denormalised
    judgments_count = models.PositiveIntegerField(default=0)
    # Open leases that include this item; keeps concurrent annotators from piling onto the same items.
    in_flight = models.PositiveIntegerField(default=0)
    # False once the item reached the campaign's stopping targets (or was withdrawn by a researcher).
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "pool_item"], name="campaign_item_unique_pool_item")
        ]
        indexes = [models.Index(fields=["campaign", "value", "is_active", "judgments_count"])]


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
    judgments_count = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "annotator"], name="campaign_member_unique_annotator")
        ]
