"""Role checks shared by the API (DRF permission classes) and the HTML views (decorators)."""

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
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


_Request = TypeVar("_Request", bound=HttpRequest)
_Params = ParamSpec("_Params")
_Response = TypeVar("_Response", bound=HttpResponseBase)  # a page, or a file download (FileResponse)


def _role_required(
    check: Callable[[Any], bool],
) -> Callable[
    [Callable[Concatenate[_Request, _Params], _Response]], Callable[Concatenate[_Request, _Params], _Response]
]:
    """A view decorator: logged-in users whose role passes `check`; the view keeps its type."""

    def decorator(
        view: Callable[Concatenate[_Request, _Params], _Response],
    ) -> Callable[Concatenate[_Request, _Params], _Response]:
        @wraps(view)
        @login_required
        def wrapped(request: _Request, *args: _Params.args, **kwargs: _Params.kwargs) -> _Response:
            if not check(request.user):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


researcher_required = _role_required(_user_is_researcher)
admin_required = _role_required(_user_is_admin)
