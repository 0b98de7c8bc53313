"""Texts (deduplicated by content hash), their membership in per-value pools, and import provenance."""

from django.conf import settings
from django.db import models

from labeling.models.taxonomy import Value


class Text(models.Model):
    content = models.TextField()
    # sha256 of the normalised content; the platform stores each distinct text once.
    content_hash = models.CharField(max_length=64, unique=True)
    language = models.CharField(max_length=16, default="en")
    source = models.CharField(max_length=200, blank=True)
    licence = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.content[:60]


class PoolItem(models.Model):
    """A text in one value's pool, with what the import said about it and the currently published score."""

    class Direction(models.IntegerChoices):
        OPPOSES = -1, "Opposes"
        NEUTRAL = 0, "Neutral"
        SUPPORTS = 1, "Supports"

    # indexed by the unique constraint and Meta.indexes, value first
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="pool_items", db_index=False)
    text = models.ForeignKey(Text, on_delete=models.CASCADE, related_name="pool_items")
    direction = models.SmallIntegerField(choices=Direction.choices, null=True, blank=True)
    # An intensity in [-10, 10] that came with the import (e.g. a public VIDB final_rating); a prior, not a fit.
    prior_intensity = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=200, blank=True)
    # A probe is a text being measured (e.g. a steered LLM response), not part of the value's database:
    # snapshots, anchors and HiVES training leave probes out.
    is_probe = models.BooleanField(default=False)
    # The published score, written back by the modeling side when a fit is published.
    intensity = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    utility = models.FloatField(null=True, blank=True)
    utility_se = models.FloatField(null=True, blank=True)
    published_fit_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["value", "text"], name="pool_item_unique_value_text")]
        indexes = [
            models.Index(fields=["value", "intensity"]),
            # "does this value have a published fit yet?", asked by every adaptive `next`: one index probe instead
            # of a scan of the value's whole pool before its first fit
            models.Index(fields=["value"], condition=models.Q(utility__isnull=False), name="pool_item_scored"),
        ]

    def __str__(self) -> str:
        return f"{self.value.key}: {self.text}"


class ImportRecord(models.Model):
    """One file imported into the platform; a second import of the same bytes is recognised and changes nothing."""

    file_hash = models.CharField(max_length=64, db_index=True)
    file_name = models.CharField(max_length=300)
    format = models.CharField(max_length=16)
    texts_created = models.PositiveIntegerField(default=0)
    pool_items_created = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import of {self.file_name} ({self.format})"
