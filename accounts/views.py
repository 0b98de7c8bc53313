"""User management pages: admins see every account and change roles (each change is audit-logged by the service)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import admin_required
from accounts.services import user_role_set
from common.exceptions import ApplicationError


@admin_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.order_by("role", "username")
    return render(request, "accounts/user_list.html", {"users": users, "roles": User.Role.choices})


@admin_required
@require_POST
def user_role_update(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_id)
    previous_role = user.role
    try:
        user_role_set(user=user, role=request.POST.get("role", ""), changed_by=request.user)  # type: ignore[arg-type]
    except ApplicationError as exc:
        messages.error(request, f"Could not change the role of {user.username}: {exc.message}")
    else:
        if user.role == previous_role:
            messages.info(request, f"{user.username} already is {user.get_role_display()}; nothing changed.")
        else:
            messages.success(request, f"{user.username} is now {user.get_role_display()}.")
    return redirect("accounts:user_list")
