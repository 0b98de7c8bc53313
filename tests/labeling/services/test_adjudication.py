import pytest

from accounts.models import User
from accounts.services import user_create
from common.exceptions import ApplicationError
from labeling.models import Adjudication, Assignment, Judgment, PoolItem
from labeling.services.adjudication import adjudication_decide, adjudication_dismiss, adjudications_queue_refresh
from tests.factories.judgments import judgments_bulk_create
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(db) -> list[User]:
    return [user_create(username=f"judge{i}", password="pass-12345-x", role=User.Role.ANNOTATOR) for i in range(4)]


@pytest.fixture
def pairs(researcher):
    value = value_with_pool(n_items=8)
    campaign = running_campaign(values=[value], created_by=researcher)
    ids = list(PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True))
    return campaign, value, ids


def test_split_pairs_are_queued_once_and_clear_ones_are_not(pairs, crowd):
    campaign, value, ids = pairs
    a, b, c, d, e, f = ids[:6]
    orderings = [
        [[a], [b]], [[b], [a]], [[a], [b]], [[b], [a]],  # 2–2: contested
        [[c], [d]], [[c], [d]], [[c], [d]], [[d], [c]],  # 3–1: the crowd agrees enough
        [[e], [f]], [[f], [e]], [[e, f]],  # 1–1 and a tie, three annotators: contested
    ]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings[:8])
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd[:3], orderings=orderings[8:])
    assert adjudications_queue_refresh(campaign=campaign) == 2
    queued = {(adj.item_a_id, adj.item_b_id): adj for adj in Adjudication.objects.filter(campaign=campaign)}
    assert set(queued) == {(a, b), (e, f)}
    assert queued[(a, b)].disagreement == {
        "judgments": 4, "annotators": 4, "a_wins": 2, "b_wins": 2, "ties": 0, "neither": 0, "share_a": 0.5,
        "reason": "split",
    }
    assert queued[(e, f)].status == Adjudication.Status.OPEN
    assert adjudications_queue_refresh(campaign=campaign) == 0


def test_a_majority_against_a_confident_published_order_is_queued(pairs, crowd):
    campaign, value, ids = pairs
    a, b = ids[:2]
    PoolItem.objects.filter(pk=a).update(utility=2.0, utility_se=0.2)
    PoolItem.objects.filter(pk=b).update(utility=-1.0, utility_se=0.2)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd[:3], orderings=[[[b], [a]]] * 3)
    assert adjudications_queue_refresh(campaign=campaign) == 1
    adjudication = Adjudication.objects.get()
    assert adjudication.disagreement["reason"] == "contradicts the published order"
    assert adjudication.disagreement["published_probability_a"] > 0.99


def test_pairs_seen_by_fewer_than_three_annotators_wait(pairs, crowd):
    campaign, value, ids = pairs
    a, b = ids[:2]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd[:2], orderings=[[[a], [b]], [[b], [a]]])
    assert adjudications_queue_refresh(campaign=campaign) == 0


def test_a_decision_enters_the_fit_as_a_high_weight_judgment_with_its_own_lease(pairs, crowd, researcher):
    campaign, value, ids = pairs
    a, b = ids[:2]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=[[[a], [b]], [[b], [a]]] * 2)
    adjudications_queue_refresh(campaign=campaign)
    adjudication = Adjudication.objects.get()
    with pytest.raises(ApplicationError, match="orders exactly the two texts"):
        adjudication_decide(adjudication=adjudication, researcher=researcher, ordering=[[a], [ids[5]]])
    judgment = adjudication_decide(adjudication=adjudication, researcher=researcher, ordering=[[b], [a]])
    assert (judgment.weight, judgment.annotator, judgment.ordering) == (5.0, researcher, [[b], [a]])
    assert not judgment.is_quality_check
    assert judgment.assignment.status == Assignment.Status.SUBMITTED
    assert judgment.assignment.comparison_key == f"adjudication:{adjudication.pk}"
    adjudication.refresh_from_db()
    assert adjudication.status == Adjudication.Status.DECIDED and adjudication.decided_by == researcher
    with pytest.raises(ApplicationError, match="already decided"):
        adjudication_decide(adjudication=adjudication, researcher=researcher, ordering=[[a, b]])
    assert Judgment.objects.filter(weight=5.0).count() == 1


def test_a_dismissed_pair_leaves_the_queue_without_a_judgment(pairs, crowd, researcher):
    campaign, value, ids = pairs
    a, b = ids[:2]
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=[[[a], [b]], [[b], [a]]] * 2)
    adjudications_queue_refresh(campaign=campaign)
    dismissed = adjudication_dismiss(adjudication=Adjudication.objects.get(), researcher=researcher)
    assert dismissed.status == Adjudication.Status.DISMISSED
    assert not Judgment.objects.filter(annotator=researcher).exists()
    assert adjudications_queue_refresh(campaign=campaign) == 0  # a pair is queued once
