import random
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, CampaignItem
from labeling.services.assignment import assignment_next, assignments_expire_stale
from labeling.services.judgments import judgment_submit
from tests.factories.labeling import running_campaign, value_with_pool

# every test runs on the hand-written PostgreSQL statements and on the ORM path (conftest.py)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("statement_path")]


def _answer(assignment, annotator):
    return judgment_submit(
        assignment_id=assignment.pk, annotator=annotator, ordering=[[i] for i in assignment.item_ids], latency_ms=900
    )


def test_next_resumes_the_open_lease_before_anything_else(researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=10)], created_by=researcher)
    first = assignment_next(campaign=campaign, annotator=annotator)
    again = assignment_next(campaign=campaign, annotator=annotator)
    assert first.assignment is not None
    assert again.assignment.pk == first.assignment.pk
    assert again.reason == "resume"


def test_next_never_repeats_a_comparison_for_the_same_annotator(researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher, judgments_per_item=50)
    keys = []
    rng = random.Random(3)
    while True:
        nxt = assignment_next(campaign=campaign, annotator=annotator, rng=rng)
        if nxt.assignment is None:
            break
        keys.append(nxt.assignment.comparison_key)
        _answer(nxt.assignment, annotator)
        assert len(keys) <= 15
    assert len(keys) == len(set(keys))
    assert len(keys) >= 10  # most of the 15 pairs of 6 items were handed out before the sampler gave up


def test_next_stores_the_order_shown_and_the_reason(researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=10)], created_by=researcher, protocol="listwise",
                                list_size=4)
    nxt = assignment_next(campaign=campaign, annotator=annotator)
    assert len(nxt.assignment.item_ids) == 4
    assert nxt.assignment.comparison_key == "-".join(str(i) for i in sorted(nxt.assignment.item_ids))
    assert nxt.reason.startswith("balanced")


def test_order_shown_is_randomised(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=2)
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=100)
    orders = set()
    for seed in range(12):
        nxt = assignment_next(campaign=campaign, annotator=annotator, rng=random.Random(seed))
        orders.add(tuple(nxt.assignment.item_ids))
        Assignment.objects.filter(pk=nxt.assignment.pk).update(status="released", is_repeat=True)
        CampaignItem.objects.update(in_flight=0)
    assert len(orders) == 2


def test_cap_stops_an_annotator(researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=10)], created_by=researcher, per_annotator_cap=2)
    for _ in range(2):
        _answer(assignment_next(campaign=campaign, annotator=annotator).assignment, annotator)
    assert assignment_next(campaign=campaign, annotator=annotator).reason == "cap_reached"


def test_items_stop_at_their_judgment_target_and_the_campaign_completes(researcher, annotator, other_annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher, judgments_per_item=1)
    answered = 0
    for who in (annotator, other_annotator, annotator):
        nxt = assignment_next(campaign=campaign, annotator=who)
        if nxt.assignment:
            _answer(nxt.assignment, who)
            answered += 1
    assert answered == 2  # 4 items, 1 judgment each, 2 items per pair
    assert assignment_next(campaign=campaign, annotator=other_annotator).reason == "complete"


def test_expired_leases_are_reclaimed_and_their_items_return(researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    assert CampaignItem.objects.filter(in_flight=1).count() == 2
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert assignments_expire_stale() == 1
    assert assignments_expire_stale() == 0
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.EXPIRED
    assert CampaignItem.objects.filter(in_flight__gt=0).count() == 0


def test_paused_campaign_hands_out_nothing(researcher, annotator):
    from labeling.services.campaigns import campaign_set_status

    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher)
    campaign_set_status(campaign=campaign, status="paused")
    campaign.refresh_from_db()
    assert assignment_next(campaign=campaign, annotator=annotator).assignment is None


def test_deliberate_repeats_show_a_judged_comparison_reversed(researcher, annotator):
    campaign = running_campaign(values=[value_with_pool(n_items=20)], created_by=researcher, repeat_rate=0.5)
    rng = random.Random(1)
    repeats = []
    for _ in range(12):
        nxt = assignment_next(campaign=campaign, annotator=annotator, rng=rng)
        if nxt.assignment.is_repeat:
            repeats.append(nxt.assignment)
        _answer(nxt.assignment, annotator)
    assert repeats
    for repeat in repeats:
        assert repeat.item_ids == list(reversed(repeat.repeat_of.item_ids))


def test_next_uses_a_handful_of_queries(researcher, annotator, django_assert_max_num_queries):
    campaign = running_campaign(values=[value_with_pool(n_items=200)], created_by=researcher)
    _answer(assignment_next(campaign=campaign, annotator=annotator).assignment, annotator)
    with django_assert_max_num_queries(12):
        assert assignment_next(campaign=campaign, annotator=annotator).assignment is not None


@pytest.mark.parametrize("sampling", ["random", "balanced", "adaptive"])
def test_a_small_pool_hands_out_every_unseen_pair_before_saying_it_has_none(researcher, annotator, sampling):
    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher, judgments_per_item=100,
                                sampling=sampling)
    keys = set()
    for seed in range(7):
        nxt = assignment_next(campaign=campaign, annotator=annotator, rng=random.Random(seed))
        if nxt.assignment is None:
            break
        keys.add(nxt.assignment.comparison_key)
        _answer(nxt.assignment, annotator)
    assert len(keys) == 6  # all pairs of 4 texts, each once
