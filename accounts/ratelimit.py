"""Login rate limiting: after VALUEFLOW_LOGIN_MAX_FAILURES failed log-ins for one username from one address
within VALUEFLOW_LOGIN_WINDOW_S seconds, further attempts for that pair are refused (429) until the window ends.

The counter lives in the cache (Redis in production), keyed by a hash of (username, client address), so guessing
one account's password from one place is slowed to a handful of tries per window while the owner, logging in from
elsewhere, is not locked out. A successful log-in clears the counter. Django's PBKDF2 hasher already makes each
guess cost the server; this bounds how many guesses there are. When the cache is down the limiter lets attempts
through (the cache backend reports the outage): an outage of Redis must not lock every user out.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger("valueflow.audit")


@dataclass(frozen=True)
class LoginLimit:
    blocked: bool
    failures: int
    retry_after_s: int


def client_address(request: HttpRequest) -> str:
    """The client's address. Behind a reverse proxy set VALUEFLOW_CLIENT_IP_HEADER to the header the proxy writes
    (e.g. HTTP_X_REAL_IP); a header any client could send is never trusted by default."""
    header = settings.VALUEFLOW_CLIENT_IP_HEADER
    if header and request.META.get(header):
        return str(request.META[header]).split(",")[0].strip()
    return str(request.META.get("REMOTE_ADDR", ""))


def _key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()[:32]
    return f"valueflow:login-failures:{digest}"


def login_limit_check(*, username: str, address: str) -> LoginLimit:
    failures = int(cache.get(_key(username, address)) or 0)
    blocked = failures >= settings.VALUEFLOW_LOGIN_MAX_FAILURES
    return LoginLimit(blocked=blocked, failures=failures, retry_after_s=settings.VALUEFLOW_LOGIN_WINDOW_S)


def login_failure_record(*, username: str, address: str) -> int:
    """Count one failed log-in; the window starts with the first failure. Returns the failures in the window."""
    key = _key(username, address)
    window = settings.VALUEFLOW_LOGIN_WINDOW_S
    if cache.add(key, 1, timeout=window):
        failures = 1
    else:
        try:
            failures = cache.incr(key)
        except ValueError:  # the key expired between add() and incr()
            cache.set(key, 1, timeout=window)
            failures = 1
        except Exception:  # noqa: BLE001 - the cache is down: see the module docstring
            return 0
    if failures == settings.VALUEFLOW_LOGIN_MAX_FAILURES:
        logger.warning("login blocked: %s failed log-ins for username %r from %s", failures, username[:150], address)
    return failures


def login_success_record(*, username: str, address: str) -> None:
    cache.delete(_key(username, address))


def login_blocked_message(limit: LoginLimit) -> str:
    minutes = max(1, round(limit.retry_after_s / 60))
    return (
        f"Too many failed log-ins for this username from your address ({limit.failures}). "
        f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again, or ask an administrator to reset "
        "your password."
    )
