import pytest

from accounts.models import User
from accounts.services import user_create
from labeling.models import Adjudication, CampaignMember, Judgment, PoolItem
from labeling.services.adjudication import adjudications_queue_refresh
from tests.factories.judgments import judgments_bulk_create
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(researcher):
    return running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher, name="API campaign")


def test_quality_figures_and_member_states_over_the_api(researcher_api, annotator_api, campaign, annotator):
    annotator_api.post(f"/api/v1/campaigns/{campaign.pk}/next/")
    member = CampaignMember.objects.get(campaign=campaign, annotator=annotator)
    rows = researcher_api.get(f"/api/v1/campaigns/{campaign.pk}/quality/").json()
    assert [(row["id"], row["annotator"], row["state"]) for row in rows] == [(member.pk, "ann", "active")]
    url = f"/api/v1/campaigns/{campaign.pk}/members/{member.pk}/state/"
    refused = researcher_api.post(url, {"state": "paused"}, format="json")
    assert refused.status_code == 400 and refused.json()["message"] == "Say why the annotator is paused or removed."
    paused = researcher_api.post(url, {"state": "paused", "reason": "review answers"}, format="json").json()
    assert (paused["state"], paused["state_reason"], paused["state_changed_by"]) == ("paused", "review answers", "res")
    assert annotator_api.post(f"/api/v1/campaigns/{campaign.pk}/next/").json()["reason"] == "member_paused"
    assert annotator_api.get(f"/api/v1/campaigns/{campaign.pk}/quality/").status_code == 403
    assert researcher_api.post(f"/api/v1/campaigns/{campaign.pk}/members/999999/state/",
                               {"state": "active"}, format="json").status_code == 404


def test_adjudications_are_listed_and_decided_over_the_api(researcher_api, campaign, researcher):
    value = campaign.values.get()
    a, b = PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True)[:2]
    crowd = [user_create(username=f"j{i}", password="pass-12345-x", role=User.Role.ANNOTATOR) for i in range(4)]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=[[[a], [b]], [[b], [a]]] * 2)
    adjudications_queue_refresh(campaign=campaign)
    listed = researcher_api.get(f"/api/v1/campaigns/{campaign.pk}/adjudications/").json()
    assert [(row["item_a"], row["item_b"], row["status"]) for row in listed] == [(a, b, "open")]
    assert researcher_api.get(f"/api/v1/campaigns/{campaign.pk}/adjudications/?status=late").status_code == 400
    url = f"/api/v1/adjudications/{listed[0]['id']}/decide/"
    assert researcher_api.post(url, {"decision": "left"}, format="json").status_code == 400
    decided = researcher_api.post(url, {"decision": "a"}, format="json").json()
    assert decided["status"] == "decided" and decided["decision"] == [[a], [b]] and decided["decided_by"] == "res"
    assert Judgment.objects.get(annotator=researcher).weight == Adjudication.objects.get().weight == 5.0
    again = researcher_api.post(url, {"decision": "dismiss"}, format="json")
    assert again.status_code == 409 and again.json()["message"] == "This pair was already decided."


def test_cohorts_over_the_api_restrict_a_campaign(researcher_api, annotator_api, other_annotator, campaign):
    created = researcher_api.post("/api/v1/cohorts/", {"name": "Panel"}, format="json")
    assert created.status_code == 201
    cohort_id = created.json()["id"]
    unknown = researcher_api.post(f"/api/v1/cohorts/{cohort_id}/members/", {"usernames": ["ann", "zed"]}, format="json")
    assert unknown.status_code == 400 and unknown.json()["extra"]["unknown"] == ["zed"]
    researcher_api.post(f"/api/v1/cohorts/{cohort_id}/members/", {"usernames": ["ann2"]}, format="json")
    body = researcher_api.post(
        f"/api/v1/cohorts/{cohort_id}/campaigns/", {"campaign": campaign.pk, "action": "assign"}, format="json"
    ).json()
    assert body["members"] == ["ann2"] and body["campaigns"] == [campaign.pk]
    # the annotator outside the cohort no longer sees the campaign at all
    assert annotator_api.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 404
    assert campaign.pk not in [row["id"] for row in annotator_api.get("/api/v1/campaigns/").json()]
    assert researcher_api.get("/api/v1/cohorts/").json()[0]["name"] == "Panel"
