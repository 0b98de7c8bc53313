"""The annotators' side: running campaigns with my progress, and the keyboard-first work page.

The work page shows one comparison (a "card"). Each answer is an htmx POST that stores the judgment and answers
with the NEXT card in the same round trip ("labeling/annotate.html#comparison-card", with the progress bar swapped
out-of-band). Without JavaScript the same forms post normally and are redirected back to the page.

Refused requests keep the service's status — 404 for an assignment or judgment that is not yours, 409 for an
expired lease or an undo too late — and show the reason in the card area with a "get the next comparison" button.
For htmx requests a 400 (a malformed answer) becomes 422, which base.html's htmx responseHandling swaps; every
error card also carries the header `X-ValueFlow-Card: error`, on which static/js/annotate.js swaps 404 and 409
responses into the card area too (htmx leaves other 4xx unswapped by default).
"""

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from labeling.forms import answer_from_post, latency_from_post
from labeling.models import Assignment, Campaign, Judgment
from labeling.selectors import (
    annotator_campaign_list,
    assignment_items_in_shown_order,
    assignment_of_annotator,
    campaign_get_visible_to,
    campaign_instructions_current,
    campaign_progress_for_annotator,
    campaign_progress_list,
    judgment_latest_undoable,
    judgment_of_annotator,
)
from labeling.services.assignment import NextAssignment, assignment_next
from labeling.services.judgments import UNDO_WINDOW_S, judgment_submit, judgment_undo
from labeling.views.crowd import crowd_redirect

CARD = "labeling/annotate.html#comparison-card"
PAGE = "labeling/annotate.html"

# What the card says when there is no comparison to show, by the sampler's reason.
DONE_REASONS = {"complete", "cap_reached", "campaign_finished"}
IDLE_MESSAGES = {
    "busy": "Every remaining comparison is being worked on by someone else right now. Try again in a minute.",
    "campaign_paused": "This campaign is paused. Please come back later.",
    "campaign_draft": "This campaign has not started yet.",
    "member_paused": "Your work in this campaign is paused by quality control.",
    "member_removed": "You are no longer part of this campaign.",
}


@login_required
def annotate_home(request: HttpRequest) -> HttpResponse:
    campaigns = list(annotator_campaign_list(annotator=request.user))
    return render(request, "labeling/annotate_home.html", {"campaigns": campaigns})


@login_required
def annotate(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    """The work page. Opening it leases a comparison (or resumes the open lease, so a reload shows the same one)."""
    campaign = _campaign_or_404(request, campaign_id)
    upcoming = assignment_next(campaign=campaign, annotator=request.user)
    # crowd hook (views/crowd.py): the qualification quiz before work, the platform's completion page after it
    if (elsewhere := crowd_redirect(request, campaign=campaign, reason=upcoming.reason)) is not None:
        return elsewhere
    last = judgment_latest_undoable(campaign=campaign, annotator=request.user, window_s=UNDO_WINDOW_S)
    context = _card_context(request, campaign=campaign, upcoming=upcoming, last_judgment=last)
    return render(request, CARD if request.htmx else PAGE, context)


@login_required
@require_POST
def annotate_submit(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign_or_404(request, campaign_id)
    raw_id = request.POST.get("assignment", "")
    assignment = (
        assignment_of_annotator(assignment_id=int(raw_id), annotator=request.user, campaign=campaign)
        if raw_id.isdigit()
        else None
    )
    try:
        if assignment is None:
            raise ApplicationError(
                "That comparison is not one of yours in this campaign.",
                extra={"assignment_id": raw_id},
                status_code=404,
            )
        ordering, kind = answer_from_post(assignment=assignment, protocol=campaign.protocol, data=request.POST)
        result = judgment_submit(
            assignment_id=assignment.pk,
            annotator=request.user,
            ordering=ordering,
            kind=kind,
            latency_ms=latency_from_post(request.POST),
            client_info=_client_info(request, assignment),
        )
    except ApplicationError as exc:
        return _render_error(request, campaign=campaign, error=exc)
    if not request.htmx:
        return redirect("labeling:annotate", campaign_id=campaign.pk)
    # A retried POST (created=False) gets the same next card: the lease handed out the first time is resumed.
    upcoming = assignment_next(campaign=campaign, annotator=request.user)
    if (elsewhere := crowd_redirect(request, campaign=campaign, reason=upcoming.reason)) is not None:
        return elsewhere  # a crowd participant's last answer: on to the completion redirect
    context = _card_context(request, campaign=campaign, upcoming=upcoming, last_judgment=result.judgment, saved=True)
    response = render(request, CARD, context)
    response["HX-Trigger"] = "judgment-saved"
    return response


@login_required
@require_POST
def annotate_undo(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    """Take back the last answer (within the undo window): the same comparison comes back as the next card."""
    campaign = _campaign_or_404(request, campaign_id)
    raw_id = request.POST.get("judgment", "")
    try:
        own = (
            judgment_of_annotator(judgment_id=int(raw_id), annotator=request.user, campaign=campaign)
            if raw_id.isdigit()
            else None
        )
        if own is None:
            raise ApplicationError(
                "That answer is not one of yours in this campaign.", extra={"judgment_id": raw_id}, status_code=404
            )
        again = judgment_undo(judgment_id=own.pk, annotator=request.user)
    except ApplicationError as exc:
        return _render_error(request, campaign=campaign, error=exc)
    if not request.htmx:
        return redirect("labeling:annotate", campaign_id=campaign.pk)
    context = _card_context(request, campaign=campaign, upcoming=NextAssignment(again, "undo"), undone=True)
    return render(request, CARD, context)


def _campaign_or_404(request: HttpRequest, campaign_id: int) -> Campaign:
    """Annotators reach running campaigns only; researchers may open any campaign (a draft shows no work)."""
    campaign = campaign_get_visible_to(campaign_id=campaign_id, user=request.user)
    if campaign is None:
        raise Http404("No running campaign has this id.")
    return campaign


def _client_info(request: HtmxHttpRequest, assignment: Assignment) -> dict[str, Any]:
    """What the server saw: the browser, and its own measure of the time from lease to answer."""
    return {
        "via": "web",
        "htmx": bool(request.htmx),
        "user_agent": request.headers.get("User-Agent", "")[:300],
        "server_latency_ms": int((timezone.now() - assignment.issued_at).total_seconds() * 1000),
    }


def _card_context(
    request: HttpRequest,
    *,
    campaign: Campaign,
    upcoming: NextAssignment,
    last_judgment: Judgment | None = None,
    saved: bool = False,
    undone: bool = False,
) -> dict[str, Any]:
    assignment = upcoming.assignment
    context: dict[str, Any] = {
        "campaign": campaign,
        "assignment": assignment,
        "reason": upcoming.reason,
        "saved": saved,
        "undone": undone,
        "instructions": campaign_instructions_current(campaign=campaign),
        **_progress_context(campaign, request.user),
    }
    if assignment is not None:
        items = assignment_items_in_shown_order(assignment=assignment)
        context["items"] = items
        context["value"] = items[0].value  # every item of a comparison is in the pool of the comparison's value
        context["seconds_left"] = max(0, int((assignment.expires_at - timezone.now()).total_seconds()))
    else:
        context["is_done"] = upcoming.reason in DONE_REASONS
        context["idle_message"] = IDLE_MESSAGES.get(upcoming.reason, "There is no comparison for you right now.")
    if last_judgment is not None:
        left = (last_judgment.created_at + timedelta(seconds=UNDO_WINDOW_S) - timezone.now()).total_seconds()
        if left > 0:
            context["undo_judgment"] = last_judgment
            context["undo_seconds_left"] = int(left)
    return context


def _progress_context(campaign: Campaign, annotator: Any) -> dict[str, Any]:
    """My judgments, against my cap when the campaign has one, otherwise the whole campaign's completion."""
    mine = campaign_progress_for_annotator(campaign=campaign, annotator=annotator)
    done, cap = mine["done"] or 0, mine["cap"]
    if cap:
        percent = min(100, int(100 * done / cap))
    else:
        percent = campaign_progress_list(campaigns=[campaign])[campaign.pk].percent
    return {
        "my_done": mine["done"],
        "my_cap": mine["cap"],
        "progress_percent": percent,
        "undo_window_s": UNDO_WINDOW_S,
    }


def _render_error(request: HtmxHttpRequest, *, campaign: Campaign, error: ApplicationError) -> HttpResponse:
    status = 422 if request.htmx and error.status_code == 400 else error.status_code
    context = {
        "campaign": campaign,
        "error": error.message,
        "instructions": campaign_instructions_current(campaign=campaign),
        **_progress_context(campaign, request.user),
    }
    response = render(request, CARD if request.htmx else PAGE, context, status=status)
    response["X-ValueFlow-Card"] = "error"
    return response
