"""Researchers' campaign pages: list with progress, the design form, status buttons, instructions, members."""

import pytest
from django.urls import reverse

from labeling.models import Campaign
from labeling.services.assignment import assignment_next
from labeling.services.campaigns import CampaignSettings, campaign_create
from labeling.services.judgments import judgment_submit, ordering_for_pair
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


def _form_data(value, **overrides):
    data = {
        "name": "Benevolence pilot",
        "description": "First round",
        "values": [str(value.pk)],
        "protocol": "pairwise",
        "list_size": "2",
        "allow_ties": "on",
        "sampling": "balanced",
        "judgments_per_item": "5",
        "ci_width_target": "",
        "per_annotator_cap": "",
        "lease_ttl_s": "600",
        "repeat_rate": "0",
        "instructions": "",
    }
    data.update(overrides)
    return data


def _judge(campaign, annotator, answer="1"):
    lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    ordering, kind = ordering_for_pair(assignment=lease, answer=answer)
    return judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, kind=kind).judgment


def test_annotators_cannot_reach_campaign_pages(annotator_client):
    assert annotator_client.get(reverse("labeling:campaign_list")).status_code == 403
    assert annotator_client.get(reverse("labeling:campaign_create")).status_code == 403


def test_campaign_list_shows_status_values_and_progress(researcher_client, researcher, annotator):
    value = value_with_pool(n_items=4, value_key="benevolence")
    campaign = running_campaign(values=[value], created_by=researcher, name="Pilot", judgments_per_item=2)
    _judge(campaign, annotator)
    html = researcher_client.get(reverse("labeling:campaign_list")).content.decode()
    assert "Pilot" in html
    assert "Running" in html
    assert "svt:benevolence" in html
    # one pairwise judgment = 2 of the 4 × 2 text-judgments
    assert 'value="25"' in html
    assert "1 judgment" in html
    assert "from now" in html  # projected from the last hour's rate


def test_create_form_offers_pooled_values_grouped_by_theory(researcher_client):
    value_with_pool(n_items=3, value_key="care")
    html = researcher_client.get(reverse("labeling:campaign_create")).content.decode()
    assert '<optgroup label="SVT">' in html
    assert "Care (3)" in html


def test_creating_a_campaign_makes_a_draft_and_opens_its_page(researcher_client):
    value = value_with_pool(n_items=6)
    response = researcher_client.post(reverse("labeling:campaign_create"), _form_data(value))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("labeling:campaign_detail", args=[campaign.pk])
    assert campaign.status == Campaign.Status.DRAFT
    assert list(campaign.values.all()) == [value]
    assert campaign.judgments_per_item == 5


def test_list_size_is_checked_per_protocol_next_to_the_field(researcher_client):
    value = value_with_pool(n_items=10)
    response = researcher_client.post(
        reverse("labeling:campaign_create"), _form_data(value, protocol="listwise", list_size="2")
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Listwise ranking comparisons show 3–8 texts, not 2." in html
    assert Campaign.objects.count() == 0


def test_service_refusals_are_shown_on_the_form(researcher_client):
    value = value_with_pool(n_items=3)
    response = researcher_client.post(
        reverse("labeling:campaign_create"), _form_data(value, protocol="best_worst", list_size="4")
    )
    assert response.status_code == 400
    assert "Every value needs at least 4 texts in its pool" in response.content.decode()
    assert Campaign.objects.count() == 0


def test_detail_shows_design_instructions_and_status_buttons(researcher_client, researcher):
    campaign = campaign_create(
        settings=CampaignSettings(name="Draft one", instructions="Read carefully."),
        values=[value_with_pool(n_items=4)],
        created_by=researcher,
    )
    html = researcher_client.get(reverse("labeling:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Read carefully." in html
    assert ">Start</button>" in html
    assert ">Pause</button>" not in html
    assert "every 5s" not in html  # a draft does not poll


def test_start_pause_and_refused_transitions(researcher_client, researcher):
    campaign = campaign_create(
        settings=CampaignSettings(name="c"), values=[value_with_pool(n_items=4)], created_by=researcher
    )
    url = reverse("labeling:campaign_status_update", args=[campaign.pk])
    assert researcher_client.post(url, {"status": "running"}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    researcher_client.post(url, {"status": "finished"})
    response = researcher_client.post(url, {"status": "running"})
    assert response.status_code == 409
    assert "A finished campaign cannot become running." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED


def test_status_changes_are_posts_only(researcher_client, researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    assert researcher_client.get(reverse("labeling:campaign_status_update", args=[campaign.pk])).status_code == 405


def test_editing_instructions_adds_a_version_and_keeps_the_history(researcher_client, researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    url = reverse("labeling:campaign_instructions_edit", args=[campaign.pk])
    response = researcher_client.post(url, {"text": "New wording."}, follow=True)
    html = response.content.decode()
    assert "Instructions saved as version 2" in html
    assert "Current: version 2" in html
    assert "Earlier versions (1)" in html
    empty = researcher_client.post(url, {"text": "   "})
    assert empty.status_code == 400
    assert campaign.instruction_versions.count() == 2


def test_running_campaign_progress_polls_and_lists_members_and_reasons(researcher_client, researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher)
    _judge(campaign, annotator)
    assignment_next(campaign=campaign, annotator=annotator)
    html = researcher_client.get(reverse("labeling:campaign_detail", args=[campaign.pk])).content.decode()
    assert 'hx-trigger="every 5s"' in html
    assert "<th scope=\"row\">ann</th>" in html
    assert "balanced: least-judged items" in html

    partial = researcher_client.get(
        reverse("labeling:campaign_detail", args=[campaign.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert partial.lstrip().startswith('<section class="card" id="campaign-progress"')
    assert '<dd data-testid="judgment-count">1</dd>' in partial
    assert "<table" not in partial
