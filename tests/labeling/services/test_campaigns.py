import pytest

from common.exceptions import ApplicationError
from labeling.models import Campaign, CampaignItem
from labeling.services.campaigns import (
    CampaignSettings,
    campaign_create,
    campaign_instructions_update,
    campaign_set_status,
)
from tests.factories.labeling import value_with_pool

pytestmark = pytest.mark.django_db


def test_campaign_create_puts_every_pool_item_in_the_campaign_with_versioned_instructions(researcher):
    value = value_with_pool(n_items=12)
    campaign = campaign_create(
        settings=CampaignSettings(name="Benevolence pilot"), values=[value], created_by=researcher
    )
    assert campaign.status == Campaign.Status.DRAFT
    assert CampaignItem.objects.filter(campaign=campaign).count() == 12
    assert campaign.instruction_versions.get().version == 1
    second = campaign_instructions_update(campaign=campaign, text="Rank by strength.", updated_by=researcher)
    assert second.version == 2
    assert campaign.instruction_versions.count() == 2


@pytest.mark.parametrize(
    ("protocol", "size", "ok"),
    [("pairwise", 2, True), ("pairwise", 3, False), ("listwise", 3, True), ("listwise", 8, True),
     ("listwise", 9, False), ("best_worst", 4, True), ("best_worst", 6, True), ("best_worst", 3, False)],
)
def test_campaign_create_enforces_comparison_sizes_per_protocol(researcher, protocol, size, ok):
    value = value_with_pool(n_items=10)
    settings = CampaignSettings(name="c", protocol=protocol, list_size=size)
    if ok:
        assert campaign_create(settings=settings, values=[value], created_by=researcher).list_size == size
    else:
        with pytest.raises(ApplicationError, match="comparisons show"):
            campaign_create(settings=settings, values=[value], created_by=researcher)
        assert Campaign.objects.count() == 0


def test_campaign_create_rejects_a_pool_smaller_than_one_comparison(researcher):
    value = value_with_pool(n_items=3)
    with pytest.raises(ApplicationError, match="too few in"):
        campaign_create(settings=CampaignSettings(name="c", protocol="listwise", list_size=4), values=[value],
                        created_by=researcher)


def test_campaign_status_transitions(researcher):
    campaign = campaign_create(settings=CampaignSettings(name="c"), values=[value_with_pool(n_items=4)],
                               created_by=researcher)
    with pytest.raises(ApplicationError):
        campaign_set_status(campaign=campaign, status="paused")  # a draft cannot be paused
    assert campaign_set_status(campaign=campaign, status="running").started_at is not None
    assert campaign_set_status(campaign=campaign, status="paused").status == "paused"
    assert campaign_set_status(campaign=campaign, status="running").status == "running"
    finished = campaign_set_status(campaign=campaign, status="finished")
    assert finished.finished_at is not None
    with pytest.raises(ApplicationError):
        campaign_set_status(campaign=finished, status="running")
