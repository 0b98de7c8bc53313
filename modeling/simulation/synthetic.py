"""A synthetic campaign for the benchmarks: a pool of generated texts with known true intensities (uniform on
[−10, 10]) in one value's pool, imported through the real import service, a running campaign over it, and bot
accounts. The true intensities are NOT imported as prior intensities: the fit must find them from the judgments."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.db import connection

from labeling.models import Campaign, CampaignItem, PoolItem, Value
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status
from labeling.services.imports import texts_import
from labeling.services.taxonomy import taxonomy_load
from modeling.simulation.annotators import truth_key
from modeling.simulation.runs import DEFAULT_BOT_PASSWORD, simulation_accounts

SOURCE = "valueflow-benchmark"
THEORY, VALUE = "svt", "benevolence"
DEFAULT_LIST_SIZE = {"pairwise": 2, "listwise": 4, "best_worst": 4}

# Sentence parts for texts of realistic length (~150 characters); their wording carries no intensity.
_OPENINGS = (
    "After the meeting my neighbour",
    "Yesterday a colleague of mine",
    "On the bus this morning a stranger",
    "At the weekend my cousin",
    "During the storm the landlord",
    "At the school fair a parent",
)
_MIDDLES = (
    "talked about the people on our street",
    "explained what they planned to do next",
    "described how the family had decided",
    "told me about a promise made last year",
    "wrote a long message to the group",
)
_ENDINGS = (
    "and everyone listened quietly.",
    "and the conversation moved on.",
    "before heading home in the rain.",
    "while the children kept playing.",
)


@dataclass(frozen=True)
class SyntheticCampaign:
    campaign: Campaign
    truth: dict[str, float]  # truth_key(text) → true intensity
    accounts: list[tuple[str, str]]


def synthetic_text(index: int) -> str:
    return (
        f"{_OPENINGS[index % len(_OPENINGS)]} {_MIDDLES[index // 7 % len(_MIDDLES)]} "
        f"{_ENDINGS[index // 3 % len(_ENDINGS)]} (benchmark text {index:06d})"
    )


def synthetic_campaign_create(
    *,
    items: int,
    annotators: int,
    protocol: str = "pairwise",
    list_size: int | None = None,
    judgments_per_item: int = 15,
    allow_ties: bool = True,
    seed: int = 0,
    password: str = DEFAULT_BOT_PASSWORD,
) -> SyntheticCampaign:
    """Load the taxonomy, import `items` generated texts into svt:benevolence, create and start a campaign over
    them and `annotators` bot accounts. Meant for an empty (throwaway) database."""
    if items < 2:
        raise ValueError(f"--items must be at least 2, got {items}.")
    list_size = list_size or DEFAULT_LIST_SIZE.get(protocol, 2)
    taxonomy_load()
    intensities = np.random.default_rng(seed).uniform(-10.0, 10.0, size=items)
    texts = [synthetic_text(index) for index in range(items)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "benchmark-pool.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for text in texts:
                out.write(json.dumps({"text": text, "theory": THEORY, "value": VALUE, "source": SOURCE}) + "\n")
        texts_import(format="jsonl", paths=[path])
    value = Value.objects.get(theory__key=THEORY, key=VALUE)
    campaign = campaign_create(
        settings=CampaignSettings(
            name=f"Benchmark: {items} texts, {protocol}",
            protocol=protocol,
            list_size=list_size,
            allow_ties=allow_ties,
            judgments_per_item=judgments_per_item,
            pool_source=SOURCE,
        ),
        values=[value],
        created_by=None,
    )
    campaign = campaign_set_status(campaign=campaign, status=Campaign.Status.RUNNING)
    accounts = simulation_accounts(bots=annotators, create=True, password=password)
    truth = {truth_key(text): float(intensity) for text, intensity in zip(texts, intensities, strict=True)}
    return SyntheticCampaign(campaign=campaign, truth=truth, accounts=accounts)


def synthetic_posterior_publish(campaign: Campaign, *, seed: int) -> None:
    """Utilities and standard errors on every text of the campaign's pool, as a published refit leaves them
    mid-campaign (utilities spread like moderate-noise truths, standard errors between 0.3 and 1.3 logits): the
    sampler then works in its adaptive steady state instead of its cold start. PostgreSQL only."""
    ids = list(PoolItem.objects.filter(campaign_items__campaign=campaign).order_by("id").values_list("id", flat=True))
    rng = np.random.default_rng(seed)
    utilities = rng.uniform(-4.0, 4.0, size=len(ids))
    errors = rng.uniform(0.3, 1.3, size=len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {PoolItem._meta.db_table} AS p SET utility = v.utility, utility_se = v.se
                FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS v(id, utility, se) WHERE p.id = v.id""",
            [ids, utilities.tolist(), errors.tolist()],
        )
        # as autovacuum would after a bulk import; without statistics PostgreSQL plans the candidate query as a
        # scan of the whole pool (~100 ms at 100K texts instead of ~1 ms)
        cursor.execute(f"ANALYZE {PoolItem._meta.db_table}")
        cursor.execute(f"ANALYZE {CampaignItem._meta.db_table}")
