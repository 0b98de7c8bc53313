"""The annotators' pages: running campaigns with my progress, and the work page's htmx answer/undo round trips."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Assignment, Campaign, Judgment, JudgmentRetraction, PoolItem
from labeling.services.assignment import assignment_next
from labeling.services.campaigns import CampaignSettings, campaign_create, campaign_set_status
from labeling.services.judgments import judgment_submit
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def pair_campaign(researcher):
    value = value_with_pool(n_items=6, value_key="benevolence")
    return running_campaign(values=[value], created_by=researcher, name="Pairs", judgments_per_item=1)


def _open_lease(campaign, user) -> Assignment:
    return Assignment.objects.get(campaign=campaign, annotator=user, status=Assignment.Status.OPEN)


def _submit(client, campaign, data, htmx=True):
    return client.post(
        reverse("labeling:annotate_submit", args=[campaign.pk]), data, headers=HTMX if htmx else {}
    )


def test_annotate_home_lists_only_running_campaigns_with_my_progress(annotator_client, researcher):
    value = value_with_pool(n_items=4)
    running_campaign(values=[value], created_by=researcher, name="Open now")
    paused = running_campaign(values=[value], created_by=researcher, name="Resting")
    campaign_set_status(campaign=paused, status=Campaign.Status.PAUSED)
    campaign_create(settings=CampaignSettings(name="Not yet"), values=[value], created_by=researcher)
    html = annotator_client.get(reverse("labeling:annotate_home")).content.decode()
    assert "Open now" in html
    assert "Resting" not in html and "Not yet" not in html
    assert "<strong>0</strong> judgments by you" in html


def test_annotators_get_404_for_paused_and_draft_campaigns(annotator_client, researcher):
    value = value_with_pool(n_items=4)
    paused = running_campaign(values=[value], created_by=researcher)
    campaign_set_status(campaign=paused, status=Campaign.Status.PAUSED)
    draft = campaign_create(settings=CampaignSettings(name="d"), values=[value], created_by=researcher)
    for campaign in (paused, draft):
        assert annotator_client.get(reverse("labeling:annotate", args=[campaign.pk])).status_code == 404
        assert _submit(annotator_client, campaign, {"assignment": "1", "answer": "1"}).status_code == 404
    assert not Assignment.objects.exists()


def test_the_work_page_shows_the_pair_in_the_order_leased_and_a_reload_keeps_it(annotator_client, annotator,
                                                                                  pair_campaign):
    response = annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    html = response.content.decode()
    lease = _open_lease(pair_campaign, annotator)
    first, second = (PoolItem.objects.select_related("text").get(pk=item_id) for item_id in lease.item_ids)
    assert response.status_code == 200
    assert html.index(first.text.content) < html.index(second.text.content)
    assert f'name="assignment" value="{lease.pk}"' in html
    assert "Definition of benevolence." in html  # the value's definition, one key away
    assert 'data-key="t"' in html and 'data-key="n"' in html
    assert "css/annotate.css" in html and "js/annotate.js" in html
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_an_htmx_answer_stores_the_judgment_and_returns_the_next_card(annotator_client, annotator, pair_campaign):
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    lease = _open_lease(pair_campaign, annotator)
    response = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "2", "latency_ms": "1834"})
    html = response.content.decode()
    judgment = Judgment.objects.get()
    following = _open_lease(pair_campaign, annotator)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "judgment-saved"
    assert html.lstrip().startswith('<section id="comparison-card"')
    assert f'name="assignment" value="{following.pk}"' in html
    assert 'id="annotate-progress" class="annotate-progress" data-testid="annotate-progress" hx-swap-oob="true"' in html
    assert f'name="judgment" value="{judgment.pk}"' in html  # the undo button
    assert judgment.ordering == [[lease.item_ids[1]], [lease.item_ids[0]]]
    assert judgment.shown_order == lease.item_ids
    assert judgment.latency_ms == 1834
    assert judgment.client_info["via"] == "web"
    assert judgment.client_info["server_latency_ms"] >= 0


def test_a_retried_answer_returns_the_same_next_card_and_stores_one_judgment(annotator_client, annotator,
                                                                               pair_campaign):
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    lease = _open_lease(pair_campaign, annotator)
    first = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "tie"})
    again = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "tie"})
    following = _open_lease(pair_campaign, annotator)
    assert again.status_code == 200
    for response in (first, again):
        assert f'name="assignment" value="{following.pk}"' in response.content.decode()
    assert Judgment.objects.count() == 1
    assert Judgment.objects.get().ordering == [lease.item_ids]


def test_without_javascript_an_answer_redirects_back_to_the_work_page(annotator_client, annotator, pair_campaign):
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    lease = _open_lease(pair_campaign, annotator)
    response = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "neither"}, htmx=False)
    assert response.status_code == 302
    assert response["Location"] == reverse("labeling:annotate", args=[pair_campaign.pk])
    assert Judgment.objects.get().kind == Judgment.Kind.NEITHER


def test_a_malformed_answer_is_422_for_htmx_and_400_without_and_stores_nothing(annotator_client, annotator,
                                                                                 pair_campaign):
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    lease = _open_lease(pair_campaign, annotator)
    htmx = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "3"})
    plain = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "3"}, htmx=False)
    assert htmx.status_code == 422
    assert plain.status_code == 400
    assert "Unknown answer &#x27;3&#x27;: expected 1, 2, tie or neither." in htmx.content.decode()
    assert "Get the next comparison" in htmx.content.decode()
    latency = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "1", "latency_ms": "fast"})
    assert latency.status_code == 422
    assert "latency_ms must be a whole number of milliseconds" in latency.content.decode()
    assert not Judgment.objects.exists()


def test_an_expired_lease_is_a_409_error_card_and_stores_nothing(annotator_client, annotator, pair_campaign):
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    lease = _open_lease(pair_campaign, annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "1"})
    assert response.status_code == 409
    assert response["X-ValueFlow-Card"] == "error"
    assert "lease has expired" in response.content.decode()
    assert not Judgment.objects.exists()


def test_someone_elses_assignment_is_404_and_stores_nothing(annotator_client, other_annotator, pair_campaign):
    foreign = assignment_next(campaign=pair_campaign, annotator=other_annotator).assignment
    response = _submit(annotator_client, pair_campaign, {"assignment": foreign.pk, "answer": "1"})
    assert response.status_code == 404
    assert "not one of yours" in response.content.decode()
    assert _submit(annotator_client, pair_campaign, {"assignment": "abc", "answer": "1"}).status_code == 404
    assert not Judgment.objects.exists()


def test_undo_brings_the_same_comparison_back_and_retracts_the_answer(annotator_client, annotator, pair_campaign):
    annotator_client.get(reverse("labeling:annotate", args=[pair_campaign.pk]))
    lease = _open_lease(pair_campaign, annotator)
    _submit(annotator_client, pair_campaign, {"assignment": lease.pk, "answer": "1"})
    judgment = Judgment.objects.get()
    response = annotator_client.post(
        reverse("labeling:annotate_undo", args=[pair_campaign.pk]), {"judgment": judgment.pk}, headers=HTMX
    )
    again = _open_lease(pair_campaign, annotator)
    assert response.status_code == 200
    assert JudgmentRetraction.objects.filter(judgment=judgment).exists()
    assert again.item_ids == lease.item_ids
    assert f'name="assignment" value="{again.pk}"' in response.content.decode()
    assert "Answer undone" in response.content.decode()


def test_undoing_someone_elses_judgment_is_404(annotator_client, other_annotator, pair_campaign):
    lease = assignment_next(campaign=pair_campaign, annotator=other_annotator).assignment
    theirs = judgment_submit(assignment_id=lease.pk, annotator=other_annotator, ordering=[[i] for i in lease.item_ids])
    response = annotator_client.post(
        reverse("labeling:annotate_undo", args=[pair_campaign.pk]), {"judgment": theirs.judgment.pk}, headers=HTMX
    )
    assert response.status_code == 404
    assert not JudgmentRetraction.objects.exists()


def test_the_last_answer_leads_to_the_completion_page_with_the_count(annotator_client, annotator, researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=2)], created_by=researcher, judgments_per_item=1)
    annotator_client.get(reverse("labeling:annotate", args=[campaign.pk]))
    lease = _open_lease(campaign, annotator)
    html = _submit(annotator_client, campaign, {"assignment": lease.pk, "answer": "1"}).content.decode()
    assert "Thank you — all done" in html
    assert '<strong data-testid="completion-count">1</strong> judgment in this campaign' in html
    assert 'id="completion-code"' in html
    assert "Undo last answer" in html  # the last answer can still be taken back


def test_listwise_ranks_become_groups_with_ties(annotator_client, annotator, researcher):
    campaign = running_campaign(
        values=[value_with_pool(n_items=8)], created_by=researcher, protocol="listwise", list_size=4
    )
    html = annotator_client.get(reverse("labeling:annotate", args=[campaign.pk])).content.decode()
    lease = _open_lease(campaign, annotator)
    a, b, c, d = lease.item_ids
    assert f'name="rank_{a}" value="1"' in html
    bad = _submit(annotator_client, campaign, {"assignment": lease.pk, f"rank_{a}": "1", f"rank_{b}": "9",
                                               f"rank_{c}": "2", f"rank_{d}": "3"})
    assert bad.status_code == 422
    assert "rank of text 2 must be a whole number from 1 to 4" in bad.content.decode()
    good = _submit(annotator_client, campaign, {"assignment": lease.pk, f"rank_{a}": "3", f"rank_{b}": "1",
                                                f"rank_{c}": "1", f"rank_{d}": "4"})
    assert good.status_code == 200
    assert Judgment.objects.get().ordering == [[b, c], [a], [d]]


def test_best_worst_answers_are_stored_as_best_middle_worst(annotator_client, annotator, researcher):
    campaign = running_campaign(
        values=[value_with_pool(n_items=8)], created_by=researcher, protocol="best_worst", list_size=4
    )
    annotator_client.get(reverse("labeling:annotate", args=[campaign.pk]))
    lease = _open_lease(campaign, annotator)
    a, b, c, d = lease.item_ids
    same = _submit(annotator_client, campaign, {"assignment": lease.pk, "best": a, "worst": a})
    assert same.status_code == 422
    response = _submit(annotator_client, campaign, {"assignment": lease.pk, "best": c, "worst": a})
    assert response.status_code == 200
    judgment = Judgment.objects.get()
    assert judgment.kind == Judgment.Kind.BEST_WORST
    assert judgment.ordering == [[c], [b, d], [a]]
