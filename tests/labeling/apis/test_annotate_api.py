"""Annotating over the API: next, submit (idempotent), undo, progress — and that nobody reaches anyone else's work."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Assignment, Campaign, CampaignItem, Judgment, JudgmentRetraction
from labeling.services.assignment import assignment_next
from labeling.services.campaigns import campaign_set_status
from labeling.services.cohorts import cohort_campaign_assign, cohort_create, cohort_members_add
from labeling.services.judgments import judgment_submit
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair_campaign(researcher):
    value = value_with_pool(n_items=6, value_key="benevolence")
    return running_campaign(values=[value], created_by=researcher, judgments_per_item=2)


@pytest.fixture
def list_campaign(researcher):
    value = value_with_pool(n_items=10, value_key="care", theory_key="mft")
    return running_campaign(values=[value], created_by=researcher, protocol="listwise", list_size=4)


def _next(api, campaign):
    return api.post(reverse("api-campaign-next", args=[campaign.pk]))


def _submit(api, assignment_id, body):
    return api.post(reverse("api-assignment-submit", args=[assignment_id]), body, format="json")


def test_next_gives_the_texts_in_the_order_shown_without_the_reason_for_annotators(annotator_api, pair_campaign):
    response = _next(annotator_api, pair_campaign)
    body = response.json()["assignment"]
    lease = Assignment.objects.get()
    assert response.status_code == 200
    assert body["id"] == lease.pk
    assert [item["id"] for item in body["items"]] == lease.item_ids
    assert all(item["text"].endswith("about benevolence.") for item in body["items"])
    assert body["protocol"] == "pairwise"
    assert body["value"] == {"theory": "svt", "key": "benevolence", "name": "Benevolence",
                             "definition": "Definition of benevolence."}
    assert body["expires_at"]
    assert "reason" not in body


def test_researchers_see_why_the_sampler_chose_a_comparison(researcher_api, pair_campaign):
    body = _next(researcher_api, pair_campaign).json()["assignment"]
    assert body["reason"].startswith("balanced")


def test_next_says_why_there_is_nothing_to_do(annotator_api, researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=2)], created_by=researcher, judgments_per_item=1)
    lease = _next(annotator_api, campaign).json()["assignment"]
    _submit(annotator_api, lease["id"], {"answer": "1"})
    assert _next(annotator_api, campaign).json() == {"assignment": None, "reason": "complete"}


def test_a_submit_asking_for_next_brings_the_next_comparison_and_a_retry_brings_the_same(annotator_api, pair_campaign):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    body = {"answer": "2", "latency_ms": 1500, "next": True}
    created = _submit(annotator_api, lease["id"], body)
    retried = _submit(annotator_api, lease["id"], body)
    following = created.json()["next"]["assignment"]
    assert created.status_code == 201 and retried.status_code == 200
    assert created.json()["id"] == Judgment.objects.get().pk
    assert following["id"] != lease["id"]
    assert set(following) == {"id", "items", "protocol", "value", "expires_at", "instructions_version"}
    assert Assignment.objects.get(status=Assignment.Status.OPEN).pk == following["id"]
    assert retried.json()["next"]["assignment"] == following  # the lease handed out the first time, resumed
    assert _next(annotator_api, pair_campaign).json()["assignment"] == following
    assert "next" not in _submit(annotator_api, following["id"], {"answer": "1"}).json()


def test_a_submit_asking_for_next_says_why_there_is_none(annotator_api, researcher):
    campaign = running_campaign(values=[value_with_pool(n_items=2)], created_by=researcher, judgments_per_item=1)
    lease = _next(annotator_api, campaign).json()["assignment"]
    response = _submit(annotator_api, lease["id"], {"answer": "1", "next": True})
    assert response.status_code == 201
    assert response.json()["next"] == {"assignment": None, "reason": "complete"}


def test_the_schema_documents_the_next_comparison_in_the_submit_response(annotator_api):
    schema = annotator_api.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert schema["AssignmentSubmitInputRequest"]["properties"]["next"]["type"] == "boolean"
    assert "NextOutput" in str(schema["SubmitOutput"]["properties"]["next"])  # with its help text: allOf [$ref]


def test_next_is_404_for_an_annotator_whom_cohorts_keep_out(annotator_api, other_annotator, pair_campaign):
    cohort = cohort_create(name="Panel")
    cohort_members_add(cohort=cohort, usernames=[other_annotator.username])
    cohort_campaign_assign(cohort=cohort, campaign=pair_campaign)
    assert _next(annotator_api, pair_campaign).status_code == 404
    assert not Assignment.objects.exists()


def test_next_and_progress_are_404_for_campaigns_annotators_cannot_see(annotator_api, pair_campaign):
    campaign_set_status(campaign=pair_campaign, status=Campaign.Status.PAUSED)
    assert _next(annotator_api, pair_campaign).status_code == 404
    assert annotator_api.get(reverse("api-campaign-progress", args=[pair_campaign.pk])).status_code == 404
    assert not Assignment.objects.exists()


def test_submit_is_201_then_200_on_an_identical_retry_and_409_on_a_different_answer(annotator_api, annotator,
                                                                                    pair_campaign):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    first_id, second_id = (item["id"] for item in lease["items"])
    body = {"ordering": [[second_id], [first_id]], "kind": "ranking", "latency_ms": 2100}
    created = _submit(annotator_api, lease["id"], body)
    retried = _submit(annotator_api, lease["id"], body)
    different = _submit(annotator_api, lease["id"], {"answer": "1"})
    assert created.status_code == 201
    assert retried.status_code == 200
    assert retried.json() == created.json()
    assert created.json()["ordering"] == [[second_id], [first_id]]
    assert created.json()["shown_order"] == [first_id, second_id]
    assert created.json()["latency_ms"] == 2100
    assert different.status_code == 409
    assert Judgment.objects.count() == 1
    assert Judgment.objects.get().client_info == {"via": "api"}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("1", lambda a, b: ([[a], [b]], "ranking")), ("2", lambda a, b: ([[b], [a]], "ranking")),
     ("tie", lambda a, b: ([[a, b]], "ranking")), ("neither", lambda a, b: ([[a, b]], "neither"))],
)
def test_pair_answers_by_position(annotator_api, pair_campaign, answer, expected):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    response = _submit(annotator_api, lease["id"], {"answer": answer})
    ordering, kind = expected(*(item["id"] for item in lease["items"]))
    assert response.status_code == 201
    assert (response.json()["ordering"], response.json()["kind"]) == (ordering, kind)


@pytest.mark.parametrize(
    ("make_body", "status", "message"),
    [
        (lambda ids: {"ordering": [[ids[0]], [ids[0]]]}, 400, "more than once"),
        (lambda ids: {"ordering": [[ids[0]], [ids[1]], [ids[2]]]}, 400, "exactly the items"),
        (lambda ids: {"ordering": [[ids[0]], [ids[1]], [ids[2]], [999999]]}, 400, "exactly the items"),
        (lambda ids: {"ordering": "first > second"}, 400, "non-empty list"),
        (lambda ids: {"ordering": [[i] for i in ids], "kind": "best_worst"}, 400, "does not use best–worst"),
        (lambda ids: {"ordering": [[i] for i in ids], "answer": "1"}, 400, "Validation error."),
        (lambda ids: {}, 400, "Validation error."),
        (lambda ids: {"ordering": [[i] for i in ids], "latency_ms": -5}, 400, "Validation error."),
        (lambda ids: {"answer": "1"}, 400, "not a pair"),
    ],
)
def test_malformed_answers_are_refused_and_store_nothing(annotator_api, list_campaign, make_body, status, message):
    lease = _next(annotator_api, list_campaign).json()["assignment"]
    response = _submit(annotator_api, lease["id"], make_body([item["id"] for item in lease["items"]]))
    assert response.status_code == status
    assert message in response.json()["message"]
    assert set(response.json()) == {"message", "extra"}
    assert not Judgment.objects.exists()
    assert Assignment.objects.get().status == Assignment.Status.OPEN


def test_a_listwise_ranking_with_a_tie(annotator_api, list_campaign):
    lease = _next(annotator_api, list_campaign).json()["assignment"]
    a, b, c, d = (item["id"] for item in lease["items"])
    response = _submit(annotator_api, lease["id"], {"ordering": [[c], [a, d], [b]], "kind": "ranking"})
    assert response.status_code == 201
    assert Judgment.objects.get().ordering == [[c], [a, d], [b]]


def test_a_body_that_is_not_json_is_400(annotator_api, pair_campaign):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    response = annotator_api.post(
        reverse("api-assignment-submit", args=[lease["id"]]), "ordering=1,2", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["message"]
    assert not Judgment.objects.exists()


def test_unknown_and_foreign_assignments_are_404_and_store_nothing(annotator_api, other_annotator, pair_campaign):
    foreign = assignment_next(campaign=pair_campaign, annotator=other_annotator).assignment
    for assignment_id in (foreign.pk, 999999):
        for body in ({"answer": "1"}, {"ordering": [[i] for i in foreign.item_ids]}):
            response = _submit(annotator_api, assignment_id, body)
            assert response.status_code == 404
            assert response.json()["message"] == "No such assignment for you."
    assert not Judgment.objects.exists()


def test_an_expired_lease_is_409_and_stores_nothing(annotator_api, pair_campaign):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    Assignment.objects.filter(pk=lease["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _submit(annotator_api, lease["id"], {"answer": "1"})
    assert response.status_code == 409
    assert "expired" in response.json()["message"]
    assert not Judgment.objects.exists()


def test_undo_hands_the_same_comparison_back(annotator_api, pair_campaign):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    judgment = _submit(annotator_api, lease["id"], {"answer": "2"}).json()
    response = annotator_api.post(reverse("api-judgment-undo", args=[judgment["id"]]))
    again = response.json()["assignment"]
    assert response.status_code == 200
    assert again["id"] != lease["id"]
    assert again["items"] == lease["items"]
    assert JudgmentRetraction.objects.filter(judgment_id=judgment["id"]).exists()
    second = annotator_api.post(reverse("api-judgment-undo", args=[judgment["id"]]))
    assert second.status_code == 409


def test_nobody_undoes_someone_elses_judgment(annotator_api, other_annotator, pair_campaign):
    lease = assignment_next(campaign=pair_campaign, annotator=other_annotator).assignment
    theirs = judgment_submit(assignment_id=lease.pk, annotator=other_annotator, ordering=[[i] for i in lease.item_ids])
    response = annotator_api.post(reverse("api-judgment-undo", args=[theirs.judgment.pk]))
    assert response.status_code == 404
    assert not JudgmentRetraction.objects.exists()


def test_progress_counts_my_judgments_only(annotator_api, other_annotator, pair_campaign):
    lease = _next(annotator_api, pair_campaign).json()["assignment"]
    _submit(annotator_api, lease["id"], {"answer": "1"})
    theirs = assignment_next(campaign=pair_campaign, annotator=other_annotator).assignment
    judgment_submit(assignment_id=theirs.pk, annotator=other_annotator, ordering=[[i] for i in theirs.item_ids])
    response = annotator_api.get(reverse("api-campaign-progress", args=[pair_campaign.pk]))
    active = CampaignItem.objects.filter(campaign=pair_campaign, is_active=True).count()
    assert response.json() == {"done": 1, "cap": None, "remaining_items": active}


def test_next_and_submit_stay_within_a_small_number_of_queries(annotator_api, annotator, pair_campaign,
                                                               django_assert_max_num_queries):
    annotator_api.post(reverse("api-campaign-next", args=[pair_campaign.pk]))  # membership row created once
    Assignment.objects.all().delete()
    # next: the campaign, the sampler's transaction (membership lock, open lease, any published utility, the locked
    # window, a random partner one time in four, the seen check of the drawn pair, the lease with its exposure
    # update), the texts with their value; submit: the lease of the pair `answer`, the locked lease with its
    # campaign, the judgment with every counter. Two of each count are the test's savepoints.
    with django_assert_max_num_queries(12):
        lease = _next(annotator_api, pair_campaign).json()["assignment"]
    with django_assert_max_num_queries(5):
        response = _submit(annotator_api, lease["id"], {"answer": "1", "latency_ms": 900})
    assert response.status_code == 201
    following = _next(annotator_api, pair_campaign).json()["assignment"]
    with django_assert_max_num_queries(5 + 12 - 1):  # the campaign comes with the locked lease
        response = _submit(annotator_api, following["id"], {"answer": "1", "next": True})
    assert response.json()["next"]["assignment"] is not None
