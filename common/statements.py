"""Hand-written statements on hot paths: a cursor that binds parameters on the server (so psycopg prepares what a
connection repeats) and the conversion of a row to a model instance as the ORM converts it. Used where building and
compiling an ORM query costs more CPU than PostgreSQL spends answering it (docs/benchmarks.md, "Annotation
throughput"): labeling.services.annotation_sql and the session's user lookup (accounts.backends)."""

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def columns(model: type[Model], alias: str) -> str:
    """The model's concrete columns, qualified by `alias`, in the order `instance` takes them."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def instance(model: type[M], row: Sequence[Any]) -> M:
    """A model instance from a row of `columns(model)`, converted as the ORM converts (JSON text → objects)."""
    values = []
    for field, raw in zip(model._meta.concrete_fields, row, strict=False):
        convert = getattr(field, "from_db_value", None)
        values.append(convert(raw, None, connection) if convert is not None and raw is not None else raw)
    # Django reads field_names only for a partial row; this row has every concrete field
    return model.from_db(connection.alias, None, values)  # type: ignore[arg-type]


def cursor(*, binary: bool = False) -> Any:
    """On PostgreSQL, a cursor that binds parameters on the server: psycopg then prepares a statement the
    connection has run a few times (its prepare_threshold), and PostgreSQL stops parsing and planning it for every
    request — Django's own cursors bind on the client, so each of their statements is parsed and planned anew.
    Wrapped as Django wraps its cursors: errors, query logs and query counts see these statements too. `binary`:
    results in PostgreSQL's binary format (no number ↔ text conversion on either side: worth it for long arrays)."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _cursor_class(binary=binary)(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


@functools.cache
def _cursor_class(*, binary: bool) -> Any:
    # imported here: psycopg is needed on PostgreSQL only
    from django.db.backends.postgresql.base import ServerBindingCursor

    if not binary:
        return ServerBindingCursor

    class BinaryResultsCursor(ServerBindingCursor):  # type: ignore[misc]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, **{"binary": True, **kwargs})  # type: ignore[misc]  # (psycopg's)

    return BinaryResultsCursor
