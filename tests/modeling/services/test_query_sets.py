"""Query sets: CSV imports all-or-nothing with file:line problems, the idempotent default set, and deletion only
of sets no evaluation uses."""

import codecs

import pytest

from common.exceptions import ApplicationError
from modeling.models import Query, QuerySet, SteeringEvaluation
from modeling.services.query_sets import (
    DEFAULT_QUERY_SET_NAME,
    MAX_QUERY_CHARS,
    query_set_delete,
    query_set_get,
    query_set_import,
    query_set_load_default,
)

pytestmark = pytest.mark.django_db


def import_csv(text: str, name: str = "Set", file_name: str = "queries.csv", **options) -> QuerySet:
    return query_set_import(name=name, data=text.encode("utf-8"), file_name=file_name, **options)


def test_the_default_set_holds_thirty_distinct_questions_and_loads_once(platform_admin):
    query_set, created = query_set_load_default(created_by=platform_admin)
    assert created and query_set.name == DEFAULT_QUERY_SET_NAME
    texts = list(query_set.queries.values_list("text", flat=True))
    assert len(texts) == 30 == len(set(texts))
    assert all(text.endswith("?") for text in texts)
    again, created_again = query_set_load_default()
    assert again == query_set and not created_again
    assert Query.objects.count() == 30


def test_an_import_keeps_file_order_and_ignores_other_columns_blank_lines_and_a_bom(platform_admin):
    data = codecs.BOM_UTF8 + (
        b'id,Query,source\n1,  Should I  forgive my brother? ,gpv\n\n2,"Is it fair to\nkeep a found wallet?",own\n'
    )
    query_set = query_set_import(
        name="Dilemmas", data=data, file_name="dilemmas.csv", description="Two questions", created_by=platform_admin
    )
    assert list(query_set.queries.values_list("position", "text")) == [
        (0, "Should I forgive my brother?"), (1, "Is it fair to keep a found wallet?"),
    ]
    assert (query_set.source, query_set.created_by) == ("dilemmas.csv", platform_admin)
    assert query_set_get(query_set_id=query_set.pk).n_queries == 2


def test_every_problem_is_listed_with_file_and_line_and_nothing_is_written():
    text = (
        "query,source\n"
        "What is courage?,own\n"
        ",gpv\n"  # line 3: empty
        "what is   COURAGE?,own\n"  # line 4: duplicate of line 2
        f"{'x' * (MAX_QUERY_CHARS + 1)},own\n"  # line 5: too long
    )
    with pytest.raises(ApplicationError) as caught:
        import_csv(text, file_name="bad.csv")
    assert caught.value.extra["problems"] == [
        "bad.csv:3: query is empty",
        "bad.csv:4: the same query as line 2",
        f"bad.csv:5: query is {MAX_QUERY_CHARS + 1} characters long; the limit is {MAX_QUERY_CHARS}",
    ]
    assert caught.value.message.startswith("Query set rejected, nothing was written: 3 problems.")
    assert not QuerySet.objects.exists() and not Query.objects.exists()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"question,source\nWhy?,x\n", "q.csv:1: missing required column 'query' (found columns: question, source)"),
        (b"", "q.csv: the file is empty; expected a header line with a 'query' column"),
        (b"query\n\n", "q.csv: the file has a header but no queries"),
        (b"query\nfine\ncaf\xe9?\n", "q.csv:3: not valid UTF-8 (byte 0xe9); save the file as UTF-8"),
        (b'query\n"unterminated\n', "q.csv:2"),
        (b"query\nShould I move, or stay?\n", "q.csv:2: 2 fields but the header has 1; put quotes around a query"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(data, problem):
    with pytest.raises(ApplicationError) as caught:
        query_set_import(name="Q", data=data, file_name="q.csv")
    assert caught.value.extra["problems"][0].startswith(problem)
    assert not QuerySet.objects.exists()


def test_names_are_required_and_unique():
    import_csv("query\nWhy?\n", name="Mine")
    with pytest.raises(ApplicationError, match="named 'Mine' already exists"):
        import_csv("query\nHow?\n", name="Mine")
    with pytest.raises(ApplicationError, match="needs a name"):
        import_csv("query\nHow?\n", name="  ")
    assert Query.objects.count() == 1


def test_only_a_set_no_evaluation_uses_can_be_deleted():
    used, unused = import_csv("query\nWhy?\n", name="Used"), import_csv("query\nHow?\n", name="Unused")
    SteeringEvaluation.objects.create(name="Benevolence run", query_set=used)
    with pytest.raises(ApplicationError, match="used by 1 evaluation") as caught:
        query_set_delete(query_set=used)
    assert caught.value.status_code == 409
    query_set_delete(query_set=unused)
    assert list(QuerySet.objects.values_list("name", flat=True)) == ["Used"]
