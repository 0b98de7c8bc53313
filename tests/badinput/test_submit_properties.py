"""Every way of answering a comparison — the service, the annotate API — takes any input: a valid answer is stored,
anything else is refused with a clear 4xx and a message, and a refusal stores nothing. Oversized bodies, client
clocks that disagree with the server's, duplicate and conflicting submissions included."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.exceptions import ApplicationError
from labeling.models import Assignment, CampaignItem, Judgment
from labeling.services.assignment import assignment_next
from labeling.services.judgments import MAX_CLIENT_INFO_BYTES, judgment_submit
from tests.factories.labeling import running_campaign, value_with_pool

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def listwise(researcher):
    value = value_with_pool(n_items=40, value_key="care")
    return running_campaign(values=[value], created_by=researcher, protocol="listwise", list_size=3,
                            judgments_per_item=1000)


class Leases:
    """Hands out the annotator's current lease, a new one once the last was answered."""

    def __init__(self, campaign, annotator) -> None:  # type: ignore[no-untyped-def]
        self.campaign, self.annotator = campaign, annotator

    def current(self) -> Assignment:
        lease = assignment_next(campaign=self.campaign, annotator=self.annotator).assignment
        assert lease is not None, "the campaign ran out of comparisons"
        return lease


def orderings_about(item_ids: list[int]):  # type: ignore[no-untyped-def]
    """Valid orderings, near misses (a missing, extra, repeated or foreign id; wrong types) and junk."""
    ids = st.sampled_from(item_ids)
    return st.one_of(
        st.permutations(item_ids).map(lambda order: [[i] for i in order]),
        st.lists(st.lists(ids, max_size=3), max_size=4),
        st.lists(st.one_of(ids, st.integers(), st.text(max_size=3), st.booleans(), st.none()), max_size=4),
        json_values,
    )


@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_service_stores_a_valid_answer_and_refuses_anything_else_without_a_trace(listwise, annotator, data):
    leases = Leases(listwise, annotator)
    lease = leases.current()
    ordering = data.draw(orderings_about(list(lease.item_ids)), label="ordering")
    kind = data.draw(st.sampled_from(["ranking", "best_worst", "neither", "tie", ""]), label="kind")
    before = Judgment.objects.count()
    exposures = sum(CampaignItem.objects.values_list("judgments_count", flat=True))
    try:
        result = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering, kind=kind)
    except ApplicationError as exc:  # a refusal is one of the two allowed outcomes, not the expected one
        assert exc.message and 400 <= exc.status_code < 500  # noqa: PT017
        assert Judgment.objects.count() == before
        assert sum(CampaignItem.objects.values_list("judgments_count", flat=True)) == exposures
        assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.OPEN
        return
    stored = [item for group in result.judgment.ordering for item in group]
    assert sorted(stored) == sorted(lease.item_ids)


@PROPERTY_SETTINGS
@given(body=st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "ordering": json_values, "kind": json_values, "answer": json_values, "latency_ms": json_values,
    "client_info": json_values, "created_at": st.text(max_size=30)})))
def test_any_json_body_to_the_submit_api_gets_a_clean_answer(listwise, annotator, annotator_api, body):
    lease = Leases(listwise, annotator).current()
    before = Judgment.objects.count()
    # json.dumps writes NaN and Infinity, which are not JSON: the API must refuse those cleanly too.
    response = annotator_api.post(f"/api/v1/assignments/{lease.pk}/submit/", json.dumps(body),
                                  content_type="application/json")
    assert response.status_code in (200, 201, 400, 404, 409), response.content[:300]
    if response.status_code >= 400:
        assert response.json()["message"]
        assert Judgment.objects.count() == before


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=300))
def test_bytes_that_are_not_json_get_400_with_a_message(listwise, annotator, annotator_api, raw):
    lease = Leases(listwise, annotator).current()
    response = annotator_api.post(f"/api/v1/assignments/{lease.pk}/submit/", raw, content_type="application/json")
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert response.json()["message"]


def test_a_body_over_the_size_limit_gets_413_naming_the_limit(listwise, annotator, annotator_client, settings):
    lease = Leases(listwise, annotator).current()
    body = {"ordering": [[i] for i in lease.item_ids], "client_info": {"padding": "x" * (11 * 1024 * 1024)}}
    response = annotator_client.post(f"/api/v1/assignments/{lease.pk}/submit/", json.dumps(body),
                                     content_type="application/json")
    assert response.status_code == 413
    assert f"over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in response.json()["message"]
    assert Judgment.objects.count() == 0


@pytest.mark.parametrize(
    ("client_info", "message"),
    [
        ({"padding": "x" * MAX_CLIENT_INFO_BYTES}, f"the limit is {MAX_CLIENT_INFO_BYTES:,}"),
        ({"agent": "bad\u0000byte"}, "must not contain NUL characters"),
    ],
)
def test_client_info_that_cannot_be_kept_is_refused(listwise, annotator, annotator_api, client_info, message):
    lease = Leases(listwise, annotator).current()
    response = annotator_api.post(
        f"/api/v1/assignments/{lease.pk}/submit/",
        {"ordering": [[i] for i in lease.item_ids], "client_info": client_info}, format="json",
    )
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert Judgment.objects.count() == 0


def test_client_clocks_are_ignored_the_server_clock_decides(listwise, annotator, annotator_api):
    lease = Leases(listwise, annotator).current()
    skewed = {"created_at": "1999-01-01T00:00:00Z", "expires_at": "2999-01-01T00:00:00Z", "sent_at": "2999-01-01"}
    response = annotator_api.post(
        f"/api/v1/assignments/{lease.pk}/submit/",
        {"ordering": [[i] for i in lease.item_ids], "client_info": {"clock": "2999-01-01T00:00:00Z"}, **skewed},
        format="json", HTTP_DATE="Mon, 01 Jan 1999 00:00:00 GMT",
    )
    assert response.status_code == 201
    judgment = Judgment.objects.get()
    assert abs((judgment.created_at - timezone.now()).total_seconds()) < 60  # the server's time, not 1999

    # A lease that expired by the server's clock is refused, whatever the client claims about the time.
    expired = Leases(listwise, annotator).current()
    Assignment.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = annotator_api.post(
        f"/api/v1/assignments/{expired.pk}/submit/",
        {"ordering": [[i] for i in expired.item_ids], **skewed}, format="json",
    )
    assert response.status_code == 409
    assert "lease has expired" in response.json()["message"]
    assert Judgment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("conflicting", [False, True], ids=["duplicates", "conflicting"])
def test_simultaneous_submissions_of_one_lease_store_one_judgment(researcher, annotator, conflicting):
    value = value_with_pool(n_items=10, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    first, second = lease.item_ids
    answers = [[[first], [second]], [[second], [first]] if conflicting else [[first], [second]]] * 3
    statuses: list[int] = []
    barrier = threading.Barrier(len(answers))

    def submit(ordering: list[list[int]]) -> None:
        client = Client()
        client.force_login(annotator)
        barrier.wait()
        response = client.post(f"/api/v1/assignments/{lease.pk}/submit/", {"ordering": ordering},
                               content_type="application/json")
        statuses.append(response.status_code)
        connections.close_all()

    threads = [threading.Thread(target=submit, args=(ordering,)) for ordering in answers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Judgment.objects.count() == 1
    assert statuses.count(201) == 1
    expected_others = {200, 409} if conflicting else {200}
    assert set(statuses) - {201} <= expected_others
    assert sum(CampaignItem.objects.values_list("judgments_count", flat=True)) == 2
