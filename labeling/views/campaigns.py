"""Researchers' campaign pages: the list with progress, the design form, and one campaign's control room.

A refused request keeps the status the service chose (400 bad input, 409 conflicts with the campaign's state) and
shows the reason on the page: on the form next to the field it concerns, or as a message.
"""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from labeling.forms import CampaignForm, CampaignInstructionsForm
from labeling.models import Campaign
from labeling.selectors import (
    campaign_instructions_history,
    campaign_list,
    campaign_member_list,
    campaign_progress_list,
    campaign_recent_assignments,
)
from labeling.services.campaigns import campaign_create, campaign_instructions_update, campaign_set_status

# The buttons of the detail page: (target status, label), offered when the service would allow the transition.
STATUS_ACTIONS: dict[str, list[tuple[str, str]]] = {
    Campaign.Status.DRAFT: [(Campaign.Status.RUNNING, "Start"), (Campaign.Status.FINISHED, "Finish")],
    Campaign.Status.RUNNING: [(Campaign.Status.PAUSED, "Pause"), (Campaign.Status.FINISHED, "Finish")],
    Campaign.Status.PAUSED: [(Campaign.Status.RUNNING, "Resume"), (Campaign.Status.FINISHED, "Finish")],
    Campaign.Status.FINISHED: [],
}


@researcher_required
def campaign_list_view(request: HttpRequest) -> HttpResponse:
    campaigns = list(campaign_list())
    progress = campaign_progress_list(campaigns=campaigns)
    rows = [(campaign, progress[campaign.pk]) for campaign in campaigns]
    return render(request, "labeling/campaign_list.html", {"rows": rows})


@researcher_required
def campaign_create_view(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = CampaignForm(request.POST)
        if form.is_valid():
            try:
                campaign = campaign_create(
                    settings=form.to_settings(), values=form.cleaned_data["values"], created_by=request.user
                )
            except ApplicationError as exc:
                _add_service_error(form, exc)
                status = exc.status_code
            else:
                messages.success(request, f"Campaign “{campaign.name}” created as a draft. Start it when ready.")
                return redirect("labeling:campaign_detail", campaign_id=campaign.pk)
        else:
            status = 400
    else:
        form = CampaignForm()
    return render(request, "labeling/campaign_create.html", {"form": form}, status=status)


@researcher_required
def campaign_detail(request: HtmxHttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(campaign_list(), pk=campaign_id)
    if request.htmx:
        # the progress panel polls itself while the campaign runs
        return render(request, "labeling/campaign_detail.html#campaign-progress", _progress_context(campaign))
    return _render_detail(request, campaign)


@researcher_required
@require_POST
def campaign_status_update(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    try:
        campaign = campaign_set_status(campaign=campaign, status=request.POST.get("status", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _render_detail(request, campaign, status=exc.status_code)
    messages.success(request, f"Campaign “{campaign.name}” is now {campaign.get_status_display().lower()}.")
    return redirect("labeling:campaign_detail", campaign_id=campaign.pk)


@researcher_required
@require_POST
def campaign_instructions_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    form = CampaignInstructionsForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, campaign, instructions_form=form, status=400)
    try:
        version = campaign_instructions_update(
            campaign=campaign, text=form.cleaned_data["text"], updated_by=request.user
        )
    except ApplicationError as exc:
        form.add_error("text", exc.message)
        return _render_detail(request, campaign, instructions_form=form, status=exc.status_code)
    messages.success(request, f"Instructions saved as version {version.version}; new comparisons show it.")
    return redirect("labeling:campaign_detail", campaign_id=campaign.pk)


def _add_service_error(form: CampaignForm, exc: ApplicationError) -> None:
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def _progress_context(campaign: Campaign) -> dict[str, Any]:
    return {"campaign": campaign, "progress": campaign_progress_list(campaigns=[campaign])[campaign.pk]}


def _render_detail(
    request: HttpRequest,
    campaign: Campaign,
    *,
    instructions_form: CampaignInstructionsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    history = list(campaign_instructions_history(campaign=campaign))
    if instructions_form is None:
        instructions_form = CampaignInstructionsForm(initial={"text": history[0].text if history else ""})
    context = {
        **_progress_context(campaign),
        "status_actions": STATUS_ACTIONS[campaign.status],
        "instructions_history": history,
        "instructions_form": instructions_form,
        "members": campaign_member_list(campaign=campaign),
        "recent_assignments": campaign_recent_assignments(campaign=campaign),
    }
    return render(request, "labeling/campaign_detail.html", context, status=status)
