"""Researchers' quality-control pages: the review of flagged annotators, the setup, and the disagreement queue."""

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import user_create
from labeling.models import Adjudication, AttentionCheck, CampaignMember, GoldComparison, Judgment, PoolItem
from labeling.services.adjudication import adjudications_queue_refresh
from labeling.services.quality import member_set_state
from tests.factories.judgments import judgments_bulk_create
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def campaign(researcher):
    return running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher, name="QC campaign")


def test_the_review_lists_paused_annotators_with_their_evidence_and_reinstates_them(
    researcher_client, campaign, annotator
):
    member = CampaignMember.objects.create(
        campaign=campaign, annotator=annotator, judgments_count=12, too_fast_count=11
    )
    evidence = "11 of 12 answers were faster than the reading-time floor"
    member.qc = {"flags": [{"rule": "too_fast", "evidence": evidence}]}
    member.save()
    member_set_state(member=member, state=CampaignMember.State.PAUSED, reason="quality control: too fast")
    page = researcher_client.get(reverse("labeling:quality_review", args=[campaign.pk])).content.decode()
    assert 'data-annotator="ann"' in page and "11 of 12 answers were faster" in page and "(automatic)" in page

    url = reverse("labeling:quality_member_state", args=[campaign.pk, member.pk])
    refused = researcher_client.post(url, {"state": "removed", "reason": ""})
    assert refused.status_code == 400 and "Say why the annotator is paused or removed." in refused.content.decode()
    assert researcher_client.post(url, {"state": "active"}).status_code == 302
    member.refresh_from_db()
    assert member.state == CampaignMember.State.ACTIVE and member.state_changed_by.username == "res"
    assert member.qc["cleared"] == ["too_fast"]


def test_recompute_now_starts_one_job_per_campaign(researcher_client, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = researcher_client.post(reverse("labeling:quality_refresh", args=[campaign.pk]))
        second = researcher_client.post(reverse("labeling:quality_refresh", args=[campaign.pk]))
    assert first["Location"] == second["Location"]  # the running job is joined, not duplicated
    job_page = researcher_client.get(first["Location"]).content.decode()
    assert "Quality figures of “QC campaign”" in job_page


def test_setup_saves_settings_and_names_bad_input_next_to_its_field(researcher_client, campaign):
    url = reverse("labeling:quality_setup", args=[campaign.pk])
    page = researcher_client.get(url).content.decode()
    assert "PROLIFIC_PID={{%PROLIFIC_PID%}}" in page
    settings = {
        "random_fraction": "0.1", "gold_rate_start": "0.1", "gold_rate_end": "0.02", "gold_taper_judgments": "100",
        "attention_check_every": "10", "min_ms_per_char": "15", "reliability_threshold": "",
        "qualification_pass_score": "0.8", "completion_code": "C0DE", "completion_url": "",
    }
    assert researcher_client.post(url, settings).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.gold_rate_start, campaign.attention_check_every, campaign.completion_code) == (0.1, 10, "C0DE")
    quiz_without_questions = researcher_client.post(url, {**settings, "requires_qualification": "on"})
    assert quiz_without_questions.status_code == 409
    assert "requires a qualification quiz but has no questions" in quiz_without_questions.content.decode()


def test_gold_pairs_attention_checks_and_questions_are_added_from_the_setup_page(researcher_client, campaign):
    ids = list(PoolItem.objects.filter(campaign_items__campaign=campaign).order_by("id").values_list("id", flat=True))
    gold_url = reverse("labeling:quality_gold_create", args=[campaign.pk])
    same = researcher_client.post(gold_url, {"stronger_id": ids[0], "weaker_id": ids[0]})
    assert same.status_code == 400 and "two different texts" in same.content.decode()
    assert researcher_client.post(gold_url, {"stronger_id": ids[5], "weaker_id": ids[0]}).status_code == 302
    gold = GoldComparison.objects.get()
    researcher_client.post(reverse("labeling:quality_gold_toggle", args=[campaign.pk, gold.pk]))
    gold.refresh_from_db()
    assert not gold.is_active

    attention_url = reverse("labeling:quality_attention_create", args=[campaign.pk])
    wrong = researcher_client.post(attention_url, {"prompt": "Choose text 3", "expected_text": "3"})
    assert wrong.status_code == 400 and "the expected text is 1–2" in wrong.content.decode()
    researcher_client.post(attention_url, {"prompt": "Choose text 2", "expected_text": "2"})
    assert AttentionCheck.objects.get().expected_position == 1

    question_url = reverse("labeling:quality_question_create", args=[campaign.pk])
    question = {"prompt": "Which is kind?", "choices": "Sharing\nStealing", "correct_choice": "1"}
    researcher_client.post(question_url, question)
    question = campaign.qualification_questions.get()
    assert (question.choices, question.correct_choice) == (["Sharing", "Stealing"], 0)
    researcher_client.post(reverse("labeling:quality_question_delete", args=[campaign.pk, question.pk]))
    assert not campaign.qualification_questions.exists()


def test_the_disagreement_queue_is_decided_by_keyboard_buttons_over_htmx(researcher_client, campaign, researcher):
    value = campaign.values.get()
    a, b = PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True)[:2]
    crowd = [user_create(username=f"j{i}", password="pass-12345-x", role=User.Role.ANNOTATOR) for i in range(4)]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=[[[a], [b]], [[b], [a]]] * 2)
    adjudications_queue_refresh(campaign=campaign)
    queue_url = reverse("labeling:adjudication_queue", args=[campaign.pk])
    page = researcher_client.get(queue_url).content.decode()
    assert 'data-key="1"' in page and 'data-key="t"' in page and "js/adjudicate.js" in page
    assert "text 1 preferred 2×, text 2 2×" in page
    adjudication = Adjudication.objects.get()
    decide_url = reverse("labeling:adjudication_decide", args=[campaign.pk, adjudication.pk])
    card = researcher_client.post(decide_url, {"decision": "2"}, headers=HTMX)
    assert card.status_code == 200 and 'data-testid="queue-empty"' in card.content.decode()
    judgment = Judgment.objects.get(annotator=researcher)
    assert (judgment.ordering, judgment.weight) == ([[b], [a]], 5.0)
    late = researcher_client.post(decide_url, {"decision": "1"}, headers=HTMX)
    assert late.status_code == 200 and "This pair was already decided." in late.content.decode()
    assert Judgment.objects.filter(annotator=researcher).count() == 1


def test_annotators_cannot_open_the_quality_pages(annotator_client, campaign):
    for name in ("quality_review", "quality_setup", "adjudication_queue"):
        assert annotator_client.get(reverse(f"labeling:{name}", args=[campaign.pk])).status_code == 403
