"""Clean answers to requests that fail outside the view's control: a lost database connection (503, retryable) and
a request body over the size limit (413).

PostgreSQL may restart, fail over, or end a backend (`pg_terminate_backend`) while a request runs. The request's
transaction is then rolled back by the server, so nothing of it is stored; what the client needs is to hear that
plainly and to know it may send the request again. Without this middleware Django answers a bare 500 page. With it
the client gets 503 with `Retry-After` and the API's error body ({"message", "extra"}), and the broken connection is
closed at once so that the retry opens a fresh one.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("valueflow.database")

RETRY_AFTER_S = 1
MESSAGE = "The database is unreachable for a moment; nothing of this request was stored. Please send it again."


def _is_lost_connection(exc: Exception) -> bool:
    """Errors of the connection itself (server gone, backend terminated: psycopg's AdminShutdown arrives as
    Django's OperationalError), not of the SQL: constraint violations and the like remain bugs worth a 500."""
    return isinstance(exc, InterfaceError | OperationalError)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not _is_lost_connection(exc):
            return None
        logger.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
        for connection in connections.all(initialized_only=True):
            # A connection the server ended is unusable; closing it now makes the client's retry reconnect.
            connection.close_if_unusable_or_obsolete()
        response = JsonResponse({"message": MESSAGE, "extra": {"retryable": True}}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response


class RequestTooLargeMiddleware:
    """A request body over DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 with the API's error body and the limit, instead
    of Django's bare 400 page (uploads of files are limited separately, by the import service)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        sent = request.META.get("CONTENT_LENGTH") or "unknown"
        message = (
            f"The request body ({sent} bytes) is over the limit of {limit:,} bytes."
            if isinstance(exc, RequestDataTooBig)
            else f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} form fields."
        )
        return JsonResponse({"message": message, "extra": {"limit_bytes": limit}}, status=413)
