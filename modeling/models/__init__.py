"""Modeling data: Plackett–Luce fits of each value and their item scores, and immutable VIDB snapshots."""

from modeling.models.fits import Fit, ItemScore, PublishedFit
from modeling.models.snapshots import Snapshot, SnapshotValue

__all__ = ["Fit", "ItemScore", "PublishedFit", "Snapshot", "SnapshotValue"]
