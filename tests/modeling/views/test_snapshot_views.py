"""Snapshot pages: researchers create, browse, download (audit-logged, no path traversal) and compare snapshots;
annotators are turned away."""

import hashlib
import io
import logging
import zipfile

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from labeling.models import PoolItem, Text, Theory, Value
from modeling.models import Fit, ItemScore, Snapshot
from modeling.services.fits import fit_publish
from modeling.services.snapshots import snapshot_create

pytestmark = pytest.mark.django_db


def _published_value(theory_key: str, key: str, intensities: list[float]) -> Value:
    """A value whose pool of len(intensities) texts has a fit giving them these intensities, published through the
    fits service."""
    theory, _ = Theory.objects.get_or_create(key=theory_key, defaults={"name": theory_key.upper()})
    value = Value.objects.create(theory=theory, key=key, name=key.title(), definition=".", level=2, is_target=True)
    fit = Fit.objects.create(value=value, status=Fit.Status.SUCCEEDED, backend="choix", n_items=len(intensities),
                             finished_at=timezone.now(), log_likelihood=-3.0)
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
    value = _published_value("svt", "benevolence", [5.0, -2.5, 1.0])
    return snapshot_create(value_ids=[value.pk], name="Benevolence March", created_by=researcher)


def test_annotators_cannot_reach_any_snapshot_page(annotator_client, snapshot):
    urls = [
        reverse("modeling:snapshot_list"),
        reverse("modeling:snapshot_detail", args=[snapshot.pk]),
        reverse("modeling:snapshot_download", args=[snapshot.pk, "scores.jsonl"]),
        reverse("modeling:snapshot_download_zip", args=[snapshot.pk]),
        f"{reverse('modeling:snapshot_diff')}?a={snapshot.pk}&b={snapshot.pk}",
    ]
    for url in urls:
        assert annotator_client.get(url).status_code == 403, url
    assert annotator_client.post(reverse("modeling:snapshot_list"), {"name": "x"}).status_code == 403


def test_list_page_offers_values_with_a_published_fit(researcher_client, snapshot):
    _published_value("mft", "care-harm", [1.0, 2.0])
    Value.objects.create(theory=Theory.objects.get(key="svt"), key="power", name="Power", definition=".", level=2)

    page = researcher_client.get(reverse("modeling:snapshot_list")).content.decode()

    assert "Care-Harm (mft:care-harm)" in page and "Benevolence (svt:benevolence)" in page
    assert "svt:power" not in page  # no published fit, nothing to freeze
    assert "Benevolence March" in page and snapshot.content_hash[:12] in page


def test_list_page_says_when_nothing_can_be_frozen(researcher_client):
    page = researcher_client.get(reverse("modeling:snapshot_list")).content.decode()
    assert 'data-testid="no-published-fits"' in page


def test_creating_from_the_form_leads_to_the_new_snapshot(researcher_client):
    value = _published_value("svt", "benevolence", [5.0, -2.5])

    response = researcher_client.post(reverse("modeling:snapshot_list"), {"values": [value.pk], "name": "From UI"})

    snapshot = Snapshot.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("modeling:snapshot_detail", args=[snapshot.pk])
    assert snapshot.name == "From UI"


def test_htmx_create_redirects_the_browser_or_returns_the_form_with_errors(researcher_client):
    value = _published_value("svt", "benevolence", [5.0, -2.5])
    url = reverse("modeling:snapshot_list")

    bad = researcher_client.post(url, {"name": "No values"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert b"<html" not in bad.content and b'id="snapshot-create"' in bad.content and b"field-error" in bad.content

    good = researcher_client.post(url, {"values": [value.pk], "name": "Via htmx"}, headers={"HX-Request": "true"})
    assert good["HX-Redirect"] == reverse("modeling:snapshot_detail", args=[Snapshot.objects.get().pk])


def test_detail_shows_the_manifest_and_links_every_file(researcher_client, snapshot):
    page = researcher_client.get(reverse("modeling:snapshot_detail", args=[snapshot.pk])).content.decode()

    assert snapshot.content_hash in page
    for name in ["vidb/benevolence_pvq_flag_aggregated.csv", "scores.jsonl", "scores.parquet", "judgments.jsonl",
                 "manifest.json"]:
        assert reverse("modeling:snapshot_download", args=[snapshot.pk, name]) in page
    assert reverse("modeling:snapshot_download_zip", args=[snapshot.pk]) in page


def test_downloading_a_file_serves_its_bytes_and_is_audit_logged(researcher_client, snapshot, caplog):
    url = reverse("modeling:snapshot_download", args=[snapshot.pk, "vidb/benevolence_pvq_flag_aggregated.csv"])

    with caplog.at_level(logging.INFO, logger="valueflow.audit"):
        response = researcher_client.get(url)

    stored = settings.MEDIA_ROOT / snapshot.files_dir / "vidb" / "benevolence_pvq_flag_aggregated.csv"
    assert b"".join(response.streaming_content) == stored.read_bytes()
    assert 'filename="benevolence_pvq_flag_aggregated.csv"' in response["Content-Disposition"]
    assert any(
        r.name == "valueflow.audit" and "(res)" in r.getMessage() and f"snapshot {snapshot.pk}" in r.getMessage()
        for r in caplog.records
    )


def test_the_zip_holds_every_file(researcher_client, snapshot, caplog):
    with caplog.at_level(logging.INFO, logger="valueflow.audit"):
        response = researcher_client.get(reverse("modeling:snapshot_download_zip", args=[snapshot.pk]))

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    prefix = f"benevolence-march-{snapshot.content_hash[:12]}/"
    assert sorted(archive.namelist()) == sorted(prefix + name for name in [
        "vidb/benevolence_pvq_flag_aggregated.csv", "scores.jsonl", "scores.parquet", "judgments.jsonl", "manifest.json"
    ])
    assert any("zip of snapshot" in r.getMessage() for r in caplog.records if r.name == "valueflow.audit")


@pytest.mark.parametrize(
    "filename",
    ["../../../config/settings/base.py", "%2e%2e/%2e%2e/%2e%2e/pyproject.toml", "vidb/../../x", "..%2fmanifest.json"],
)
def test_download_refuses_paths_that_leave_the_snapshot(researcher_client, snapshot, filename):
    url = reverse("modeling:snapshot_download", args=[snapshot.pk, "PLACEHOLDER"]).replace("PLACEHOLDER", filename)
    response = researcher_client.get(url)
    assert response.status_code == 400
    assert b"may not leave" in response.content


def test_download_of_an_unknown_file_is_not_found(researcher_client, snapshot):
    url = reverse("modeling:snapshot_download", args=[snapshot.pk, "secrets.txt"])
    assert researcher_client.get(url).status_code == 404


def test_diff_page_shows_how_scores_moved(researcher, researcher_client):
    value = _published_value("svt", "benevolence", [5.0, -2.5, 1.0])
    old = snapshot_create(value_ids=[value.pk], name="Old", created_by=researcher)
    ItemScore.objects.filter(fit=value.published_fit.fit, intensity=5.0).update(intensity=8.0)
    new = snapshot_create(value_ids=[value.pk], name="New", created_by=researcher)
    assert new.pk != old.pk

    page = researcher_client.get(f"{reverse('modeling:snapshot_diff')}?a={old.pk}&b={new.pk}").content.decode()

    assert "3 in both" in page and "1.000" in page  # mean |Δ| = 3 / 3
    assert "benevolence text 0" in page  # the one text that moved


def test_diff_page_names_a_snapshot_it_cannot_find(researcher_client, snapshot):
    response = researcher_client.get(f"{reverse('modeling:snapshot_diff')}?a={snapshot.pk}&b=999999")
    assert response.status_code == 400
    assert "New snapshot: No snapshot &#x27;999999&#x27;" in response.content.decode()


def test_the_django_admin_shows_snapshots_but_cannot_add_change_or_delete_them(snapshot):
    from django.test import Client

    from accounts.models import User

    superuser = User.objects.create_superuser(username="root", password="x-root-pass", email="root@example.org")
    client = Client()
    client.force_login(superuser)

    assert client.get(reverse("admin:modeling_snapshot_changelist")).status_code == 200
    page = client.get(reverse("admin:modeling_snapshot_change", args=[snapshot.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get(reverse("admin:modeling_snapshot_add")).status_code == 403
    change_url = reverse("admin:modeling_snapshot_change", args=[snapshot.pk])
    delete_url = reverse("admin:modeling_snapshot_delete", args=[snapshot.pk])
    assert client.post(change_url, {"name": "Renamed"}).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.name == "Benevolence March"
