"""The role × endpoint matrix (tests/test_permission_matrix.py) extended to objects: an annotator reaches only their
own assignments, judgments, jobs and account. Every endpoint an annotator may call that names such an object by id
is tried with another annotator's object; the answer is 404 (ids reveal nothing) and nothing changes.

The last test keeps this list complete: a new annotator-reachable route with an id of a per-user object must get a
case here in the same change.
"""

import re

import pytest
from django.test import Client

from common.services import job_create
from labeling.models import Assignment, Campaign, Judgment, JudgmentRetraction
from labeling.services.assignment import assignment_next
from labeling.services.campaigns import CampaignSettings, campaign_create
from labeling.services.judgments import judgment_submit
from tests.factories.labeling import running_campaign, value_with_pool
from tests.permission_table import ANNOTATOR, ENDPOINTS

# Route parameters naming something that belongs to one user.
PER_USER_PARAMETERS = {"assignment_id", "judgment_id", "job_id", "user_id"}
# Routes whose per-user object comes in the request body rather than the URL.
BODY_CASES = {"annotate/<int:campaign_id>/submit/": "assignment"}
COVERED_ROUTES = {
    "api/v1/assignments/<int:assignment_id>/submit/",
    "api/v1/judgments/<int:judgment_id>/undo/",
    "api/v1/jobs/<int:job_id>/",
    "jobs/<int:job_id>/",
    *BODY_CASES,
}


@pytest.fixture
def world(researcher, annotator, other_annotator):
    """The annotator `ann` has an open lease, a judgment and a job; `ann2` is the intruder."""
    value = value_with_pool(n_items=12, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    judged = assignment_next(campaign=campaign, annotator=annotator).assignment
    judgment = judgment_submit(
        assignment_id=judged.pk, annotator=annotator, ordering=[[i] for i in judged.item_ids]
    ).judgment
    open_lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    job = job_create(kind="labeling.import_texts", params={"format": "csv", "paths": []}, created_by=annotator)
    draft = campaign_create(settings=CampaignSettings(name="Not started"), values=[value], created_by=researcher)
    intruder = Client()
    intruder.force_login(other_annotator)
    return {"campaign": campaign, "judgment": judgment, "open_lease": open_lease, "job": job, "draft": draft,
            "intruder": intruder}


def test_another_annotators_lease_cannot_be_answered(world):
    lease: Assignment = world["open_lease"]
    for body in ({"ordering": [[i] for i in lease.item_ids]}, {"answer": "1"}):
        response = world["intruder"].post(f"/api/v1/assignments/{lease.pk}/submit/", body,
                                          content_type="application/json")
        assert response.status_code == 404
        assert response.json()["message"] == "No such assignment for you."
    assert Judgment.objects.filter(assignment=lease).count() == 0
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.OPEN


def test_another_annotators_lease_cannot_be_answered_through_the_page(world):
    lease: Assignment = world["open_lease"]
    response = world["intruder"].post(
        f"/annotate/{world['campaign'].pk}/submit/", {"assignment": lease.pk, "answer": "1"}
    )
    assert response.status_code == 404
    assert "not one of yours" in response.content.decode()
    assert Judgment.objects.filter(assignment=lease).count() == 0


def test_another_annotators_judgment_cannot_be_undone(world):
    judgment: Judgment = world["judgment"]
    response = world["intruder"].post(f"/api/v1/judgments/{judgment.pk}/undo/", {}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["message"] == "No such judgment of yours."
    assert not JudgmentRetraction.objects.filter(judgment=judgment).exists()


@pytest.mark.parametrize("route", ["/api/v1/jobs/{}/", "/jobs/{}/"])
def test_another_annotators_job_is_hidden(world, route):
    assert world["intruder"].get(route.format(world["job"].pk)).status_code == 404


def test_an_annotator_reads_only_their_own_account_and_progress(world, other_annotator):
    intruder = world["intruder"]
    me = intruder.get("/api/v1/me/").json()
    assert me["username"] == "ann2"
    assert intruder.get("/api/v1/users/").status_code == 403
    assert intruder.get("/accounts/users/").status_code == 403
    progress = intruder.get(f"/api/v1/campaigns/{world['campaign'].pk}/progress/").json()
    assert progress["done"] == 0  # ann's judgment is not counted as theirs


@pytest.mark.parametrize(
    "request_line",
    ["GET /api/v1/campaigns/{}/", "POST /api/v1/campaigns/{}/next/", "GET /api/v1/campaigns/{}/progress/",
     "GET /annotate/{}/"],
)
def test_a_campaign_that_is_not_running_is_hidden_from_annotators(world, request_line):
    method, path = request_line.split()
    assert world["draft"].status == Campaign.Status.DRAFT
    response = world["intruder"].generic(method, path.format(world["draft"].pk))
    assert response.status_code == 404


def test_every_annotator_route_naming_a_per_user_object_has_a_case_here():
    parameters = re.compile(r"<(?:\w+:)?(\w+)>")
    reachable = {
        endpoint.route
        for endpoint in ENDPOINTS
        if ANNOTATOR in endpoint.methods.values() and set(parameters.findall(endpoint.route)) & PER_USER_PARAMETERS
    }
    assert sorted(reachable - COVERED_ROUTES) == []
