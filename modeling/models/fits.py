"""One refit of one value (a Fit with its ItemScores), and the per-value pointer to the published fit."""

from django.db import models

from labeling.models import PoolItem, Value


class Fit(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    value = models.ForeignKey(Value, on_delete=models.PROTECT, related_name="fits")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    backend = models.CharField(max_length=16, blank=True)  # choix | newman | lbfgs
    config = models.JSONField(default=dict, blank=True)  # prior strength, tolerances, tie handling, scale method
    # The fit includes every non-retracted judgment of this value with id <= watermark.
    watermark = models.BigIntegerField(default=0)
    warm_started_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    n_items = models.PositiveIntegerField(default=0)
    n_judgments = models.PositiveIntegerField(default=0)
    log_likelihood = models.FloatField(null=True, blank=True)
    iterations = models.PositiveIntegerField(default=0)
    converged = models.BooleanField(default=False)
    seconds = models.FloatField(null=True, blank=True)
    scale = models.JSONField(default=dict, blank=True)  # parameters of the utility → [-10, 10] map
    # Agreement figures computed with the fit: split-half reliability, fragility, LLM–human agreement, …
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    job = models.ForeignKey("common.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["value", "status", "-id"])]

    def __str__(self) -> str:
        return f"Fit #{self.pk} of {self.value_id} ({self.status})"


class ItemScore(models.Model):
    fit = models.ForeignKey(Fit, on_delete=models.CASCADE, related_name="scores")
    pool_item = models.ForeignKey(PoolItem, on_delete=models.CASCADE, related_name="scores")
    utility = models.FloatField()
    se = models.FloatField()
    intensity = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    n_judgments = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fit", "pool_item"], name="item_score_unique_per_fit")]

    def __str__(self) -> str:
        return f"Score of pool item {self.pool_item_id} in fit {self.fit_id}: {self.intensity}"


class PublishedFit(models.Model):
    """Which fit of a value is the published one. Swapped in one transaction together with the pool items'
    published scores, so readers never see a half-published fit."""

    value = models.OneToOneField(Value, on_delete=models.CASCADE, related_name="published_fit")
    fit = models.ForeignKey(Fit, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Published fit {self.fit_id} of value {self.value_id}"


class AnnotatorEstimate(models.Model):
    """An annotator's reliability (a temperature on their judgments: 1 = as the consensus, 0 = random) and
    left/first-position bias, estimated jointly with the intensities of one fit, with standard errors."""

    fit = models.ForeignKey(Fit, on_delete=models.CASCADE, related_name="annotator_estimates")
    annotator = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    reliability = models.FloatField()
    reliability_se = models.FloatField()
    side_bias = models.FloatField(default=0.0)
    side_bias_se = models.FloatField(default=0.0)
    n_judgments = models.PositiveIntegerField(default=0)
    # Kendall tau of the annotator's pairwise preferences with the consensus order.
    consensus_tau = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fit", "annotator"], name="annotator_estimate_unique_per_fit")
        ]

    def __str__(self) -> str:
        return f"Annotator {self.annotator_id} in fit {self.fit_id}: reliability {self.reliability}"
