"""Query sets: the questions steered models answer in an evaluation.

A query set comes from a CSV file with a `query` column (other columns are ignored), imported all-or-nothing:
every problem is reported as `file:line: reason` and nothing is written unless the whole file is good. The default
set — 30 everyday questions asking for advice, opinions and decisions on dilemmas, written for ValueFlow — ships in
modeling/data/default_queries.csv and is loaded idempotently by `query_set_load_default`.

Query sets are not edited after import: evaluations point at their queries, and a changed question would silently
change what an old evaluation measured. Import a new set instead; a set no evaluation uses may be deleted.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, ProtectedError
from django.db.models import QuerySet as DjangoQuerySet

from common.exceptions import ApplicationError
from modeling.models import Query, QuerySet, SteeringEvaluation

DEFAULT_QUERY_SET_NAME = "Everyday questions (ValueFlow default)"
DEFAULT_QUERIES_PATH = Path(__file__).resolve().parent.parent / "data" / "default_queries.csv"
MAX_QUERY_CHARS = 2000
MAX_QUERIES = 20_000
MAX_LISTED_PROBLEMS = 20
# A query file is a few hundred kilobytes at most; a larger upload is a mistake, refused before it is read.
MAX_QUERY_FILE_BYTES = 5 * 1024 * 1024


# --- reads -------------------------------------------------------------------------------------------------------


def query_set_list() -> DjangoQuerySet[QuerySet]:
    return QuerySet.objects.select_related("created_by").annotate(n_queries=Count("queries")).order_by("name")


def query_set_get(*, query_set_id: int) -> QuerySet:
    query_set = query_set_list().filter(pk=query_set_id).first()
    if query_set is None:
        raise ApplicationError(f"Query set {query_set_id} does not exist.", status_code=404)
    return query_set


# --- writes ------------------------------------------------------------------------------------------------------


def query_set_import(
    *, name: str, data: bytes, file_name: str, description: str = "", source: str = "", created_by: Any = None
) -> QuerySet:
    """Create a query set from CSV bytes (UTF-8, a byte-order mark allowed) with a `query` column."""
    name = name.strip()
    if not name:
        raise ApplicationError("A query set needs a name.", extra={"field": "name"})
    if QuerySet.objects.filter(name=name).exists():
        raise ApplicationError(
            f"A query set named {name!r} already exists; choose another name.", extra={"field": "name"}
        )
    queries = parse_queries_csv(data, file_name=file_name)
    try:
        with transaction.atomic():
            query_set = QuerySet.objects.create(
                name=name,
                description=description.strip(),
                source=(source or file_name).strip()[:200],
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
            Query.objects.bulk_create(
                Query(query_set=query_set, text=text, position=position) for position, text in enumerate(queries)
            )
    except IntegrityError:  # a concurrent import took the name between our check and our insert
        raise ApplicationError(
            f"A query set named {name!r} already exists; choose another name.", extra={"field": "name"}
        ) from None
    return query_set


def query_set_load_default(*, created_by: Any = None) -> tuple[QuerySet, bool]:
    """The default query set, created from modeling/data/default_queries.csv on the first call; (set, created)."""
    existing = QuerySet.objects.filter(name=DEFAULT_QUERY_SET_NAME).first()
    if existing is not None:
        return existing, False
    try:
        query_set = query_set_import(
            name=DEFAULT_QUERY_SET_NAME,
            data=DEFAULT_QUERIES_PATH.read_bytes(),
            file_name=DEFAULT_QUERIES_PATH.name,
            description="Thirty everyday questions asking for advice, opinions and decisions on small dilemmas, "
            "written for ValueFlow.",
            source="ValueFlow",
            created_by=created_by,
        )
    except ApplicationError:
        existing = QuerySet.objects.filter(name=DEFAULT_QUERY_SET_NAME).first()
        if existing is None:  # not a lost race: the shipped file itself is broken
            raise
        return existing, False
    return query_set, True


def query_set_delete(*, query_set: QuerySet) -> None:
    """Delete a query set that no evaluation uses."""
    used_by = SteeringEvaluation.objects.filter(query_set=query_set).count()
    if used_by:
        raise ApplicationError(
            f"Query set {query_set.name!r} is used by {used_by} evaluation(s) and cannot be deleted.",
            extra={"evaluations": used_by},
            status_code=409,
        )
    try:
        query_set.delete()
    except ProtectedError:
        raise ApplicationError(
            f"Query set {query_set.name!r} has answered queries and cannot be deleted.", status_code=409
        ) from None


# --- parsing -----------------------------------------------------------------------------------------------------


def parse_queries_csv(data: bytes, *, file_name: str) -> list[str]:
    """The queries of a CSV file in file order, or ApplicationError listing every `file:line: reason`."""
    problems: list[str] = []

    def problem(line: int | None, reason: str) -> None:
        problems.append(f"{file_name}:{line}: {reason}" if line is not None else f"{file_name}: {reason}")

    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem(line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")
        _raise_problems(problems)
    queries: list[str] = []
    first_seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)  # a stray quote is an error, not data
    column: int | None = None
    width = 0
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problem(reader.line_num, f"unreadable CSV: {exc}")
            break
        line, previous_end = previous_end + 1, reader.line_num
        if column is None:
            header = [cell.strip().lower() for cell in record]
            if "query" not in header:
                found = ", ".join(cell.strip() for cell in record) or "(nothing)"
                problem(line, f"missing required column 'query' (found columns: {found})")
                break
            column, width = header.index("query"), len(header)
            continue
        if not any(cell.strip() for cell in record):
            continue  # blank lines are layout, not data
        if len(record) > width:
            problem(line, f"{len(record)} fields but the header has {width}; put quotes around a query with a comma")
            continue
        query = " ".join((record[column] if column < len(record) else "").split())
        if not query:
            problem(line, "query is empty")
        elif len(query) > MAX_QUERY_CHARS:
            problem(line, f"query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}")
        elif query.casefold() in first_seen:
            problem(line, f"the same query as line {first_seen[query.casefold()]}")
        else:
            first_seen[query.casefold()] = line
            queries.append(query)
    if column is None and not problems:
        problem(None, "the file is empty; expected a header line with a 'query' column")
    if not problems and not queries:
        problem(None, "the file has a header but no queries")
    if len(queries) > MAX_QUERIES:
        problem(None, f"{len(queries):,} queries; a query set holds at most {MAX_QUERIES:,}")
    _raise_problems(problems)
    return queries


def _raise_problems(problems: list[str]) -> None:
    if not problems:
        return
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = f"\n… and {len(problems) - len(listed)} more problems" if len(problems) > len(listed) else ""
    noun = "problem" if len(problems) == 1 else "problems"
    raise ApplicationError(
        f"Query set rejected, nothing was written: {len(problems)} {noun}.\n" + "\n".join(listed) + more,
        extra={"problems": listed, "problem_count": len(problems)},
    )
