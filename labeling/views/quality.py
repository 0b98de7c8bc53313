"""Researchers' quality-control pages of a campaign: the review of flagged annotators (reinstate, pause, remove),
the quality-control setup (settings, gold comparisons, attention checks, the qualification quiz), and the
disagreement queue, where contested pairs are decided by keyboard (1 / 2 / T, D to dismiss).

A refused request keeps the service's status and shows its message on the page (400 bad input, 409 a conflict
with the current state).
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from common.selectors import job_list_visible_to
from labeling.models import (
    Adjudication,
    AttentionCheck,
    Campaign,
    CampaignMember,
    GoldComparison,
    QualificationQuestion,
)
from labeling.selectors import (
    adjudication_counts,
    adjudication_list,
    attention_check_list,
    campaign_member_get,
    campaign_quality_members,
    crowd_session_counts,
    gold_comparison_list,
    qualification_question_list,
)
from labeling.services.adjudication import adjudication_decide, adjudication_dismiss
from labeling.services.campaigns import QualityControlSettings, campaign_quality_control_update
from labeling.services.crowd import completion_url, qualification_question_create, qualification_question_delete
from labeling.services.quality import (
    attention_check_create,
    attention_check_set_active,
    gold_comparison_create,
    gold_comparison_set_active,
    member_set_state,
    quality_update_start,
)

SHARE_HELP = "A share of comparisons, 0 to 0.5."


class QualityControlForm(forms.Form):
    random_fraction = forms.FloatField(
        min_value=0, max_value=0.5, help_text="Adaptive sampling: share of comparisons drawn at random (keeps the "
        "comparison graph connected)."
    )
    gold_rate_start = forms.FloatField(
        min_value=0, max_value=0.5, help_text=f"Gold comparisons for newcomers. {SHARE_HELP}"
    )
    gold_rate_end = forms.FloatField(
        min_value=0, max_value=0.5, help_text=f"Gold comparisons once tapered. {SHARE_HELP}"
    )
    gold_taper_judgments = forms.IntegerField(
        min_value=1, help_text="Over how many of an annotator's judgments the gold rate tapers from start to end."
    )
    attention_check_every = forms.IntegerField(
        min_value=2, required=False, help_text="An attention check every N comparisons (empty: none)."
    )
    min_ms_per_char = forms.FloatField(
        min_value=0, max_value=1000, help_text="Answers faster than this many milliseconds per character of the texts "
        "shown count as too fast (0: no floor)."
    )
    reliability_threshold = forms.FloatField(
        min_value=0, max_value=1, required=False,
        help_text="Pause an annotator whose reliability is confidently below this (empty: never).",
    )
    requires_qualification = forms.BooleanField(required=False, help_text="Ask the quiz below before any work.")
    qualification_pass_score = forms.FloatField(
        min_value=0.01, max_value=1, help_text="Share of quiz answers that must be right."
    )
    completion_code = forms.CharField(
        max_length=64, required=False, help_text="The code crowd participants report (Prolific: the study's code)."
    )
    completion_url = forms.URLField(
        required=False, assume_scheme="https",
        help_text="Where finished participants go. Empty: Prolific's completion link with the code above.",
    )

    def to_settings(self) -> QualityControlSettings:
        data = self.cleaned_data
        return QualityControlSettings(
            random_fraction=data["random_fraction"],
            gold_rate_start=data["gold_rate_start"],
            gold_rate_end=data["gold_rate_end"],
            gold_taper_judgments=data["gold_taper_judgments"],
            attention_check_every=data["attention_check_every"],
            min_ms_per_char=data["min_ms_per_char"],
            reliability_threshold=data["reliability_threshold"],
            requires_qualification=data["requires_qualification"],
            qualification_pass_score=data["qualification_pass_score"],
            completion_code=data["completion_code"].strip(),
            completion_url=data["completion_url"].strip(),
        )


class GoldForm(forms.Form):
    stronger_id = forms.IntegerField(label="Stronger text (pool item id)", min_value=1)
    weaker_id = forms.IntegerField(label="Weaker text (pool item id)", min_value=1)


class AttentionCheckForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=500,
        help_text="Shown as the instruction of the comparison, e.g. “To show you are reading, choose Text 2.”",
    )
    expected_text = forms.IntegerField(min_value=1, max_value=8, help_text="Which text (1 = the first shown) is right.")


class QuestionForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)
    choices = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), help_text="One answer per line.")
    correct_choice = forms.IntegerField(min_value=1, help_text="The number of the right answer (1 = the first line).")


def _campaign(campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign, pk=campaign_id)


def _error_to_form(form: forms.Form, exc: ApplicationError, aliases: dict[str, str] | None = None) -> None:
    field = (aliases or {}).get(exc.extra.get("field", ""), exc.extra.get("field"))
    form.add_error(field if field in form.fields else None, exc.message)


# --- the review of annotators ---------------------------------------------------------------------------------


@researcher_required
def quality_review(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Flagged, paused and removed annotators first, each with the evidence; everyone's figures below."""
    campaign = _campaign(campaign_id)
    job = None
    if (job_id := request.GET.get("job", "")).isdigit():
        job = job_list_visible_to(user=request.user).filter(pk=int(job_id)).first()
    members = campaign_quality_members(campaign=campaign)
    context = {
        "campaign": campaign,
        "members": members,
        "flagged": [m for m in members if m.flags or m.state != CampaignMember.State.ACTIVE],  # type: ignore[attr-defined]
        "job": job,
        "adjudications": adjudication_counts(campaign=campaign),
        "crowd_sessions": crowd_session_counts(campaign=campaign),
    }
    return render(request, "labeling/quality_review.html", context)


@researcher_required
@require_POST
def quality_refresh(request: HttpRequest, campaign_id: int) -> HttpResponse:
    job = quality_update_start(campaign=_campaign(campaign_id), created_by=request.user)
    return redirect(f"{reverse('labeling:quality_review', args=[campaign_id])}?job={job.pk}")


@researcher_required
@require_POST
def quality_member_state(request: HttpRequest, campaign_id: int, member_id: int) -> HttpResponse:
    """Reinstate (state=active), pause or remove an annotator; pausing and removing need a reason."""
    campaign = _campaign(campaign_id)
    member = campaign_member_get(campaign=campaign, member_id=member_id)
    if member is None:
        messages.error(request, "That annotator is not part of this campaign.")
        return redirect("labeling:quality_review", campaign_id=campaign.pk)
    state = request.POST.get("state", "")
    try:
        member = member_set_state(
            member=member, state=state, reason=request.POST.get("reason", ""), changed_by=request.user
        )
    except ApplicationError as exc:
        messages.error(request, f"{member.annotator.username}: {exc.message}")
        response = quality_review(request, campaign_id)
        response.status_code = exc.status_code
        return response
    verb = {"active": "reinstated", "paused": "paused", "removed": "removed"}[member.state]
    messages.success(request, f"{member.annotator.username} is {verb}.")
    return redirect("labeling:quality_review", campaign_id=campaign.pk)


# --- setup: settings, gold, attention checks, quiz -------------------------------------------------------------


@researcher_required
def quality_setup(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """GET: the quality-control settings and the lists of gold pairs, attention checks and quiz questions.
    POST: save the settings."""
    campaign = _campaign(campaign_id)
    status = 200
    if request.method == "POST":
        form = QualityControlForm(request.POST)
        if form.is_valid():
            try:
                campaign_quality_control_update(campaign=campaign, settings=form.to_settings())
            except ApplicationError as exc:
                _error_to_form(form, exc)
                status = exc.status_code
            else:
                messages.success(request, "Quality-control settings saved; new comparisons follow them.")
                return redirect("labeling:quality_setup", campaign_id=campaign.pk)
        else:
            status = 400
    else:
        form = QualityControlForm(initial=vars(QualityControlSettings.of(campaign)))
    return _render_setup(request, campaign, settings_form=form, status=status)


def _render_setup(request: HttpRequest, campaign: Campaign, *, status: int = 200, **forms_: forms.Form) -> HttpResponse:
    context: dict[str, Any] = {
        "campaign": campaign,
        "settings_form": forms_.get("settings_form")
        or QualityControlForm(initial=vars(QualityControlSettings.of(campaign))),
        "gold_form": forms_.get("gold_form") or GoldForm(),
        "attention_form": forms_.get("attention_form") or AttentionCheckForm(initial={"expected_text": 2}),
        "question_form": forms_.get("question_form") or QuestionForm(),
        "golds": gold_comparison_list(campaign=campaign),
        "attention_checks": attention_check_list(campaign=campaign),
        "questions": qualification_question_list(campaign=campaign),
        "completion_url": completion_url(campaign=campaign),
        "crowd_link": request.build_absolute_uri(reverse("labeling:crowd_start", args=[campaign.pk])),
    }
    return render(request, "labeling/quality_setup.html", context, status=status)


@researcher_required
@require_POST
def quality_gold_create(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    form = GoldForm(request.POST)
    if not form.is_valid():
        return _render_setup(request, campaign, gold_form=form, status=400)
    try:
        gold_comparison_create(
            campaign=campaign, stronger_id=form.cleaned_data["stronger_id"], weaker_id=form.cleaned_data["weaker_id"],
            created_by=request.user,
        )
    except ApplicationError as exc:
        _error_to_form(form, exc)
        return _render_setup(request, campaign, gold_form=form, status=exc.status_code)
    messages.success(request, "Gold comparison added; it is served silently from now on.")
    return redirect("labeling:quality_setup", campaign_id=campaign.pk)


@researcher_required
@require_POST
def quality_gold_toggle(request: HttpRequest, campaign_id: int, gold_id: int) -> HttpResponse:
    gold = get_object_or_404(GoldComparison, pk=gold_id, campaign_id=campaign_id)
    gold_comparison_set_active(gold=gold, is_active=not gold.is_active)
    messages.success(request, f"Gold comparison {'activated' if gold.is_active else 'withdrawn'}.")
    return redirect("labeling:quality_setup", campaign_id=campaign_id)


@researcher_required
@require_POST
def quality_attention_create(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    form = AttentionCheckForm(request.POST)
    if not form.is_valid():
        return _render_setup(request, campaign, attention_form=form, status=400)
    try:
        attention_check_create(
            campaign=campaign,
            prompt=form.cleaned_data["prompt"],
            expected_position=form.cleaned_data["expected_text"] - 1,
        )
    except ApplicationError as exc:
        _error_to_form(form, exc, aliases={"expected_position": "expected_text"})
        return _render_setup(request, campaign, attention_form=form, status=exc.status_code)
    messages.success(request, "Attention check added.")
    return redirect("labeling:quality_setup", campaign_id=campaign.pk)


@researcher_required
@require_POST
def quality_attention_toggle(request: HttpRequest, campaign_id: int, check_id: int) -> HttpResponse:
    check = get_object_or_404(AttentionCheck, pk=check_id, campaign_id=campaign_id)
    attention_check_set_active(check=check, is_active=not check.is_active)
    messages.success(request, f"Attention check {'activated' if check.is_active else 'withdrawn'}.")
    return redirect("labeling:quality_setup", campaign_id=campaign_id)


@researcher_required
@require_POST
def quality_question_create(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    form = QuestionForm(request.POST)
    if not form.is_valid():
        return _render_setup(request, campaign, question_form=form, status=400)
    try:
        qualification_question_create(
            campaign=campaign,
            prompt=form.cleaned_data["prompt"],
            choices=form.cleaned_data["choices"].splitlines(),
            correct_choice=form.cleaned_data["correct_choice"] - 1,
        )
    except ApplicationError as exc:
        _error_to_form(form, exc)
        return _render_setup(request, campaign, question_form=form, status=exc.status_code)
    messages.success(request, "Question added to the qualification quiz.")
    return redirect("labeling:quality_setup", campaign_id=campaign.pk)


@researcher_required
@require_POST
def quality_question_delete(request: HttpRequest, campaign_id: int, question_id: int) -> HttpResponse:
    question = get_object_or_404(QualificationQuestion, pk=question_id, campaign_id=campaign_id)
    try:
        qualification_question_delete(question=question)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _render_setup(request, _campaign(campaign_id), status=exc.status_code)
    messages.success(request, "Question deleted.")
    return redirect("labeling:quality_setup", campaign_id=campaign_id)


# --- the disagreement queue ---------------------------------------------------------------------------------


@researcher_required
def adjudication_queue(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    """The oldest open contested pair, to decide with 1 / 2 / T (or D to dismiss), and the queue behind it."""
    return _render_queue(request, _campaign(campaign_id))


def _render_queue(request: HtmxHttpRequest, campaign: Campaign, *, error: str = "", status: int = 200) -> HttpResponse:
    queue = list(adjudication_list(campaign=campaign)[:50])
    context = {
        "campaign": campaign,
        "current": queue[0] if queue else None,
        "waiting": queue[1:],
        "counts": adjudication_counts(campaign=campaign),
        "recent": adjudication_list(campaign=campaign, status=Adjudication.Status.DECIDED).reverse()[:10],
        "error": error,
    }
    template = "labeling/quality_adjudicate.html"
    if request.htmx:
        template += "#adjudication-card"
    return render(request, template, context, status=status)


@researcher_required
@require_POST
def adjudication_decide_view(request: HtmxHttpRequest, campaign_id: int, adjudication_id: int) -> HttpResponse:
    """decision = "1" (the first text is stronger), "2", "tie" or "dismiss". htmx gets the next card back."""
    campaign = _campaign(campaign_id)
    adjudication = get_object_or_404(Adjudication, pk=adjudication_id, campaign_id=campaign_id)
    first, second = adjudication.item_a_id, adjudication.item_b_id
    decision = request.POST.get("decision", "")
    orderings = {"1": [[first], [second]], "2": [[second], [first]], "tie": [[first, second]]}
    try:
        if decision == "dismiss":
            adjudication_dismiss(adjudication=adjudication, researcher=request.user)
        elif decision in orderings:
            adjudication_decide(adjudication=adjudication, researcher=request.user, ordering=orderings[decision])
        else:
            raise ApplicationError(f"Unknown decision {decision!r}: expected 1, 2, tie or dismiss.")
    except ApplicationError as exc:
        # htmx swaps only 2xx and 422 (base.html): a refused decision shows its reason above the next open pair
        status = (422 if exc.status_code == 400 else 200) if request.htmx else exc.status_code
        return _render_queue(request, campaign, error=exc.message, status=status)
    if request.htmx:
        return _render_queue(request, campaign)
    return redirect("labeling:adjudication_queue", campaign_id=campaign_id)
