"""Log-in (rate limited per username and address) and the user management pages: admins see every account and
change roles (each change is audit-logged by the service)."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import admin_required
from accounts.ratelimit import (
    client_address,
    login_blocked_message,
    login_failure_record,
    login_limit_check,
    login_success_record,
)
from accounts.services import user_role_set
from common.exceptions import ApplicationError


class LoginView(auth_views.LoginView):
    """Django's log-in form, refusing (429) a username that failed too often from the same address
    (accounts/ratelimit.py). A blocked attempt is refused before the password is checked at all."""

    template_name = "accounts/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        limit = login_limit_check(username=username, address=client_address(request))
        if limit.blocked:
            messages.error(request, login_blocked_message(limit))
            context = self.get_context_data(form=AuthenticationForm(request, initial={"username": username}))
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(limit.retry_after_s)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        login_success_record(username=form.get_user().get_username(), address=client_address(self.request))
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        login_failure_record(username=self.request.POST.get("username", ""), address=client_address(self.request))
        return super().form_invalid(form)


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
