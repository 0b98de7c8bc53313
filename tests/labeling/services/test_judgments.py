import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.services import user_create
from common.exceptions import ApplicationError
from labeling.models import Assignment, CampaignItem, Judgment, JudgmentRetraction
from labeling.services.assignment import assignment_next
from labeling.services.judgments import judgment_submit, judgment_undo, ordering_for_pair
from tests.factories.labeling import running_campaign, value_with_pool

# every test runs on the hot path's hand-written PostgreSQL statements and on the ORM path (conftest.py)
pytestmark = pytest.mark.usefixtures("statement_path")


@pytest.fixture
def pair_campaign(db, researcher):
    return running_campaign(values=[value_with_pool(n_items=10)], created_by=researcher)


@pytest.mark.django_db
class TestSubmit:
    def test_a_pairwise_answer_is_stored_with_the_order_shown(self, pair_campaign, annotator):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        ordering, kind = ordering_for_pair(assignment=lease, answer="2")
        result = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, kind=kind,
                                 latency_ms=1200)
        judgment = result.judgment
        assert result.created
        assert judgment.ordering == [[lease.item_ids[1]], [lease.item_ids[0]]]
        assert judgment.shown_order == lease.item_ids
        lease.refresh_from_db()
        assert lease.status == Assignment.Status.SUBMITTED
        assert CampaignItem.objects.filter(judgments_count=1, in_flight=0).count() == 2

    def test_a_retry_of_the_same_answer_stores_one_judgment_and_answers_the_same(self, pair_campaign, annotator):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        ordering, kind = ordering_for_pair(assignment=lease, answer="1")
        first = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, kind=kind)
        second = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, kind=kind)
        assert second.judgment.pk == first.judgment.pk
        assert not second.created
        assert Judgment.objects.count() == 1
        assert CampaignItem.objects.filter(judgments_count=1).count() == 2  # counters moved once

    def test_a_different_answer_to_a_judged_lease_is_a_conflict(self, pair_campaign, annotator):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        judgment_submit(
            assignment_id=lease.pk, annotator=annotator, ordering=ordering_for_pair(assignment=lease, answer="1")[0]
        )
        with pytest.raises(ApplicationError) as error:
            judgment_submit(assignment_id=lease.pk, annotator=annotator,
                            ordering=ordering_for_pair(assignment=lease, answer="2")[0])
        assert error.value.status_code == 409
        assert Judgment.objects.count() == 1

    @pytest.mark.parametrize(
        ("make_ordering", "message"),
        [
            (lambda ids: [[ids[0]], [ids[0]]], "more than once"),
            (lambda ids: [[ids[0]]], "exactly the items"),
            (lambda ids: [[ids[0]], [ids[1]], [999999]], "exactly the items"),
            (lambda ids: [["a"], [ids[1]]], "must be an item id"),
            (lambda ids: "1>2", "non-empty list"),
            (lambda ids: [], "non-empty list"),
            (lambda ids: [[True], [ids[1]]], "must be an item id"),
        ],
    )
    def test_malformed_orderings_are_rejected_and_store_nothing(self, pair_campaign, annotator, make_ordering, message):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        with pytest.raises(ApplicationError, match=message):
            judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=make_ordering(lease.item_ids))
        assert Judgment.objects.count() == 0
        lease.refresh_from_db()
        assert lease.status == Assignment.Status.OPEN

    def test_an_expired_lease_is_rejected(self, pair_campaign, annotator):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(ApplicationError, match="expired") as error:
            judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=[[i] for i in lease.item_ids])
        assert error.value.status_code == 409
        assert Judgment.objects.count() == 0

    def test_someone_elses_lease_is_not_found(self, pair_campaign, annotator, other_annotator):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        with pytest.raises(ApplicationError) as error:
            judgment_submit(assignment_id=lease.pk, annotator=other_annotator, ordering=[[i] for i in lease.item_ids])
        assert error.value.status_code == 404
        assert Judgment.objects.count() == 0

    def test_neither_and_ties(self, pair_campaign, annotator):
        lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
        ordering, kind = ordering_for_pair(assignment=lease, answer="neither")
        judgment = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, kind=kind).judgment
        assert judgment.kind == Judgment.Kind.NEITHER
        assert judgment.ordering == [sorted(lease.item_ids, key=lease.item_ids.index)]

    def test_ties_are_refused_where_the_campaign_forbids_them(self, researcher, annotator):
        campaign = running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher, allow_ties=False)
        lease = assignment_next(campaign=campaign, annotator=annotator).assignment
        with pytest.raises(ApplicationError, match="ties"):
            judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=[lease.item_ids])

    def test_best_worst_shape(self, researcher, annotator):
        campaign = running_campaign(values=[value_with_pool(n_items=8)], created_by=researcher,
                                    protocol="best_worst", list_size=5)
        lease = assignment_next(campaign=campaign, annotator=annotator).assignment
        ids = lease.item_ids
        with pytest.raises(ApplicationError, match="best"):
            judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=[[i] for i in ids], kind="best_worst")
        judgment = judgment_submit(assignment_id=lease.pk, annotator=annotator,
                                   ordering=[[ids[2]], [ids[0], ids[1], ids[4]], [ids[3]]], kind="best_worst").judgment
        assert judgment.kind == "best_worst"


@pytest.mark.django_db
def test_undo_retracts_the_last_judgment_and_shows_the_comparison_again(pair_campaign, annotator):
    lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
    judgment = judgment_submit(
        assignment_id=lease.pk, annotator=annotator, ordering=[[i] for i in lease.item_ids]
    ).judgment
    again = judgment_undo(judgment_id=judgment.pk, annotator=annotator)
    assert JudgmentRetraction.objects.filter(judgment=judgment).exists()
    assert again.item_ids == lease.item_ids
    assert assignment_next(campaign=pair_campaign, annotator=annotator).assignment.pk == again.pk
    assert CampaignItem.objects.filter(judgments_count=0, in_flight=1).count() == 2
    with pytest.raises(ApplicationError, match="already undone"):
        judgment_undo(judgment_id=judgment.pk, annotator=annotator)


@pytest.mark.django_db
def test_undo_only_within_the_window(pair_campaign, annotator):
    lease = assignment_next(campaign=pair_campaign, annotator=annotator).assignment
    judgment = judgment_submit(
        assignment_id=lease.pk, annotator=annotator, ordering=[[i] for i in lease.item_ids]
    ).judgment
    Judgment.objects.filter(pk=judgment.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(ApplicationError, match="seconds only"):
        judgment_undo(judgment_id=judgment.pk, annotator=annotator)


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_get_no_double_issued_lease_and_lose_no_judgment(researcher):
    """Many annotators at once (threads with their own PostgreSQL connections): every item receives at most
    judgments_per_item judgments, every submitted answer is stored exactly once."""
    value = value_with_pool(n_items=30)
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=3)
    annotators = [
        user_create(username=f"crowd{i}", password="x-pass-12345", role=User.Role.ANNOTATOR) for i in range(8)
    ]
    submitted: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(annotator):
        try:
            for _ in range(40):
                nxt = assignment_next(campaign=campaign, annotator=annotator)
                if nxt.assignment is None:
                    if nxt.reason == "busy":
                        continue
                    break
                lease = nxt.assignment
                for _retry in range(2):  # a client retry must not duplicate
                    judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=[[i] for i in lease.item_ids])
                with lock:
                    submitted.append(lease.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(a,)) for a in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Judgment.objects.count() == len(submitted) == len(set(submitted))
    counts: dict[int, int] = {}
    for ordering in Judgment.objects.values_list("ordering", flat=True):
        for group in ordering:
            for item in group:
                counts[item] = counts.get(item, 0) + 1
    assert max(counts.values()) <= 3
    assert sum(counts.values()) >= 0.8 * 30 * 3  # nearly every slot filled
    stored = dict(CampaignItem.objects.values_list("pool_item_id", "judgments_count"))
    assert all(stored[item] == n for item, n in counts.items())
    assert CampaignItem.objects.filter(in_flight__gt=0).count() == 0


@pytest.mark.django_db
def test_a_comparison_released_by_an_undo_can_be_handed_out_again(researcher, annotator):
    """Undo releases the lease handed out after the undone answer; its items must stay reachable."""
    campaign = running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher, judgments_per_item=1)
    first = assignment_next(campaign=campaign, annotator=annotator).assignment
    judgment = judgment_submit(
        assignment_id=first.pk, annotator=annotator, ordering=[[i] for i in first.item_ids]
    ).judgment
    pending = assignment_next(campaign=campaign, annotator=annotator).assignment
    again = judgment_undo(judgment_id=judgment.pk, annotator=annotator)
    pending.refresh_from_db()
    assert pending.status == Assignment.Status.RELEASED
    judgment_submit(assignment_id=again.pk, annotator=annotator, ordering=[[i] for i in again.item_ids])
    answered = 1
    while (nxt := assignment_next(campaign=campaign, annotator=annotator)).assignment is not None:
        judgment_submit(assignment_id=nxt.assignment.pk, annotator=annotator,
                        ordering=[[i] for i in nxt.assignment.item_ids])
        answered += 1
        assert answered <= 3
    assert answered == 3  # 6 items, one judgment each, pairs
    assert nxt.reason == "complete"


@pytest.mark.django_db(transaction=True)
def test_one_annotators_concurrent_requests_share_one_lease(researcher, annotator):
    """A double click, or a client retrying `next` while the first is still running: the requests queue on the
    membership lock, and the later ones resume the lease the first one stored instead of opening more."""
    campaign = running_campaign(values=[value_with_pool(n_items=30)], created_by=researcher)
    assignment_next(campaign=campaign, annotator=annotator)  # the membership row exists
    Assignment.objects.all().delete()
    CampaignItem.objects.update(in_flight=0)
    start = threading.Barrier(6)
    leases: list[int] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            start.wait()
            lease = assignment_next(campaign=campaign, annotator=annotator).assignment
            assert lease is not None
            leases.append(lease.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(leases)) == 1
    assert Assignment.objects.filter(status=Assignment.Status.OPEN).count() == 1
    assert sum(CampaignItem.objects.values_list("in_flight", flat=True)) == 2
