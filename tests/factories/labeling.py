"""Builders for labeling state used across tests: a value with a pool, and a running campaign over it."""

import hashlib
import itertools

from labeling.models import Campaign, PoolItem, Text, Theory, Value
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status

_counter = itertools.count()


def value_with_pool(*, n_items: int, theory_key: str = "svt", value_key: str | None = None) -> Value:
    theory, _ = Theory.objects.get_or_create(key=theory_key, defaults={"name": theory_key.upper()})
    key = value_key or f"value-{next(_counter)}"
    value = Value.objects.create(theory=theory, key=key, name=key.title(), definition=f"Definition of {key}.", level=2,
                                 is_target=True)
    texts = [f"Text {i} about {key}." for i in range(n_items)]
    Text.objects.bulk_create(
        Text(content=t, content_hash=hashlib.sha256(t.encode()).hexdigest()) for t in texts
    )
    text_ids = Text.objects.filter(content__in=texts).values_list("id", flat=True)
    PoolItem.objects.bulk_create(PoolItem(value=value, text_id=text_id) for text_id in text_ids)
    return value


def running_campaign(*, values, created_by, **settings) -> Campaign:  # type: ignore[no-untyped-def]
    campaign = campaign_create(
        settings=CampaignSettings(name=settings.pop("name", "Test campaign"), **settings),
        values=values,
        created_by=created_by,
    )
    return campaign_set_status(campaign=campaign, status=Campaign.Status.RUNNING)
