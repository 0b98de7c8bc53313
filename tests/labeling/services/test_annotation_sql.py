"""The hot path's hand-written statements (labeling/services/annotation_sql.py) where they differ from the ORM path:
a `next` transaction that commits without waiting for the disk, the published-posterior probe, the random window."""

import random

import pytest
from django.db import connection, transaction

from labeling.models import PoolItem
from labeling.services import annotation_sql, sampling
from tests.factories.labeling import value_with_pool


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_next_transaction_commits_leases_without_waiting_for_the_disk():
    assert annotation_sql.enabled()
    assert _synchronous_commit() == "on"
    with transaction.atomic():
        annotation_sql.member_lock(campaign_id=1, annotator_id=1)
        assert _synchronous_commit() == "off"
    # transaction-local: the next transaction (a judgment's) waits for the disk again
    assert _synchronous_commit() == "on"


@pytest.mark.django_db(transaction=True)
def test_a_next_nested_in_a_callers_transaction_keeps_its_commit_synchronous():
    with transaction.atomic():
        with transaction.atomic():
            annotation_sql.member_lock(campaign_id=1, annotator_id=1)
        # the enclosing transaction may hold answers: its commit still waits for the disk
        assert _synchronous_commit() == "on"


@pytest.mark.django_db
def test_value_has_posterior_asks_until_a_fit_is_published_then_keeps_the_answer():
    value = value_with_pool(n_items=3)
    assert not sampling.value_has_posterior(value_id=value.pk)
    assert not annotation_sql.value_has_posterior(value_id=value.pk)
    PoolItem.objects.filter(value=value).update(utility=0.5, utility_se=0.2)
    assert sampling.value_has_posterior(value_id=value.pk)
    # a publication replaces utilities and never removes them: the yes is kept without asking again
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(annotation_sql, "value_has_posterior", lambda **_: pytest.fail("asked again"))
        assert sampling.value_has_posterior(value_id=value.pk)


@pytest.mark.django_db
def test_the_posterior_probe_reads_the_partial_index_not_the_pool():
    value = value_with_pool(n_items=3)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT 1 FROM labeling_poolitem WHERE value_id = %s AND utility IS NOT NULL LIMIT 1", [value.pk]
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "pool_item_scored" in plan


@pytest.mark.django_db
@pytest.mark.parametrize("start_at", ["first", "middle", "last"])
def test_the_random_window_statement_locks_what_the_orm_path_locks(researcher, start_at, monkeypatch):
    from labeling.models import CampaignItem
    from labeling.services import assignment
    from tests.factories.labeling import running_campaign

    value = value_with_pool(n_items=12)
    campaign = running_campaign(values=[value], created_by=researcher, sampling="random", judgments_per_item=3)
    items = list(CampaignItem.objects.filter(campaign=campaign).order_by("id"))
    CampaignItem.objects.filter(pk=items[4].pk).update(judgments_count=3)  # retired: never in a window
    CampaignItem.objects.filter(pk=items[7].pk).update(in_flight=3)  # fully leased: never in a window
    start = {"first": items[0].pk, "middle": items[6].pk, "last": items[-1].pk}[start_at]

    class FixedStart(random.Random):
        def randint(self, a: int, b: int) -> int:
            return start

    def window(path: str) -> list[int]:
        monkeypatch.setattr(annotation_sql, "enabled", lambda: path == "sql")
        eligible = lambda: sampling.eligible_items(campaign=campaign, value_id=value.pk)  # noqa: E731
        return assignment._random_window(eligible, campaign=campaign, value_id=value.pk, rng=FixedStart(), size=8)

    expected = window("orm")
    assert window("sql") == expected
    assert len(expected) == 8 and items[4].pool_item_id not in expected and items[7].pool_item_id not in expected
