"""Modeling data: fits and item scores, annotator estimates, VIDB snapshots, HiVES versions, steering evaluations."""

from modeling.models.fits import AnnotatorEstimate, Fit, ItemScore, PublishedFit
from modeling.models.hives import EmbeddingModel
from modeling.models.snapshots import Snapshot, SnapshotValue
from modeling.models.steering import (
    JudgeWindow,
    ModelBackend,
    Query,
    QuerySet,
    ResponseScore,
    SteeredResponse,
    SteeringEvaluation,
)

__all__ = [
    "AnnotatorEstimate",
    "EmbeddingModel",
    "Fit",
    "ItemScore",
    "JudgeWindow",
    "ModelBackend",
    "PublishedFit",
    "Query",
    "QuerySet",
    "ResponseScore",
    "Snapshot",
    "SnapshotValue",
    "SteeredResponse",
    "SteeringEvaluation",
]
