"""Domain errors raised by services and rendered as clear 4xx responses by the API and views."""

from typing import Any


class ApplicationError(Exception):
    """A request the platform understood but refuses: the message says what, where and why."""

    def __init__(self, message: str, extra: dict[str, Any] | None = None, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.status_code = status_code
