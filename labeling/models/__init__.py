"""Labeling data: the value taxonomy, texts and per-value pools, campaigns, leases and judgments."""

from labeling.models.campaigns import Campaign, CampaignInstructions, CampaignItem, CampaignMember
from labeling.models.judgments import Assignment, Judgment, JudgmentRetraction
from labeling.models.quality import (
    Adjudication,
    AttentionCheck,
    Cohort,
    CrowdSession,
    GoldComparison,
    QualificationAttempt,
    QualificationQuestion,
)
from labeling.models.taxonomy import Concept, Theory, Value, ValueEdge
from labeling.models.texts import ImportRecord, PoolItem, Text

__all__ = [
    "Adjudication",
    "AttentionCheck",
    "Cohort",
    "CrowdSession",
    "GoldComparison",
    "QualificationAttempt",
    "QualificationQuestion",
    "Assignment",
    "Campaign",
    "CampaignInstructions",
    "CampaignItem",
    "CampaignMember",
    "Concept",
    "ImportRecord",
    "Judgment",
    "JudgmentRetraction",
    "PoolItem",
    "Text",
    "Theory",
    "Value",
    "ValueEdge",
]
