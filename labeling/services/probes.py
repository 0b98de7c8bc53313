"""Probe campaigns: outside texts (e.g. steered LLM responses) ranked by annotators among anchor texts of known
intensity, through the normal annotation flow.

A probe text joins the value's pool as a probe item (PoolItem.is_probe, CampaignItem.is_probe): it never enters
snapshots, anchors or HiVES training. The anchors are existing pool items of the value (CampaignItem.is_anchor).
The campaign ranks lists of k texts without ties, balances exposure and retires a text after m judgments; with
(k − 1) anchors per probe a comparison shows about one probe among anchors.

Built here rather than by `campaign_create`, which builds a campaign over a value's whole pool: a probe campaign
holds only its probes and its chosen anchors. The caller (a steering evaluation) owns what the probes stand for;
this module owns the labeling rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from labeling.models import Campaign, CampaignInstructions, CampaignItem, PoolItem, Text, Value
from labeling.services.campaigns import default_instructions
from labeling.services.imports import text_content_hash


@dataclass(frozen=True)
class ProbeText:
    """One outside text to rank for one value. `key` is the caller's id for it (e.g. a steered response id)."""

    key: int
    value_id: int
    content: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeCampaign:
    campaign: Campaign
    probe_item_of: dict[tuple[int, int], int]  # (probe key, value id) → the probe's pool item id
    anchors: dict[int, list[int]]  # value id → the anchor pool items in the campaign (those that are not probes)
    n_items: int


def probe_campaign_create(
    *,
    name: str,
    description: str,
    values: Iterable[Value],
    probes: Sequence[ProbeText],
    anchors: Mapping[int, Sequence[int]],
    list_size: int,
    judgments_per_item: int,
    source: str,
    created_by,  # type: ignore[no-untyped-def]
) -> ProbeCampaign:
    """Create a running listwise campaign over the probe texts and, per value, the anchor pool items given
    (`anchors`: value id → pool item ids). Identical probe contents share one text and one probe item. Must run
    inside the caller's transaction when the caller records the campaign elsewhere (it opens its own otherwise)."""
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name[:200],
            description=description,
            protocol=Campaign.Protocol.LISTWISE,
            list_size=list_size,
            allow_ties=False,
            sampling=Campaign.Sampling.BALANCED,
            judgments_per_item=judgments_per_item,
            random_fraction=0.0,
            created_by=created_by,
            status=Campaign.Status.RUNNING,
            started_at=timezone.now(),
        )
        campaign.values.set(list(values))
        CampaignInstructions.objects.create(
            campaign=campaign, version=1, text=default_instructions(campaign), created_by=created_by
        )
        probe_item_of: dict[tuple[int, int], int] = {}
        probe_ids: dict[int, set[int]] = {}
        for probe in probes:
            text, _ = Text.objects.get_or_create(
                content_hash=text_content_hash(probe.content),
                defaults={"content": probe.content, "source": source, "metadata": probe.metadata},
            )
            pool_item, _ = PoolItem.objects.get_or_create(
                value_id=probe.value_id, text=text, defaults={"is_probe": True, "source": source}
            )
            probe_ids.setdefault(probe.value_id, set()).add(pool_item.pk)
            probe_item_of[(probe.key, probe.value_id)] = pool_item.pk
        items: list[CampaignItem] = []
        anchors_used: dict[int, list[int]] = {}
        for value_id, ids in probe_ids.items():
            # A probe whose text is already one of the anchors is ranked as the probe, not as an anchor.
            anchors_used[value_id] = [a for a in anchors.get(value_id, ()) if a not in ids]
            items += [
                CampaignItem(campaign=campaign, pool_item_id=p, value_id=value_id, is_probe=True) for p in sorted(ids)
            ]
            items += [
                CampaignItem(campaign=campaign, pool_item_id=a, value_id=value_id, is_anchor=True)
                for a in anchors_used[value_id]
            ]
        CampaignItem.objects.bulk_create(items, batch_size=1000)
    return ProbeCampaign(campaign=campaign, probe_item_of=probe_item_of, anchors=anchors_used, n_items=len(items))


def probe_items_of(campaign: Campaign) -> list[tuple[int, str, int]]:
    """The campaign's probe items as (pool item id, text content hash, value id)."""
    return list(
        CampaignItem.objects.filter(campaign=campaign, is_probe=True).values_list(
            "pool_item_id", "pool_item__text__content_hash", "value_id"
        )
    )
