"""Immutable, content-hashed VIDB snapshots of published fits."""

from django.conf import settings
from django.db import models

from labeling.models import Value
from modeling.models.fits import Fit


class Snapshot(models.Model):
    """A frozen export of the published fits of chosen values. Never modified after creation: its content hash
    covers every score, and a new snapshot links to its parent instead of editing it."""

    name = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    manifest = models.JSONField(default=dict)
    # Folder (under MEDIA_ROOT) holding the exported files, written before the row is committed.
    files_dir = models.CharField(max_length=300, blank=True)
    n_values = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_judgments = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_hash[:12]})"


class SnapshotValue(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="snapshot_values")
    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="+")
    fit = models.ForeignKey(Fit, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "value"], name="snapshot_value_unique")]

    def __str__(self) -> str:
        return f"Value {self.value_id} in snapshot {self.snapshot_id} (fit {self.fit_id})"
