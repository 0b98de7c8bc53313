"""Snapshot API: researchers create (idempotently), list, read manifests, download files (audit-logged, no path
traversal) and diff; annotators and anonymous callers are refused; errors are {"message", "extra"}."""

import hashlib
import logging

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from labeling.models import PoolItem, Text, Theory, Value
from modeling.models import Fit, ItemScore, Snapshot
from modeling.services.fits import fit_publish
from modeling.services.snapshots import snapshot_create

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/snapshots/"


def _published_value(theory_key: str, key: str, intensities: list[float]) -> Value:
    """A value whose pool of len(intensities) texts has a fit giving them these intensities, published through the
    fits service."""
    theory, _ = Theory.objects.get_or_create(key=theory_key, defaults={"name": theory_key.upper()})
    value = Value.objects.create(theory=theory, key=key, name=key.title(), definition=".", level=2, is_target=True)
    fit = Fit.objects.create(value=value, status=Fit.Status.SUCCEEDED, backend="choix", n_items=len(intensities),
                             finished_at=timezone.now())
    for i, x in enumerate(intensities):
        content = f"{key} text {i}"
        text = Text.objects.create(content=content, content_hash=hashlib.sha256(content.encode()).hexdigest())
        item = PoolItem.objects.create(value=value, text=text)
        ItemScore.objects.create(fit=fit, pool_item=item, utility=x / 3, se=0.2, intensity=x, ci_low=x - 1,
                                 ci_high=x + 1, n_judgments=2)
    fit_publish(fit=fit)
    return value


@pytest.fixture
def snapshot(researcher) -> Snapshot:
    value = _published_value("mft", "care-harm", [4.0, -6.0])
    return snapshot_create(value_ids=[value.pk], name="Care", created_by=researcher)


def test_annotators_and_anonymous_callers_are_refused(annotator_api, anonymous_api, snapshot):
    urls = [LIST_URL, f"{LIST_URL}{snapshot.pk}/", f"{LIST_URL}{snapshot.pk}/files/manifest.json",
            f"{LIST_URL}diff/?a={snapshot.pk}&b={snapshot.pk}"]
    for url in urls:
        assert annotator_api.get(url).status_code == 403, url
        assert anonymous_api.get(url).status_code in (401, 403), url
    refused = annotator_api.post(LIST_URL, {"values": ["mft:care-harm"], "name": "x"}, format="json")
    assert refused.status_code == 403 and refused.json()["message"] == "Only researchers and admins may do this."


def test_post_creates_a_snapshot_and_the_same_content_again_returns_it(researcher_api):
    _published_value("svt", "benevolence", [3.0, 1.0])
    _published_value("mft", "care-harm", [2.0, -2.0])
    body = {"values": ["svt:benevolence", "mft:care/harm"], "name": "Both"}

    created = researcher_api.post(LIST_URL, body, format="json")
    again = researcher_api.post(LIST_URL, {**body, "name": "Both, again"}, format="json")

    assert created.status_code == 201
    data = created.json()
    assert data["values"] == ["mft:care-harm", "svt:benevolence"] and data["n_items"] == 4
    assert data["created_by"] == "res" and len(data["content_hash"]) == 64
    assert again.status_code == 200 and again.json()["id"] == data["id"] and again.json()["name"] == "Both"
    assert Snapshot.objects.count() == 1


def test_post_names_what_is_wrong(researcher_api):
    Value.objects.create(theory=Theory.objects.create(key="svt", name="Schwartz"), key="power", name="Power",
                         definition=".", level=2)

    unknown = researcher_api.post(LIST_URL, {"values": ["svt:kindness"], "name": "x"}, format="json")
    unfitted = researcher_api.post(LIST_URL, {"values": ["svt:power"], "name": "x"}, format="json")
    no_values = researcher_api.post(LIST_URL, {"values": [], "name": "x"}, format="json")

    assert unknown.status_code == 400 and "'svt:kindness': unknown value" in unknown.json()["message"]
    assert unfitted.status_code == 400 and "svt:power: no published fit" in unfitted.json()["message"]
    assert unfitted.json()["extra"]["without_published_fit"] == ["svt:power"]
    assert no_values.status_code == 400 and "values" in no_values.json()["extra"]["fields"]


def test_list_and_detail_show_the_manifest_and_file_urls(researcher_api, snapshot):
    listed = researcher_api.get(LIST_URL).json()
    assert listed["count"] == 1 and listed["results"][0]["content_hash"] == snapshot.content_hash

    detail = researcher_api.get(f"{LIST_URL}{snapshot.pk}/").json()
    assert detail["manifest"]["counts"] == {"values": 1, "items": 2, "judgments": 0}
    assert any(url.endswith(f"/api/v1/snapshots/{snapshot.pk}/files/vidb/care-harm_mft_flag_aggregated.csv")
               for url in detail["files"])
    assert researcher_api.get(f"{LIST_URL}999999/").status_code == 404


def test_file_download_serves_the_stored_bytes_and_is_audit_logged(admin_api, snapshot, caplog):
    with caplog.at_level(logging.INFO, logger="valueflow.audit"):
        response = admin_api.get(f"{LIST_URL}{snapshot.pk}/files/vidb/care-harm_mft_flag_aggregated.csv")

    stored = settings.MEDIA_ROOT / snapshot.files_dir / "vidb" / "care-harm_mft_flag_aggregated.csv"
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == stored.read_bytes()
    assert any(r.name == "valueflow.audit" and "(adm) downloaded vidb/care-harm_mft_flag_aggregated.csv"
               in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("filename", ["../../../pyproject.toml", "%2e%2e/%2e%2e/settings.py", "vidb/../../x"])
def test_file_download_refuses_paths_that_leave_the_snapshot(researcher_api, snapshot, filename):
    response = researcher_api.get(f"{LIST_URL}{snapshot.pk}/files/{filename}")
    assert response.status_code == 400
    assert "may not leave" in response.json()["message"]


def test_unknown_file_is_404_with_the_list_of_files(researcher_api, snapshot):
    response = researcher_api.get(f"{LIST_URL}{snapshot.pk}/files/secrets.txt")
    assert response.status_code == 404
    assert "manifest.json" in response.json()["extra"]["files"]


def test_diff_compares_two_snapshots_by_id_or_hash(researcher, researcher_api):
    value = _published_value("svt", "benevolence", [3.0, 1.0, -1.0])
    old = snapshot_create(value_ids=[value.pk], name="Old", created_by=researcher)
    ItemScore.objects.filter(fit=value.published_fit.fit, intensity=3.0).update(intensity=-3.0)
    new = snapshot_create(value_ids=[value.pk], name="New", created_by=researcher)

    response = researcher_api.get(reverse("api-snapshot-diff"), {"a": old.content_hash[:10], "b": new.pk, "top": 1})

    (value_diff,) = response.json()["values"]
    assert value_diff["n_shared"] == 3 and value_diff["max_abs_delta"] == 6.0
    assert value_diff["mean_abs_delta"] == 2.0
    assert value_diff["spearman"] == -0.5  # the strongest text became the weakest
    assert [m["text"] for m in value_diff["top_movers"]] == ["benevolence text 0"]


def test_diff_names_the_side_it_cannot_find(researcher_api, snapshot):
    response = researcher_api.get(reverse("api-snapshot-diff"), {"a": snapshot.pk, "b": "deadbeefdeadbeef"})
    assert response.status_code == 404
    assert response.json()["message"] == "b: No snapshot 'deadbeefdeadbeef'."
    missing = researcher_api.get(reverse("api-snapshot-diff"), {"a": snapshot.pk})
    assert missing.status_code == 400 and "b" in missing.json()["extra"]["fields"]
