"""Crowd participants' pages (Prolific, MTurk) and researchers' cohort pages.

A participant's way through: /crowd/<campaign>/start/?PROLIFIC_PID=…&STUDY_ID=…&SESSION_ID=… logs them in (an
account is made on the first visit) → the qualification quiz, when the campaign requires one → the ordinary work
page (labeling:annotate) → when the campaign has nothing more for them, /crowd/<campaign>/complete/, which ends
the session and redirects to the platform's completion URL with the campaign's code. /crowd/<campaign>/return/
gives the study back. The work page hands over to these pages through `crowd_redirect` (quiz before work,
completion at the end), a small hook in labeling/views/annotate.py.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from labeling.models import Campaign, CrowdSession, QualificationAttempt, QualificationQuestion
from labeling.selectors import (
    campaign_list,
    cohort_get,
    cohort_list,
    crowd_session_active,
    crowd_session_latest,
    qualification_question_list,
)
from labeling.services.assignment import QUALIFICATION_REQUIRED, assignment_next
from labeling.services.cohorts import (
    cohort_campaign_assign,
    cohort_campaign_unassign,
    cohort_create,
    cohort_member_remove,
    cohort_members_add,
)
from labeling.services.crowd import (
    completion_url,
    crowd_arrival_parse,
    crowd_session_complete,
    crowd_session_next_step,
    crowd_session_return,
    crowd_session_start,
    qualification_submit,
)

# `assignment_next` reasons that mean this participant's work in the campaign is over.
WORK_DONE = {"complete", "cap_reached", "campaign_finished"}
ENDED: dict[str, tuple[str, str]] = {
    CrowdSession.Status.RETURNED: ("You returned this study", "Thank you for letting us know. You can close this tab."),
    CrowdSession.Status.TIMED_OUT: (
        "This session timed out",
        "It was idle for too long, so its comparisons went to other participants. Please return the study.",
    ),
    CrowdSession.Status.REJECTED: (
        "This session has ended",
        "Several attention checks were missed, so the session cannot continue. Please return the study.",
    ),
}


def _message(request: HttpRequest, *, title: str, text: str, status: int = 200, **extra: Any) -> HttpResponse:
    return render(request, "labeling/crowd_message.html", {"title": title, "text": text, **extra}, status=status)


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A redirect that also works for htmx requests (HX-Redirect makes htmx navigate the whole page)."""
    if request.htmx:
        response = HttpResponse(status=200)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def crowd_redirect(request: HtmxHttpRequest, *, campaign: Campaign, reason: str) -> HttpResponse | None:
    """Where the work page sends a participant instead of showing a card: the quiz when the campaign requires one,
    and the completion redirect when a crowd participant has nothing more to do. None: show the card."""
    if reason == QUALIFICATION_REQUIRED:
        return _redirect(request, reverse("labeling:crowd_quiz", args=[campaign.pk]))
    if reason in WORK_DONE:
        session = crowd_session_latest(campaign=campaign, annotator=request.user)
        if session is not None and session.status in (CrowdSession.Status.ACTIVE, CrowdSession.Status.COMPLETED):
            return _redirect(request, reverse("labeling:crowd_complete", args=[campaign.pk]))
    return None


def crowd_start(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Open to anyone: the platform's link logs the participant in (creating their account) and sends them on."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return _message(request, title="No such study", text="This link does not lead to a study.", status=404)
    try:
        arrival = crowd_arrival_parse(params=request.GET)
    except ApplicationError as exc:
        return _message(request, title="This link is incomplete", text=exc.message, status=exc.status_code)
    if arrival.is_mturk_preview:
        return _message(
            request,
            title=campaign.name,
            text="You will compare short texts by how strongly they express a human value, using the keyboard or "
            "the buttons. Accept the HIT to start.",
        )
    try:
        session = crowd_session_start(campaign=campaign, arrival=arrival)
    except ApplicationError as exc:
        return _message(request, title="This study cannot start", text=exc.message, status=exc.status_code)
    login(request, session.annotator, backend="accounts.backends.UserBackend")
    return _continue(request, session)


def _continue(request: HttpRequest, session: CrowdSession) -> HttpResponse:
    step = crowd_session_next_step(session=session)
    if step in ("quiz", "not_qualified"):
        return redirect("labeling:crowd_quiz", campaign_id=session.campaign_id)
    if step == "work":
        return redirect("labeling:annotate", campaign_id=session.campaign_id)
    if step == CrowdSession.Status.COMPLETED:
        return redirect("labeling:crowd_complete", campaign_id=session.campaign_id)
    title, text = ENDED[step]
    return _message(request, title=title, text=text)


class QuizForm(forms.Form):
    """One required radio group per question, named q<question id>."""

    def __init__(self, *args: Any, questions: list[QualificationQuestion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.questions = questions
        for number, question in enumerate(questions, start=1):
            self.fields[f"q{question.pk}"] = forms.TypedChoiceField(
                label=f"{number}. {question.prompt}",
                choices=list(enumerate(question.choices)),
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": f"Choose one answer for question {number}."},
            )

    def answers(self) -> list[int]:
        return [self.cleaned_data[f"q{question.pk}"] for question in self.questions]


@login_required
def crowd_quiz(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The qualification quiz on the value's definition: pass → the work page; fail → a polite end, no work."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not campaign.requires_qualification:
        return redirect("labeling:annotate", campaign_id=campaign.pk)
    attempts = QualificationAttempt.objects.filter(campaign=campaign, annotator_id=request.user.pk)
    attempt = attempts.order_by("-id").first()
    if attempt is not None:
        if attempt.passed:
            return redirect("labeling:annotate", campaign_id=campaign.pk)
        return _quiz_failed(request, campaign)
    questions = list(qualification_question_list(campaign=campaign))
    status = 200
    if request.method == "POST":
        form = QuizForm(request.POST, questions=questions)
        if form.is_valid():
            try:
                attempt = qualification_submit(campaign=campaign, annotator=request.user, answers=form.answers())
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                if attempt.passed:
                    messages.success(request, "Thank you — you are ready to start.")
                    return redirect("labeling:annotate", campaign_id=campaign.pk)
                return _quiz_failed(request, campaign)
        else:
            status = 400
    else:
        form = QuizForm(questions=questions)
    values = campaign.values.select_related("theory").order_by("theory__order", "order")
    context = {"campaign": campaign, "form": form, "values": values}
    return render(request, "labeling/crowd_quiz.html", context, status=status)


def _quiz_failed(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    session = crowd_session_active(campaign=campaign, annotator=request.user)
    return _message(
        request,
        title="Thank you for taking part",
        text="Your answers show that this study is not the right fit for you, so there is no work for you in it. "
        "Please return the study on the platform; you will not be penalised for it.",
        return_url=reverse("labeling:crowd_return", args=[campaign.pk]) if session else "",
        testid="quiz-failed",
    )


@login_required
def crowd_complete(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Ends the participant's session once the campaign has nothing more for them, then sends them back to the
    platform's completion URL (or shows the code when the campaign has no URL)."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    session = crowd_session_latest(campaign=campaign, annotator=request.user)
    if session is None:
        return redirect("labeling:annotate_home")
    if session.status == CrowdSession.Status.ACTIVE:
        upcoming = assignment_next(campaign=campaign, annotator=request.user)
        if upcoming.reason not in WORK_DONE:
            return redirect("labeling:annotate", campaign_id=campaign.pk)  # still work (or a pause) to show
        session = crowd_session_complete(session=session)
    if session.status != CrowdSession.Status.COMPLETED:
        title, text = ENDED[session.status]
        return _message(request, title=title, text=text)
    target = completion_url(campaign=campaign)
    if target:
        return redirect(target)
    return render(request, "labeling/crowd_complete.html", {"campaign": campaign, "session": session})


@login_required
def crowd_return(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """GET: ask to confirm. POST: give the study back (open comparisons go to other participants)."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    session = crowd_session_active(campaign=campaign, annotator=request.user)
    if session is None:
        latest = crowd_session_latest(campaign=campaign, annotator=request.user)
        if latest is not None and latest.status in ENDED:
            title, text = ENDED[latest.status]
            return _message(request, title=title, text=text)
        return redirect("labeling:annotate_home")
    if request.method == "POST":
        crowd_session_return(session=session)
        title, text = ENDED[CrowdSession.Status.RETURNED]
        return _message(request, title=title, text=text)
    return render(request, "labeling/crowd_return.html", {"campaign": campaign})


# --- researchers: cohorts ---------------------------------------------------------------------------------------


class CohortForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class CohortMembersForm(forms.Form):
    usernames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Usernames, separated by commas, spaces or new lines."
    )

    def usernames_list(self) -> list[str]:
        return self.cleaned_data["usernames"].replace(",", " ").split()


@researcher_required
def cohort_list_view(request: HttpRequest) -> HttpResponse:
    """GET: the cohorts. POST: create one."""
    status = 200
    if request.method == "POST":
        form = CohortForm(request.POST)
        if form.is_valid():
            try:
                cohort = cohort_create(name=form.cleaned_data["name"], description=form.cleaned_data["description"])
            except ApplicationError as exc:
                form.add_error("name", exc.message)
                status = exc.status_code
            else:
                messages.success(request, f"Cohort “{cohort.name}” created: add annotators and campaigns.")
                return redirect("labeling:cohort_detail", cohort_id=cohort.pk)
        else:
            status = 400
    else:
        form = CohortForm()
    return render(request, "labeling/crowd_cohorts.html", {"cohorts": cohort_list(), "form": form}, status=status)


@researcher_required
def cohort_detail(request: HttpRequest, cohort_id: int, members_form: CohortMembersForm | None = None,
                  status: int = 200) -> HttpResponse:
    cohort = cohort_get(cohort_id=cohort_id)
    if cohort is None:
        return _message(request, title="No such cohort", text="It may have been deleted.", status=404)
    assigned = {campaign.pk for campaign in cohort.campaigns.all()}
    context = {
        "cohort": cohort,
        "members_form": members_form or CohortMembersForm(),
        "campaigns": cohort.campaigns.all(),
        "other_campaigns": [campaign for campaign in campaign_list() if campaign.pk not in assigned],
    }
    return render(request, "labeling/crowd_cohort_detail.html", context, status=status)


@researcher_required
@require_POST
def cohort_members_add_view(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = cohort_get(cohort_id=cohort_id)
    if cohort is None:
        return _message(request, title="No such cohort", text="It may have been deleted.", status=404)
    form = CohortMembersForm(request.POST)
    if not form.is_valid():
        return cohort_detail(request, cohort_id, members_form=form, status=400)
    try:
        added = cohort_members_add(cohort=cohort, usernames=form.usernames_list())
    except ApplicationError as exc:
        form.add_error("usernames", exc.message)
        return cohort_detail(request, cohort_id, members_form=form, status=exc.status_code)
    messages.success(request, f"Added {len(added)} annotator{'s' if len(added) != 1 else ''}.")
    return redirect("labeling:cohort_detail", cohort_id=cohort.pk)


@researcher_required
@require_POST
def cohort_member_remove_view(request: HttpRequest, cohort_id: int, user_id: int) -> HttpResponse:
    cohort = cohort_get(cohort_id=cohort_id)
    user = User.objects.filter(pk=user_id).first()
    if cohort is None or user is None:
        return _message(request, title="Not found", text="No such cohort or annotator.", status=404)
    cohort_member_remove(cohort=cohort, user=user)
    messages.success(request, f"{user.username} left “{cohort.name}”.")
    return redirect("labeling:cohort_detail", cohort_id=cohort.pk)


@researcher_required
@require_POST
def cohort_campaigns_edit(request: HttpRequest, cohort_id: int) -> HttpResponse:
    """action=assign|unassign, campaign=<id>."""
    cohort = cohort_get(cohort_id=cohort_id)
    raw = request.POST.get("campaign", "")
    campaign = Campaign.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    action = request.POST.get("action", "")
    if cohort is None or campaign is None or action not in ("assign", "unassign"):
        messages.error(request, "Choose a campaign, and whether to assign it or take it away.")
        return cohort_detail(request, cohort_id, status=400) if cohort else redirect("labeling:cohort_list")
    if action == "assign":
        cohort_campaign_assign(cohort=cohort, campaign=campaign)
        messages.success(request, f"“{campaign.name}” is now served only to members of its cohorts.")
    else:
        cohort_campaign_unassign(cohort=cohort, campaign=campaign)
        messages.success(request, f"“{campaign.name}” left “{cohort.name}”.")
    return redirect("labeling:cohort_detail", cohort_id=cohort.pk)
