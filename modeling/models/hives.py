"""HiVES versions: each training run of the hierarchical value embedding, its metrics and its stored embeddings."""

from django.conf import settings
from django.db import models


class EmbeddingModel(models.Model):
    """One version of the value embedding (or the untuned base model, kept for comparison)."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        EVALUATED = "evaluated", "Evaluated"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected (did not beat the current version)"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=120)
    base_model = models.CharField(max_length=300)  # a local path or model name; never downloaded at run time
    pooling = models.CharField(max_length=16, default="mean")  # mean | last_token
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING, db_index=True)
    is_base = models.BooleanField(default=False)  # the untuned base model, evaluated for comparison
    is_current = models.BooleanField(default=False, db_index=True)  # the version profiling and neighbours use
    is_pinned = models.BooleanField(default=False)  # a researcher's choice; automatic promotion leaves it alone
    # Highest PoolItem id (and judgment id) whose labels the training data included.
    data_watermark = models.JSONField(default=dict, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)  # held-out metrics of this version
    base_metrics = models.JSONField(default=dict, blank=True)  # the untuned base model on the same split
    loss_curve = models.JSONField(default=list, blank=True)  # [[step, loss], …]
    checkpoint_dir = models.CharField(max_length=500, blank=True)
    # Embeddings of every text under this version: a float32 matrix file and the matching text ids.
    embeddings_path = models.CharField(max_length=500, blank=True)
    n_embedded = models.PositiveIntegerField(default=0)
    job = models.ForeignKey("common.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"], condition=models.Q(is_current=True), name="one_current_hives"
            )
        ]

    def __str__(self) -> str:
        return self.name
