"""Role checks shared by the API (DRF permission classes) and the HTML views (decorators)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission


def _user_is_researcher(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_researcher)


def _user_is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_platform_admin)


class IsResearcher(BasePermission):
    message = "Only researchers and admins may do this."

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return _user_is_researcher(request.user)


class IsPlatformAdmin(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return _user_is_admin(request.user)


ViewFunc = Callable[..., HttpResponse]


def _role_required(check: Callable[[Any], bool]) -> Callable[[ViewFunc], ViewFunc]:
    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


researcher_required = _role_required(_user_is_researcher)
admin_required = _role_required(_user_is_admin)
