import random
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.models import Assignment, CampaignItem, CrowdSession, QualificationAttempt
from labeling.services.assignment import QUALIFICATION_REQUIRED, assignment_next
from labeling.services.campaigns import QualityControlSettings, campaign_quality_control_update, campaign_set_status
from labeling.services.crowd import (
    completion_url,
    crowd_arrival_parse,
    crowd_session_complete,
    crowd_session_next_step,
    crowd_session_return,
    crowd_session_start,
    crowd_sessions_time_out,
    qualification_question_create,
    qualification_question_delete,
    qualification_submit,
)
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db

PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "study42", "SESSION_ID": "sess9"}


def _quiz_campaign(researcher, **settings):
    campaign = running_campaign(values=[value_with_pool(n_items=8)], created_by=researcher, **settings)
    qualification_question_create(
        campaign=campaign, prompt="Which text expresses Benevolence?", choices=["Helping a stranger", "Winning"],
        correct_choice=0,
    )
    qualification_question_create(
        campaign=campaign, prompt="A text that opposes the value expresses it…", choices=["more", "less"],
        correct_choice=1,
    )
    return campaign_quality_control_update(
        campaign=campaign,
        settings=QualityControlSettings(
            requires_qualification=True, qualification_pass_score=1.0, completion_code="C0DE1"
        ),
    )


def test_arrival_parameters_are_read_per_platform_and_every_missing_one_is_named():
    arrival = crowd_arrival_parse(params=PROLIFIC)
    assert (arrival.platform, arrival.username) == ("prolific", "prolific-5f1a2b3c4d5e6f7a8b9c0d1e")
    mturk = crowd_arrival_parse(params={"workerId": "A1B2", "assignmentId": "3XYZ", "hitId": "H9"})
    assert (mturk.platform, mturk.participant_id, mturk.study_id, mturk.session_id) == ("mturk", "A1B2", "H9", "3XYZ")
    with pytest.raises(ApplicationError, match="missing STUDY_ID, SESSION_ID"):
        crowd_arrival_parse(params={"PROLIFIC_PID": "abc"})
    with pytest.raises(ApplicationError, match="PROLIFIC_PID must be 1–128 letters"):
        crowd_arrival_parse(params={**PROLIFIC, "PROLIFIC_PID": "x'; drop"})


def test_a_participant_gets_an_account_transparently_and_a_reload_finds_the_same_session(researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    session = crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=PROLIFIC))
    user = session.annotator
    assert user.username == "prolific-5f1a2b3c4d5e6f7a8b9c0d1e"
    assert user.role == User.Role.ANNOTATOR and not user.has_usable_password()
    again = crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=PROLIFIC))
    assert again.pk == session.pk
    assert crowd_session_next_step(session=again) == "work"


def test_a_crowd_link_never_opens_a_password_account(researcher):
    from accounts.services import user_create

    user_create(username="prolific-victim", password="secret-pass-1", role=User.Role.ANNOTATOR)
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    arrival = crowd_arrival_parse(params={**PROLIFIC, "PROLIFIC_PID": "victim"})
    with pytest.raises(ApplicationError, match="cannot be used here") as refused:
        crowd_session_start(campaign=campaign, arrival=arrival)
    assert refused.value.status_code == 403


def test_closed_campaigns_and_mturk_previews_start_no_session(researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    preview = crowd_arrival_parse(
        params={"workerId": "A1", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H"}
    )
    with pytest.raises(ApplicationError, match="Accept the HIT"):
        crowd_session_start(campaign=campaign, arrival=preview)
    campaign_set_status(campaign=campaign, status="paused")
    campaign.refresh_from_db()
    with pytest.raises(ApplicationError, match="not open right now"):
        crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=PROLIFIC))
    assert not CrowdSession.objects.exists() and not User.objects.filter(username__startswith="mturk-").exists()


def test_the_quiz_gates_work_and_a_failed_quiz_ends_without_work(researcher):
    campaign = _quiz_campaign(researcher)
    passing = crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=PROLIFIC))
    failing = crowd_session_start(
        campaign=campaign, arrival=crowd_arrival_parse(params={**PROLIFIC, "PROLIFIC_PID": "other", "SESSION_ID": "s2"})
    )
    assert crowd_session_next_step(session=passing) == "quiz"
    assert assignment_next(campaign=campaign, annotator=passing.annotator).reason == QUALIFICATION_REQUIRED

    attempt = qualification_submit(campaign=campaign, annotator=passing.annotator, answers=[0, 1])
    assert attempt.passed and attempt.score == 1.0
    passing.refresh_from_db()
    assert passing.qualification_passed is True and crowd_session_next_step(session=passing) == "work"
    assert assignment_next(campaign=campaign, annotator=passing.annotator).assignment is not None

    assert not qualification_submit(campaign=campaign, annotator=failing.annotator, answers=[0, 0]).passed
    failing.refresh_from_db()
    assert crowd_session_next_step(session=failing) == "not_qualified"
    assert assignment_next(campaign=campaign, annotator=failing.annotator).reason == QUALIFICATION_REQUIRED
    with pytest.raises(ApplicationError, match="already taken"):
        qualification_submit(campaign=campaign, annotator=failing.annotator, answers=[0, 1])
    assert QualificationAttempt.objects.filter(annotator=failing.annotator).count() == 1


def test_quiz_answers_are_checked_before_scoring(researcher, annotator):
    campaign = _quiz_campaign(researcher)
    with pytest.raises(ApplicationError, match="Answer all 2 questions"):
        qualification_submit(campaign=campaign, annotator=annotator, answers=[0])
    with pytest.raises(ApplicationError, match="Choose one answer for question 2"):
        qualification_submit(campaign=campaign, annotator=annotator, answers=[0, 7])
    assert not QualificationAttempt.objects.exists()


def test_quiz_questions_are_validated_and_frozen_once_taken(researcher, annotator):
    campaign = _quiz_campaign(researcher)
    with pytest.raises(ApplicationError, match="at least two answer choices"):
        qualification_question_create(campaign=campaign, prompt="?", choices=["only", " "], correct_choice=0)
    with pytest.raises(ApplicationError, match="one of the 2 choices"):
        qualification_question_create(campaign=campaign, prompt="?", choices=["a", "b"], correct_choice=2)
    qualification_submit(campaign=campaign, annotator=annotator, answers=[0, 1])
    with pytest.raises(ApplicationError, match="can no longer change"):
        qualification_question_delete(question=campaign.qualification_questions.first())


def test_a_campaign_requiring_a_quiz_cannot_start_without_questions(researcher):
    value = value_with_pool(n_items=4)
    with pytest.raises(ApplicationError, match="no questions"):
        running_campaign(values=[value], created_by=researcher, requires_qualification=True)


def test_completion_sends_the_participant_back_with_the_code(researcher):
    value = value_with_pool(n_items=4)
    with pytest.raises(ApplicationError, match="completion_code has up to 64 letters"):
        running_campaign(values=[value], created_by=researcher, completion_code="CX7 9")
    campaign = running_campaign(values=[value], created_by=researcher, completion_code="CX79")
    assert completion_url(campaign=campaign) == "https://app.prolific.com/submissions/complete?cc=CX79"
    campaign.completion_url = "https://example.org/done?study=1"
    assert completion_url(campaign=campaign) == "https://example.org/done?study=1"
    campaign.completion_url = campaign.completion_code = ""
    assert completion_url(campaign=campaign) == ""  # nothing to send them to: the page says thank you
    session = crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=PROLIFIC))
    assert crowd_session_complete(session=session).status == CrowdSession.Status.COMPLETED
    assert crowd_session_next_step(session=session) == "completed"


def test_returned_and_timed_out_sessions_give_their_leases_back(researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=8)], created_by=researcher)
    returning = crowd_session_start(campaign=campaign, arrival=crowd_arrival_parse(params=PROLIFIC))
    idle = crowd_session_start(
        campaign=campaign, arrival=crowd_arrival_parse(params={**PROLIFIC, "PROLIFIC_PID": "idle", "SESSION_ID": "s3"})
    )
    active = crowd_session_start(
        campaign=campaign, arrival=crowd_arrival_parse(params={**PROLIFIC, "PROLIFIC_PID": "busy", "SESSION_ID": "s4"})
    )
    leases = {
        session.pk: assignment_next(campaign=campaign, annotator=session.annotator, rng=random.Random(1)).assignment
        for session in (returning, idle, active)
    }
    assert sum(CampaignItem.objects.values_list("in_flight", flat=True)) == 6

    crowd_session_return(session=returning)
    assert returning.status == CrowdSession.Status.RETURNED
    assert Assignment.objects.get(annotator=returning.annotator).status == Assignment.Status.RELEASED

    long_ago = timezone.now() - timedelta(minutes=45)
    CrowdSession.objects.filter(pk=idle.pk).update(last_seen_at=long_ago)
    Assignment.objects.filter(annotator=idle.annotator).update(issued_at=long_ago)
    CrowdSession.objects.filter(pk=active.pk).update(last_seen_at=long_ago)  # but it took a lease a moment ago
    assert crowd_sessions_time_out() == 1
    assert crowd_sessions_time_out() == 0
    idle.refresh_from_db()
    active.refresh_from_db()
    assert idle.status == CrowdSession.Status.TIMED_OUT and active.status == CrowdSession.Status.ACTIVE
    assert Assignment.objects.get(annotator=idle.annotator).status == Assignment.Status.RELEASED
    in_flight = dict(CampaignItem.objects.filter(in_flight__gt=0).values_list("pool_item_id", "in_flight"))
    assert in_flight == dict.fromkeys(leases[active.pk].item_ids, 1)  # only the active session's lease is out
