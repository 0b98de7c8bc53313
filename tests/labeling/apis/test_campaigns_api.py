"""Campaigns over the API: who may list, read, create and start them, and how bad requests are refused."""

import pytest
from django.urls import reverse

from labeling.models import Campaign
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaigns(researcher):
    value = value_with_pool(n_items=6, value_key="benevolence")
    running = running_campaign(values=[value], created_by=researcher, name="Running")
    paused = running_campaign(values=[value], created_by=researcher, name="Paused")
    campaign_set_status(campaign=paused, status=Campaign.Status.PAUSED)
    draft = campaign_create(settings=CampaignSettings(name="Draft"), values=[value], created_by=researcher)
    return {"running": running, "paused": paused, "draft": draft}


def test_annotators_list_only_running_campaigns_researchers_all(annotator_api, researcher_api, campaigns):
    assert [c["name"] for c in annotator_api.get(reverse("api-campaign-list")).json()] == ["Running"]
    names = {c["name"] for c in researcher_api.get(reverse("api-campaign-list")).json()}
    assert names == {"Running", "Paused", "Draft"}


def test_annotators_get_404_for_campaigns_that_are_not_running(annotator_api, campaigns):
    for key in ("paused", "draft"):
        response = annotator_api.get(reverse("api-campaign-detail", args=[campaigns[key].pk]))
        assert response.status_code == 404
        assert response.json()["message"] == f"No campaign {campaigns[key].pk} is open to you."


def test_detail_shape_with_progress_for_researchers_only(annotator_api, researcher_api, campaigns):
    url = reverse("api-campaign-detail", args=[campaigns["running"].pk])
    mine = annotator_api.get(url).json()
    assert mine["values"] == [{"theory": "svt", "key": "benevolence", "name": "Benevolence"}]
    assert mine["instructions"]["version"] == 1
    assert mine["progress"] is None
    theirs = researcher_api.get(url).json()
    assert theirs["progress"]["items"] == 6
    assert theirs["progress"]["target"] == 6 * 15
    assert theirs["progress"]["fraction"] == 0.0


def test_researchers_create_draft_campaigns(researcher_api):
    value_with_pool(n_items=8, value_key="care", theory_key="mft")
    response = researcher_api.post(
        reverse("api-campaign-list"),
        {"name": "Care lists", "values": ["mft:care"], "protocol": "listwise", "list_size": 4, "judgments_per_item": 3},
        format="json",
    )
    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "draft"
    assert body["protocol"] == "listwise"
    assert body["list_size"] == 4
    assert Campaign.objects.get().values.get().key == "care"


def test_annotators_cannot_create_or_start_campaigns(annotator_api, campaigns):
    response = annotator_api.post(reverse("api-campaign-list"), {"name": "x", "values": ["svt:benevolence"]},
                                  format="json")
    assert response.status_code == 403
    status = annotator_api.post(reverse("api-campaign-status", args=[campaigns["draft"].pk]), {"status": "running"},
                                format="json")
    assert status.status_code == 403
    assert Campaign.objects.count() == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "values": ["svt:nope"]}, "values[0]:"),
        ({"name": "x", "values": ["benevolence"]}, "values[0]:"),
        ({"name": "x", "values": ["svt:benevolence"], "protocol": "listwise", "list_size": 2},
         "listwise comparisons show 3–8 texts, not 2."),
        ({"name": "x", "values": []}, "Validation error."),
        ({"values": ["svt:benevolence"]}, "Validation error."),
    ],
)
def test_bad_campaign_bodies_are_400_and_create_nothing(researcher_api, campaigns, body, message):
    response = researcher_api.post(reverse("api-campaign-list"), body, format="json")
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert Campaign.objects.count() == 3


def test_a_body_that_is_not_json_is_400(researcher_api):
    response = researcher_api.post(reverse("api-campaign-list"), "{name:", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["message"]


def test_status_changes_and_refused_transitions(researcher_api, campaigns):
    url = reverse("api-campaign-status", args=[campaigns["draft"].pk])
    started = researcher_api.post(url, {"status": "running"}, format="json")
    assert started.status_code == 200
    assert started.json()["status"] == "running"
    assert started.json()["started_at"] is not None
    researcher_api.post(url, {"status": "finished"}, format="json")
    refused = researcher_api.post(url, {"status": "running"}, format="json")
    assert refused.status_code == 409
    assert refused.json() == {"message": "A finished campaign cannot become running.", "extra": {"status": "finished"}}
    unknown = researcher_api.post(url, {"status": "draft"}, format="json")
    assert unknown.status_code == 400
    assert researcher_api.post(reverse("api-campaign-status", args=[999999]), {"status": "running"},
                               format="json").status_code == 404
