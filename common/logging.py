"""Log formats: one JSON object per line (DJANGO_LOG_FORMAT=json) for log collectors, or plain text.

Every JSON line has `time` (ISO 8601, UTC), `level`, `logger` and `message`; `exception` holds the formatted
traceback when there is one, and any `extra={...}` fields given to the logging call are kept as top-level keys.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=` and is worth keeping.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        return json.dumps(entry, default=str, ensure_ascii=False)
