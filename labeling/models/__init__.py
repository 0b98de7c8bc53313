"""Labeling data: the value taxonomy, texts and per-value pools (campaigns and judgments join them later)."""

from labeling.models.taxonomy import Concept, Theory, Value, ValueEdge
from labeling.models.texts import ImportRecord, PoolItem, Text

__all__ = ["Concept", "ImportRecord", "PoolItem", "Text", "Theory", "Value", "ValueEdge"]
