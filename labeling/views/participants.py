"""Admins withdraw a participant who asked to leave the research: a confirmation page that says what will be
deleted, and the POST that does it (labeling/services/participants.py)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.models import User
from accounts.permissions import admin_required
from common.exceptions import ApplicationError
from labeling.services.participants import participant_summary, participant_withdraw, withdrawn_username


@admin_required
def participant_withdraw_view(request: HttpRequest, user_id: int) -> HttpResponse:
    participant = get_object_or_404(User, pk=user_id)
    if request.method == "POST":
        try:
            withdrawal = participant_withdraw(user=participant, withdrawn_by=request.user)
        except ApplicationError as exc:
            messages.error(request, f"Could not withdraw {participant.username}: {exc.message}")
            return redirect("labeling:participant_withdraw", user_id=participant.pk)
        messages.success(
            request,
            f"{withdrawal.former_username} has withdrawn: {withdrawal.judgments_deleted} judgments deleted, "
            f"{withdrawal.leases_released} open comparisons released, the account anonymised as "
            f"{withdrawn_username(withdrawal.user_id)}; refits of {len(withdrawal.values_refit)} "
            "values were requested.",
        )
        return redirect("accounts:user_list")
    return render(
        request,
        "labeling/participant_withdraw.html",
        {"participant": participant, "summary": participant_summary(user=participant)},
    )
