"""The embedded demo: taxonomy, the demo corpus written by the ValueFlow team, one user per role and a running
demo campaign. Idempotent: the run command calls it on every start."""

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.services import user_ensure
from labeling.models import Campaign, Value
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status
from labeling.services.imports import texts_import
from labeling.services.taxonomy import taxonomy_load

DEMO_CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "demo_corpus"
DEMO_USERS = (("annotator", User.Role.ANNOTATOR), ("researcher", User.Role.RESEARCHER), ("admin", User.Role.ADMIN))
DEMO_CAMPAIGNS = (
    ("Demo: Benevolence (pairwise)", "svt", "benevolence", Campaign.Protocol.PAIRWISE, 2),
    ("Demo: Care/harm (ranking 4 texts)", "mft", "care-harm", Campaign.Protocol.LISTWISE, 4),
)


@dataclass
class DemoSummary:
    taxonomy: dict[str, int] = field(default_factory=dict)
    texts_created: int = 0
    pool_items: int = 0
    users: list[tuple[str, str, bool]] = field(default_factory=list)  # (username, role, created)
    campaigns_created: int = 0


def demo_setup(*, password: str | None = None) -> DemoSummary:
    summary = DemoSummary()
    summary.taxonomy = taxonomy_load()
    imported = texts_import(format="jsonl", paths=sorted(DEMO_CORPUS_DIR.glob("*.jsonl")))
    summary.texts_created = imported.texts_created
    summary.pool_items = imported.pool_items_created + imported.pool_items_existing
    password = password or settings.VALUEFLOW_DEMO_PASSWORD
    owner = None
    for username, role in DEMO_USERS:
        user, created = user_ensure(username=username, password=password, role=role)
        summary.users.append((username, role, created))
        if role == User.Role.RESEARCHER:
            owner = user
    with transaction.atomic():
        for name, theory_key, value_key, protocol, size in DEMO_CAMPAIGNS:
            if Campaign.objects.filter(name=name).exists():
                continue
            value = Value.objects.get(theory__key=theory_key, key=value_key)
            campaign = campaign_create(
                settings=CampaignSettings(name=name, protocol=protocol, list_size=size, judgments_per_item=8),
                values=[value],
                created_by=owner,
            )
            campaign_set_status(campaign=campaign, status=Campaign.Status.RUNNING)
            summary.campaigns_created += 1
    return summary
