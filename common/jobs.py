"""Registry of job kinds: each app registers, in its AppConfig.ready, the service that runs each kind.

Handlers are named by dotted path so that `common` never imports the apps that use it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

_HANDLERS: dict[str, str] = {}


@dataclass
class JobContext:
    """What a job handler receives: its parameters and a way to report progress (which also beats the heart)."""

    job_id: int
    params: dict[str, Any]
    report: Callable[[float, str], None] = field(repr=False)


JobHandler = Callable[[JobContext], dict[str, Any] | None]


def register_job_handler(kind: str, dotted_path: str) -> None:
    _HANDLERS[kind] = dotted_path


def job_handler_for(kind: str) -> JobHandler:
    try:
        dotted_path = _HANDLERS[kind]
    except KeyError:
        raise LookupError(f"No handler is registered for job kind {kind!r}.") from None
    module_name, _, attribute = dotted_path.rpartition(".")
    handler: JobHandler = getattr(import_module(module_name), attribute)
    return handler


def registered_job_kinds() -> list[str]:
    return sorted(_HANDLERS)
