"""Crowd-platform participants (Prolific, MTurk): arrival by URL, the qualification quiz, completion, return and
time-out.

A participant arrives at /crowd/<campaign>/start/ with the platform's parameters (Prolific: PROLIFIC_PID,
STUDY_ID, SESSION_ID; MTurk: workerId, assignmentId, hitId). They get an account transparently — username
"prolific-<pid>" or "mturk-<worker id>", an unusable password, the annotator role — and a CrowdSession records
the visit. Campaigns that require it ask a multiple-choice quiz on the value's definition before any work; a
failed quiz ends politely with no work. When the campaign has nothing more for them, the session completes and
the participant is sent back to the platform with the campaign's completion code. A session the participant
returns, or one idle for `SESSION_IDLE_MINUTES`, gives its open leases back.
"""

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.db import transaction
from django.db.models import DateTimeField, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from accounts.models import User
from common.exceptions import ApplicationError
from labeling.models import (
    Assignment,
    Campaign,
    CampaignMember,
    Cohort,
    CrowdSession,
    QualificationAttempt,
    QualificationQuestion,
)
from labeling.services.assignment import assignments_release_open

logger = logging.getLogger("valueflow.crowd")

# Prolific's completion link: the participant's browser is sent here with the study's completion code.
PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"
# MTurk opens a HIT in preview with this assignment id: the worker has not accepted it yet.
MTURK_PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
# A session with no new lease or page view for this long is timed out and gives its leases back.
SESSION_IDLE_MINUTES = 30
_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

# URL parameters per platform: (participant, study, session) as the platform names them.
PARAMETERS = {
    CrowdSession.Platform.PROLIFIC: ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"),
    CrowdSession.Platform.MTURK: ("workerId", "hitId", "assignmentId"),
}


@dataclass(frozen=True)
class CrowdArrival:
    platform: str
    participant_id: str
    study_id: str
    session_id: str

    @property
    def username(self) -> str:
        # not lower-cased: two platform ids that differ only in case are two people
        return f"{self.platform}-{self.participant_id}"

    @property
    def is_mturk_preview(self) -> bool:
        return self.platform == CrowdSession.Platform.MTURK and self.session_id == MTURK_PREVIEW_ASSIGNMENT


def crowd_arrival_parse(*, params: Mapping[str, str]) -> CrowdArrival:
    """Read the platform's URL parameters; name every missing or malformed one."""
    if "PROLIFIC_PID" in params or "workerId" not in params:
        platform = CrowdSession.Platform.PROLIFIC
    else:
        platform = CrowdSession.Platform.MTURK
    names = PARAMETERS[platform]
    missing = [name for name in names if not params.get(name, "").strip()]
    if missing:
        raise ApplicationError(
            f"The link from {CrowdSession.Platform(platform).label} is missing {', '.join(missing)}: "
            f"open the study again from {CrowdSession.Platform(platform).label}.",
            extra={"missing": missing},
        )
    values = [params[name].strip() for name in names]
    malformed = [name for name, value in zip(names, values, strict=True) if not _ID.match(value)]
    if malformed:
        raise ApplicationError(
            f"The link's {', '.join(malformed)} must be 1–128 letters, digits, '-' or '_'.",
            extra={"malformed": malformed},
        )
    return CrowdArrival(platform=platform, participant_id=values[0], study_id=values[1], session_id=values[2])


def crowd_session_start(*, campaign: Campaign, arrival: CrowdArrival) -> CrowdSession:
    """Find or create the participant's account and this visit's CrowdSession (a reload finds the same one)."""
    if arrival.is_mturk_preview:
        raise ApplicationError("Accept the HIT on MTurk first; this is its preview.", status_code=409)
    if campaign.status != Campaign.Status.RUNNING:
        raise ApplicationError("This study is not open right now. Please return it on the platform.", status_code=409)
    if Cohort.objects.filter(campaigns=campaign).exists():
        # a campaign restricted to named cohorts takes no one from an open link
        raise ApplicationError("This study is open to invited annotators only.", status_code=403)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(username=arrival.username).first()
        if user is None:
            user = User(username=arrival.username, role=User.Role.ANNOTATOR)
            user.set_unusable_password()
            user.save()
        elif user.role != User.Role.ANNOTATOR or user.has_usable_password() or not user.is_active:
            # a crowd link never opens a password-protected, staff or deactivated account
            raise ApplicationError("This participant id cannot be used here.", status_code=403)
        session, created = CrowdSession.objects.get_or_create(
            platform=arrival.platform,
            participant_id=arrival.participant_id,
            campaign=campaign,
            session_id=arrival.session_id,
            defaults={"study_id": arrival.study_id, "annotator": user},
        )
        if not created and session.status == CrowdSession.Status.ACTIVE:
            session.save(update_fields=["last_seen_at"])
    if created:
        logger.info("crowd session %s: %s participant %s arrived in campaign %s", session.pk, arrival.platform,
                    arrival.participant_id, campaign.pk)
    return session


def crowd_session_next_step(*, session: CrowdSession) -> str:
    """Where the participant goes now: "quiz", "work", or the session's end ("not_qualified", "completed",
    "returned", "timed_out", "rejected")."""
    if session.status != CrowdSession.Status.ACTIVE:
        return session.status
    if session.campaign.requires_qualification:
        if session.qualification_passed is None:
            passed = _qualification_result(campaign=session.campaign, annotator=session.annotator)
            if passed is None:
                return "quiz"
            CrowdSession.objects.filter(pk=session.pk).update(qualification_passed=passed)
            session.qualification_passed = passed
        if not session.qualification_passed:
            return "not_qualified"
    return "work"


def _qualification_result(*, campaign: Campaign, annotator) -> bool | None:  # type: ignore[no-untyped-def]
    attempt = QualificationAttempt.objects.filter(campaign=campaign, annotator=annotator).order_by("-id").first()
    return None if attempt is None else attempt.passed


def qualification_submit(*, campaign: Campaign, annotator, answers: Sequence[int | None]) -> QualificationAttempt:  # type: ignore[no-untyped-def]
    """Score the annotator's quiz (answers[i] is the chosen choice index of question i, in order) and record it.
    One attempt per annotator and campaign: a failed quiz ends the participant's work there."""
    questions = list(QualificationQuestion.objects.filter(campaign=campaign).order_by("order", "id"))
    if not questions:
        raise ApplicationError("This campaign has no qualification questions yet.", status_code=409)
    if len(answers) != len(questions):
        raise ApplicationError(
            f"Answer all {len(questions)} questions (got {len(answers)} answers).", extra={"field": "answers"}
        )
    unanswered = [
        str(number)
        for number, (question, answer) in enumerate(zip(questions, answers, strict=True), start=1)
        if answer is None or not 0 <= answer < len(question.choices)
    ]
    if unanswered:
        raise ApplicationError(
            f"Choose one answer for question {', '.join(unanswered)}.",
            extra={"field": "answers", "questions": unanswered},
        )
    with transaction.atomic():
        member, _ = CampaignMember.objects.select_for_update().get_or_create(campaign=campaign, annotator=annotator)
        if QualificationAttempt.objects.filter(campaign=campaign, annotator=annotator).exists():
            raise ApplicationError("You have already taken this quiz.", status_code=409)
        correct = sum(answer == question.correct_choice for question, answer in zip(questions, answers, strict=True))
        score = correct / len(questions)
        attempt = QualificationAttempt.objects.create(
            campaign=campaign,
            annotator=annotator,
            answers=list(answers),
            score=score,
            passed=score >= campaign.qualification_pass_score,
        )
        # assignment_next reads the result from the membership row it locks anyway: no extra query per request
        member.qc = {**(member.qc or {}), "qualification": {"passed": attempt.passed, "score": score}}
        member.save(update_fields=["qc"])
        CrowdSession.objects.filter(campaign=campaign, annotator=annotator, status=CrowdSession.Status.ACTIVE).update(
            qualification_passed=attempt.passed
        )
    return attempt


def completion_url(*, campaign: Campaign) -> str:
    """Where a finished participant is sent: the campaign's completion URL, else Prolific's completion link built
    from its completion code ("" when the campaign has neither: the participant is shown the code instead)."""
    if campaign.completion_url:
        return campaign.completion_url
    if campaign.completion_code:
        return PROLIFIC_COMPLETION_URL.format(code=quote(campaign.completion_code, safe=""))
    return ""


def crowd_session_complete(*, session: CrowdSession, now=None) -> CrowdSession:  # type: ignore[no-untyped-def]
    """The participant finished the campaign's work for them. Only an active session completes; calling it again
    changes nothing."""
    now = now or timezone.now()
    updated = CrowdSession.objects.filter(pk=session.pk, status=CrowdSession.Status.ACTIVE).update(
        status=CrowdSession.Status.COMPLETED, finished_at=now
    )
    session.refresh_from_db()
    if updated:
        logger.info("crowd session %s completed", session.pk)
    return session


def crowd_session_return(*, session: CrowdSession, now=None) -> CrowdSession:  # type: ignore[no-untyped-def]
    """The participant gives the study back: the session ends and their open leases go back to the pool."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = CrowdSession.objects.filter(pk=session.pk, status=CrowdSession.Status.ACTIVE).update(
            status=CrowdSession.Status.RETURNED, finished_at=now
        )
        if updated:
            assignments_release_open(campaign_id=session.campaign_id, annotator_id=session.annotator_id)
    session.refresh_from_db()
    return session


def crowd_sessions_time_out(*, now=None, idle_minutes: int = SESSION_IDLE_MINUTES) -> int:  # type: ignore[no-untyped-def]
    """Time out active sessions with no activity (a page view or a new lease) for `idle_minutes`, giving their open
    leases back. Run periodically; safe to run twice. Returns the number timed out."""
    now = now or timezone.now()
    latest_lease = (
        Assignment.objects.filter(campaign_id=OuterRef("campaign_id"), annotator_id=OuterRef("annotator_id"))
        .order_by("-issued_at")
        .values("issued_at")[:1]
    )
    idle = (
        CrowdSession.objects.filter(status=CrowdSession.Status.ACTIVE)
        .annotate(
            active_at=Greatest(
                "last_seen_at", Coalesce(Subquery(latest_lease, output_field=DateTimeField()), "last_seen_at")
            )
        )
        .filter(active_at__lt=now - timedelta(minutes=idle_minutes))
    )
    timed_out = 0
    for session in idle:
        with transaction.atomic():
            if CrowdSession.objects.filter(pk=session.pk, status=CrowdSession.Status.ACTIVE).update(
                status=CrowdSession.Status.TIMED_OUT, finished_at=now
            ):
                assignments_release_open(campaign_id=session.campaign_id, annotator_id=session.annotator_id)
                timed_out += 1
    return timed_out


# --- researchers: the quiz's questions ---------------------------------------------------------------------------


def qualification_question_create(
    *, campaign: Campaign, prompt: str, choices: Sequence[str], correct_choice: int
) -> QualificationQuestion:
    prompt = prompt.strip()
    cleaned = [choice.strip() for choice in choices if choice.strip()]
    if not prompt:
        raise ApplicationError("A question needs its text.", extra={"field": "prompt"})
    if len(cleaned) < 2:
        raise ApplicationError("A question needs at least two answer choices.", extra={"field": "choices"})
    if len(set(cleaned)) != len(cleaned):
        raise ApplicationError("Two answer choices have the same text.", extra={"field": "choices"})
    if not 0 <= correct_choice < len(cleaned):
        raise ApplicationError(
            f"The correct answer must be one of the {len(cleaned)} choices (1–{len(cleaned)}).",
            extra={"field": "correct_choice"},
        )
    order = (QualificationQuestion.objects.filter(campaign=campaign).aggregate(top=Max("order"))["top"] or 0) + 1
    return QualificationQuestion.objects.create(
        campaign=campaign, prompt=prompt, choices=cleaned, correct_choice=correct_choice, order=order
    )


def qualification_question_delete(*, question: QualificationQuestion) -> None:
    if QualificationAttempt.objects.filter(campaign_id=question.campaign_id).exists():
        raise ApplicationError(
            "Participants have already taken this quiz; its questions can no longer change.", status_code=409
        )
    question.delete()

