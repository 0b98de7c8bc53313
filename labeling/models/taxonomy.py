"""The four value theories as a DAG of values, plus cross-theory concepts that group equivalent values."""

from django.db import models


class Theory(models.Model):
    key = models.SlugField(max_length=32, unique=True)  # svt, mft, duties, rights
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "key"]
        verbose_name_plural = "theories"

    def __str__(self) -> str:
        return self.name


class Value(models.Model):
    """A node of a theory's hierarchy. Keys are unique per theory only: `justice` is both a duty and an MFT value."""

    theory = models.ForeignKey(Theory, on_delete=models.CASCADE, related_name="values")
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=120)
    definition = models.TextField()
    # Depth below the theory root: 1 for the top level of the hierarchy.
    level = models.PositiveSmallIntegerField()
    is_target = models.BooleanField(default=False, db_index=True)  # one of the 32 steered, VIDB-scored values
    order = models.PositiveSmallIntegerField(default=0)
    parents = models.ManyToManyField(
        "self",
        through="ValueEdge",
        through_fields=("child", "parent"),
        symmetrical=False,
        related_name="children",
        blank=True,
    )

    class Meta:
        ordering = ["theory__order", "level", "order", "key"]
        constraints = [models.UniqueConstraint(fields=["theory", "key"], name="value_unique_key_per_theory")]

    def __str__(self) -> str:
        return f"{self.name} ({self.theory.key})"

    @property
    def qualified_key(self) -> str:
        return f"{self.theory.key}:{self.key}"


class ValueEdge(models.Model):
    """parent → child edge of the value DAG (some Schwartz values have two parents)."""

    parent = models.ForeignKey(Value, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(Value, on_delete=models.CASCADE, related_name="parent_edges")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["parent", "child"], name="value_edge_unique")]

    def __str__(self) -> str:
        return f"{self.parent_id} → {self.child_id}"


class Concept(models.Model):
    """A cross-theory concept: values from two or more theories that express the same idea."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    definition = models.TextField()
    values = models.ManyToManyField(Value, related_name="concepts")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name
