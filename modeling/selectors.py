"""Reads of the modeling side (fits, snapshots) and platform-wide statistics."""

from labeling.selectors import platform_counts


def platform_stats() -> dict[str, int]:
    """Counts printed by `manage.py stats`; keys are stable so scripts may parse them."""
    from django.apps import apps

    counts = platform_counts()
    # Models that later parts of the platform add; counted as zero until they exist.
    for key, model_label in (("judgments", "labeling.Judgment"), ("fits", "modeling.Fit"), ("snapshots", "modeling.Snapshot")):
        try:
            model = apps.get_model(model_label)
        except LookupError:
            counts[key] = 0
        else:
            counts[key] = model.objects.count()
    return counts
