"""Reads of the modeling side (fits, snapshots) and platform-wide statistics."""

from labeling.models import Judgment
from labeling.selectors import platform_counts
from modeling.models import Fit, Snapshot


def platform_stats() -> dict[str, int]:
    """Counts printed by `manage.py stats`; keys are stable so scripts may parse them."""
    return {
        **platform_counts(),
        "judgments": Judgment.objects.count(),
        "fits": Fit.objects.filter(status=Fit.Status.SUCCEEDED).count(),
        "snapshots": Snapshot.objects.count(),
    }
