"""Crowd participants' pages (arrival by URL, quiz, completion redirect, return) and researchers' cohort pages.
External URLs are never followed: the tests read the Location / HX-Redirect headers."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from labeling.models import Assignment, CampaignItem, CrowdSession, Judgment
from labeling.services.campaigns import QualityControlSettings, campaign_quality_control_update
from labeling.services.cohorts import cohort_campaign_assign, cohort_create
from labeling.services.crowd import qualification_question_create
from labeling.services.quality import attention_check_create
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
ARRIVAL = {"PROLIFIC_PID": "60aa11bb22cc33dd44ee55ff", "STUDY_ID": "st1", "SESSION_ID": "se1"}


@pytest.fixture
def study(researcher):
    """A small pairwise study: 4 texts, one judgment each, so a participant answers exactly two comparisons."""
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher, name="Study",
                                judgments_per_item=1, completion_code="ABC123")
    return campaign


def _start(client: Client, campaign, **params):
    return client.get(reverse("labeling:crowd_start", args=[campaign.pk]), {**ARRIVAL, **params})


def _answer_everything(client: Client, campaign) -> list:
    """Answer "1" to every comparison through the work page's htmx form; the responses in order."""
    responses = []
    client.get(reverse("labeling:annotate", args=[campaign.pk]))
    for _ in range(10):
        lease = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.OPEN).first()
        if lease is None:
            break
        responses.append(client.post(
            reverse("labeling:annotate_submit", args=[campaign.pk]),
            {"assignment": lease.pk, "answer": "1", "latency_ms": "2500"}, headers=HTMX,
        ))
    return responses


def test_arrival_logs_the_participant_in_and_opens_the_work_page(study):
    client = Client()
    response = _start(client, study)
    assert response.status_code == 302 and response["Location"] == reverse("labeling:annotate", args=[study.pk])
    user = User.objects.get(username="prolific-60aa11bb22cc33dd44ee55ff")
    session = CrowdSession.objects.get(annotator=user)
    assert (session.platform, session.study_id, session.session_id) == ("prolific", "st1", "se1")
    page = client.get(response["Location"])
    assert page.status_code == 200 and b'data-testid="comparison-card"' in page.content
    _start(client, study)  # a reload of the link: the same account and session
    assert CrowdSession.objects.count() == 1 and User.objects.filter(username__startswith="prolific-").count() == 1


def test_an_incomplete_link_names_the_missing_parameters_and_creates_nothing(study):
    response = Client().get(reverse("labeling:crowd_start", args=[study.pk]), {"PROLIFIC_PID": "abc"})
    assert response.status_code == 400
    assert "missing STUDY_ID, SESSION_ID" in response.content.decode()
    assert not User.objects.filter(username__startswith="prolific-").exists()


def test_mturk_preview_shows_the_task_without_an_account(study):
    response = Client().get(
        reverse("labeling:crowd_start", args=[study.pk]),
        {"workerId": "W1", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H1"},
    )
    assert response.status_code == 200 and "Accept the HIT to start" in response.content.decode()
    assert not User.objects.filter(username__startswith="mturk-").exists()


def test_a_cohort_campaign_turns_crowd_links_away(study):
    cohort_campaign_assign(cohort=cohort_create(name="Lab members"), campaign=study)
    response = _start(Client(), study)
    assert response.status_code == 403 and "invited annotators only" in response.content.decode()


def test_the_last_answer_sends_the_participant_to_the_platforms_completion_page(study):
    client = Client()
    _start(client, study)
    responses = _answer_everything(client, study)
    assert len(responses) == 2
    assert responses[0].status_code == 200 and b'data-testid="comparison-card"' in responses[0].content
    complete_url = reverse("labeling:crowd_complete", args=[study.pk])
    assert responses[-1]["HX-Redirect"] == complete_url
    response = client.get(complete_url)
    assert response.status_code == 302
    assert response["Location"] == "https://app.prolific.com/submissions/complete?cc=ABC123"
    assert CrowdSession.objects.get().status == CrowdSession.Status.COMPLETED
    assert Judgment.objects.count() == 2
    # coming back later: the same redirect, nothing reopened
    assert client.get(reverse("labeling:annotate", args=[study.pk]))["Location"] == complete_url
    assert client.get(complete_url)["Location"].endswith("cc=ABC123")


def test_completion_waits_until_the_work_is_done_and_uses_the_campaigns_own_url(study):
    campaign_quality_control_update(
        campaign=study,
        settings=QualityControlSettings(completion_code="ABC123", completion_url="https://example.org/done?s=1"),
    )
    client = Client()
    _start(client, study)
    early = client.get(reverse("labeling:crowd_complete", args=[study.pk]))
    assert early["Location"] == reverse("labeling:annotate", args=[study.pk])
    assert CrowdSession.objects.get().status == CrowdSession.Status.ACTIVE
    _answer_everything(client, study)
    assert client.get(reverse("labeling:crowd_complete", args=[study.pk]))["Location"] == "https://example.org/done?s=1"


def test_without_a_completion_url_or_code_the_participant_sees_a_thank_you_page(researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=2)], created_by=researcher, judgments_per_item=1)
    client = Client()
    _start(client, campaign)
    _answer_everything(client, campaign)
    page = client.get(reverse("labeling:crowd_complete", args=[campaign.pk]))
    assert page.status_code == 200 and "Thank you — all done" in page.content.decode()


def _quiz(campaign):
    qualification_question_create(
        campaign=campaign, prompt="Which text supports the value more?", choices=["Helping a neighbour", "A tax form"],
        correct_choice=0,
    )
    campaign_quality_control_update(
        campaign=campaign,
        settings=QualityControlSettings(
            requires_qualification=True, qualification_pass_score=1.0, completion_code="Q1"
        ),
    )


def test_the_quiz_comes_first_and_passing_it_opens_the_work(study):
    _quiz(study)
    client = Client()
    response = _start(client, study)
    quiz_url = reverse("labeling:crowd_quiz", args=[study.pk])
    assert response["Location"] == quiz_url
    assert client.get(reverse("labeling:annotate", args=[study.pk]))["Location"] == quiz_url  # no skipping
    page = client.get(quiz_url).content.decode()
    assert "Definition of" in page and "Which text supports the value more?" in page
    question = study.qualification_questions.get()
    missing = client.post(quiz_url, {})
    assert missing.status_code == 400 and "Choose one answer for question 1." in missing.content.decode()
    passed = client.post(quiz_url, {f"q{question.pk}": "0"})
    assert passed["Location"] == reverse("labeling:annotate", args=[study.pk])
    assert CrowdSession.objects.get().qualification_passed is True
    assert b'data-testid="comparison-card"' in client.get(passed["Location"]).content


def test_a_failed_quiz_ends_politely_with_no_work(study):
    _quiz(study)
    client = Client()
    _start(client, study)
    question = study.qualification_questions.get()
    failed = client.post(reverse("labeling:crowd_quiz", args=[study.pk]), {f"q{question.pk}": "1"})
    assert failed.status_code == 200 and "not the right fit" in failed.content.decode()
    again = client.get(reverse("labeling:annotate", args=[study.pk]), follow=True)
    assert "not the right fit" in again.content.decode()
    assert not Assignment.objects.exists()
    returned = client.post(reverse("labeling:crowd_return", args=[study.pk]))
    assert "You returned this study" in returned.content.decode()
    assert CrowdSession.objects.get().status == CrowdSession.Status.RETURNED


def test_returning_the_study_gives_the_open_comparison_back(study):
    client = Client()
    _start(client, study)
    client.get(reverse("labeling:annotate", args=[study.pk]))
    assert CampaignItem.objects.filter(in_flight=1).count() == 2
    assert client.get(reverse("labeling:crowd_return", args=[study.pk])).status_code == 200
    client.post(reverse("labeling:crowd_return", args=[study.pk]))
    assert not CampaignItem.objects.filter(in_flight__gt=0).exists()
    assert Assignment.objects.get().status == Assignment.Status.RELEASED
    assert "You returned this study" in client.get(reverse("labeling:crowd_return", args=[study.pk])).content.decode()


def test_an_attention_check_shows_its_instruction_on_the_card(researcher, annotator_client):
    campaign = running_campaign(values=[value_with_pool(n_items=10)], created_by=researcher, attention_check_every=2,
                                judgments_per_item=20)
    attention_check_create(
        campaign=campaign, prompt="Please choose Text 2 to show you are reading.", expected_position=1
    )
    annotator_client.get(reverse("labeling:annotate", args=[campaign.pk]))
    lease = Assignment.objects.get(status=Assignment.Status.OPEN)
    card = annotator_client.post(
        reverse("labeling:annotate_submit", args=[campaign.pk]), {"assignment": lease.pk, "answer": "1"}, headers=HTMX
    ).content.decode()
    assert 'data-testid="attention-instruction"' in card
    assert "Please choose Text 2 to show you are reading." in card


# --- researchers: cohorts --------------------------------------------------------------------------------------


def test_researchers_create_cohorts_add_annotators_and_assign_campaigns(researcher_client, annotator, study):
    created = researcher_client.post(reverse("labeling:cohort_list"), {"name": "Experts", "description": "Trained"})
    cohort_url = created["Location"]
    page = researcher_client.get(cohort_url)
    assert page.status_code == 200 and "Experts" in page.content.decode()
    cohort_id = int(cohort_url.rstrip("/").rsplit("/", 1)[1])
    unknown = researcher_client.post(
        reverse("labeling:cohort_members_add", args=[cohort_id]), {"usernames": "ann, ghost"}
    )
    assert unknown.status_code == 400 and "No user is called ghost; nothing was added." in unknown.content.decode()
    researcher_client.post(reverse("labeling:cohort_members_add", args=[cohort_id]), {"usernames": "ann"})
    researcher_client.post(
        reverse("labeling:cohort_campaigns_edit", args=[cohort_id]), {"campaign": study.pk, "action": "assign"}
    )
    detail = researcher_client.get(cohort_url).content.decode()
    assert "ann" in detail and "Study" in detail
    duplicate = researcher_client.post(reverse("labeling:cohort_list"), {"name": "Experts"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.content.decode()
