"""HTTP basic authentication for the API with the same failed-log-in limit as the log-in form
(accounts/ratelimit.py): a client that keeps sending wrong credentials for one username gets 429, not more guesses."""

from typing import Any

from drf_spectacular.authentication import BasicScheme
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

from accounts.ratelimit import client_address, login_blocked_message, login_failure_record, login_limit_check


class RateLimitedBasicAuthentication(BasicAuthentication):
    def authenticate_credentials(self, userid: str, password: str, request: Any = None) -> tuple[Any, None]:
        address = client_address(request) if request is not None else ""
        limit = login_limit_check(username=userid, address=address)
        if limit.blocked:
            raise exceptions.Throttled(wait=limit.retry_after_s, detail=login_blocked_message(limit))
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            login_failure_record(username=userid, address=address)
            raise


class RateLimitedBasicScheme(BasicScheme):
    """Documents the class in the OpenAPI schema as plain HTTP basic auth (which it is, plus the limit)."""

    target_class = "accounts.authentication.RateLimitedBasicAuthentication"
