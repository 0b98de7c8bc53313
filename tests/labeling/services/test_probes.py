import pytest

from labeling.models import Campaign, CampaignItem, PoolItem
from labeling.services.probes import ProbeText, probe_campaign_create, probe_items_of
from tests.factories.labeling import value_with_pool

pytestmark = pytest.mark.django_db


def test_a_probe_campaign_holds_only_its_probes_and_anchors_and_shares_identical_probe_texts(researcher):
    value = value_with_pool(n_items=20)
    pool = list(PoolItem.objects.filter(value=value).order_by("pk").values_list("pk", flat=True))
    probes = [
        ProbeText(key=1, value_id=value.pk, content="I will always help a friend in need.", metadata={"r": 1}),
        ProbeText(key=2, value_id=value.pk, content="I will always help a friend in need."),  # same answer
        ProbeText(key=3, value_id=value.pk, content="Only my own gain matters."),
    ]
    built = probe_campaign_create(
        name="Probes", description="", values=[value], probes=probes, anchors={value.pk: pool[:6]},
        list_size=4, judgments_per_item=2, source="test", created_by=researcher,
    )
    campaign = built.campaign
    assert campaign.status == Campaign.Status.RUNNING and campaign.protocol == Campaign.Protocol.LISTWISE
    assert campaign.list_size == 4 and not campaign.allow_ties and campaign.judgments_per_item == 2
    assert campaign.instruction_versions.get().version == 1
    probe_of = built.probe_item_of
    assert probe_of[(1, value.pk)] == probe_of[(2, value.pk)] != probe_of[(3, value.pk)]
    probe_pool = PoolItem.objects.filter(pk__in=built.probe_item_of.values())
    assert probe_pool.count() == 2 and all(item.is_probe and item.source == "test" for item in probe_pool)
    items = CampaignItem.objects.filter(campaign=campaign)
    assert set(items.filter(is_anchor=True).values_list("pool_item_id", flat=True)) == set(pool[:6])
    assert items.filter(is_probe=True).count() == 2 and items.count() == built.n_items == 8
    assert {(item, value_id) for item, _, value_id in probe_items_of(campaign)} == {
        (p, value.pk) for p in built.probe_item_of.values()
    }


def test_a_probe_that_is_already_an_anchor_text_is_ranked_as_the_probe(researcher):
    value = value_with_pool(n_items=5)
    first = PoolItem.objects.filter(value=value).select_related("text").order_by("pk").first()
    built = probe_campaign_create(
        name="Probes", description="", values=[value],
        probes=[ProbeText(key=9, value_id=value.pk, content=first.text.content)],
        anchors={value.pk: [first.pk]}, list_size=3, judgments_per_item=1, source="test", created_by=researcher,
    )
    assert built.probe_item_of[(9, value.pk)] == first.pk
    assert built.anchors == {value.pk: []}
    assert CampaignItem.objects.get(campaign=built.campaign).is_probe
