"""Snapshots: files in the VIDB release format, a stable content hash, idempotent creation, the round trip through
the VIDB importer, all-or-nothing publication on a full disk, diffs, CSV formula escaping, pseudonyms, paths."""

import csv
import errno
import hashlib
import hmac
import io
import json
import logging
import re
import shutil

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext
from labeling.models import Campaign, PoolItem, Text, Theory, Value
from labeling.services.assignment import assignment_next
from labeling.services.imports import texts_import
from labeling.services.judgments import judgment_submit, judgment_undo
from modeling.models import Fit, ItemScore, PublishedFit, Snapshot, SnapshotValue
from modeling.services import snapshots
from modeling.services.fits import fit_publish, fit_value
from modeling.services.snapshots import (
    snapshot_content_hash,
    snapshot_create,
    snapshot_create_job,
    snapshot_diff,
    snapshot_export,
    snapshot_file_path,
    snapshot_value_ids_from_keys,
    vidb_file_name,
)
from tests.factories.labeling import running_campaign

pytestmark = pytest.mark.django_db


# --- building state -----------------------------------------------------------------------------------------------


def _value(theory_key: str, key: str, texts: list[str], *, is_target: bool = True) -> Value:
    theory, _ = Theory.objects.get_or_create(key=theory_key, defaults={"name": theory_key.upper()})
    value = Value.objects.create(
        theory=theory, key=key, name=key.replace("-", " ").title(), definition=f"{key}.", level=2, is_target=is_target
    )
    for content in texts:
        text, _ = Text.objects.get_or_create(
            content_hash=hashlib.sha256(" ".join(content.split()).encode()).hexdigest(), defaults={"content": content}
        )
        PoolItem.objects.create(value=value, text=text)
    return value


def _publish(value: Value, intensities: dict[int, float] | list[float], *, watermark: int = 0) -> Fit:
    """A fit with constructed scores, for tests that need exact numbers, published through the fits service.
    Scores pool items by position in id order, or by PoolItem id."""
    items = list(PoolItem.objects.filter(value=value).order_by("id"))
    scores = intensities if isinstance(intensities, dict) else {items[i].pk: x for i, x in enumerate(intensities)}
    fit = Fit.objects.create(
        value=value, status=Fit.Status.SUCCEEDED, backend="choix", config={"prior": 1.0}, watermark=watermark,
        n_items=len(scores), log_likelihood=-12.5, converged=True, finished_at=timezone.now(),
    )
    ItemScore.objects.bulk_create(
        ItemScore(fit=fit, pool_item_id=pid, utility=x / 4, se=0.25, intensity=x, ci_low=max(-10, x - 1.5),
                  ci_high=min(10, x + 1.5), n_judgments=3)
        for pid, x in scores.items()
    )
    assert fit_publish(fit=fit)
    return fit


def _judge(value: Value, annotator, researcher, n: int) -> list[int]:
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=50)
    ids = []
    for _ in range(n):
        lease = assignment_next(campaign=campaign, annotator=annotator).assignment
        assert lease is not None
        result = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=[[i] for i in lease.item_ids],
                                 latency_ms=1200)
        ids.append(result.judgment.pk)
    return ids


def _folder(snapshot: Snapshot):
    return settings.MEDIA_ROOT / snapshot.files_dir


def _read_csv(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


BENEVOLENCE_TEXTS = [
    "She stayed up all night to look after her sick neighbour.",
    'He said "keep the change", and walked off.',
    "They ignored the stranger who had fallen on the ice.",
    "Volunteers rebuilt the shelter in a weekend.\nEveryone helped.",
]


# --- creating -----------------------------------------------------------------------------------------------------


def test_create_writes_vidb_csv_scores_judgments_and_manifest(researcher, annotator):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    judgment_ids = _judge(value, annotator, researcher, n=3)
    fit = fit_value(value_id=value.pk)  # a real Plackett–Luce fit of those judgments, published

    snapshot = snapshot_create(value_ids=[value.pk], name="Benevolence v1", created_by=researcher)

    folder = _folder(snapshot)
    assert snapshot.files_dir == f"snapshots/{snapshot.content_hash}"
    rows = _read_csv(folder / "vidb" / "benevolence_pvq_flag_aggregated.csv")
    assert rows[0] == ["text", "final_rating"]
    fitted = dict(ItemScore.objects.filter(fit=fit).values_list("pool_item__text__content", "intensity"))
    assert {text: float(rating) for text, rating in rows[1:]} == {t: round(x, 6) for t, x in fitted.items()}
    assert [float(r[1]) for r in rows[1:]] == sorted((float(r[1]) for r in rows[1:]), reverse=True)
    assert {r[0] for r in rows[1:]} == set(BENEVOLENCE_TEXTS)

    scores = _jsonl(folder / "scores.jsonl")
    assert set(scores[0]) == {"value", "text", "text_hash", "intensity", "ci_low", "ci_high", "utility", "se",
                              "n_judgments", "prior_intensity"}
    assert {s["value"] for s in scores} == {"svt:benevolence"}
    parquet = pq.read_table(folder / "scores.parquet")
    assert parquet.column_names == list(scores[0])
    assert parquet.num_rows == 4
    assert sorted(parquet.column("intensity").to_pylist()) == sorted(s["intensity"] for s in scores)

    judgments = _jsonl(folder / "judgments.jsonl")
    assert [j["judgment_id"] for j in judgments] == judgment_ids
    text_hashes = {s["text_hash"] for s in scores}
    assert all(h in text_hashes for j in judgments for group in j["ordering"] for h in group)
    assert all(len(j["shown_order"]) == 2 and j["latency_ms"] == 1200 for j in judgments)

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == snapshot.manifest
    assert manifest["content_hash"] == snapshot.content_hash
    assert manifest["counts"] == {"values": 1, "items": 4, "judgments": 3}
    assert manifest["values"][0]["fit"]["watermark"] == max(judgment_ids) == fit.watermark
    assert manifest["values"][0]["fit"]["backend"] == fit.backend and fit.backend
    assert manifest["valueflow_version"] == "0.1.0"
    for entry in manifest["files"]:
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert {e["path"] for e in manifest["files"]} == {
        "vidb/benevolence_pvq_flag_aggregated.csv", "scores.jsonl", "scores.parquet", "judgments.jsonl"
    }
    assert (snapshot.n_values, snapshot.n_items, snapshot.n_judgments) == (1, 4, 3)
    assert list(SnapshotValue.objects.filter(snapshot=snapshot).values_list("fit_id", flat=True)) == [
        value.published_fit.fit_id
    ]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tmp-")]


def test_same_content_gives_the_same_hash_and_returns_the_existing_snapshot(researcher, platform_admin):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [7.25, 2.0, -8.5, 4.0])

    first = snapshot_create(value_ids=[value.pk], name="First", created_by=researcher)
    again = snapshot_create(value_ids=[value.pk, value.pk], name="Second try", created_by=platform_admin)

    assert again.pk == first.pk and again.name == "First"
    assert Snapshot.objects.count() == 1
    frozen = [snapshots._freeze_value(value, value.published_fit.fit)]
    assert snapshot_content_hash(frozen) == first.content_hash  # recomputed from the database: stable


def test_a_changed_score_or_a_new_fit_changes_the_hash(researcher):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [7.25, 2.0, -8.5, 4.0])
    first = snapshot_create(value_ids=[value.pk], name="First", created_by=researcher)
    # Below the 6th decimal the score is the same frozen content …
    ItemScore.objects.filter(fit=value.published_fit.fit, intensity=4.0).update(intensity=4.0000000001)
    assert snapshot_create(value_ids=[value.pk], name="Same", created_by=researcher).pk == first.pk
    # … a new published fit is not, and the new snapshot's parent is the previous one of the value.
    _publish(value, [7.25, 2.0, -8.5, 4.5])
    second = snapshot_create(value_ids=[value.pk], name="Second", created_by=researcher)
    assert second.content_hash != first.content_hash
    assert second.parent == first
    assert second.manifest["parent_hash"] == first.content_hash


def test_values_without_a_published_fit_are_refused_by_name(researcher):
    fitted = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(fitted, [1.0, 2.0, 3.0, 4.0])
    unfitted = _value("mft", "care-harm", ["A text."])

    with pytest.raises(ApplicationError, match="mft:care-harm: no published fit"):
        snapshot_create(value_ids=[fitted.pk, unfitted.pk], name="x", created_by=researcher)
    with pytest.raises(ApplicationError, match="No value has the id"):
        snapshot_create(value_ids=[999_999], name="x", created_by=researcher)
    with pytest.raises(ApplicationError, match="at least one value"):
        snapshot_create(value_ids=[], name="x", created_by=researcher)
    with pytest.raises(ApplicationError, match="name"):
        snapshot_create(value_ids=[fitted.pk], name="  ", created_by=researcher)
    assert Snapshot.objects.count() == 0


def test_value_keys_resolve_with_any_accepted_spelling(db):
    care = _value("mft", "care-harm", ["A text."])
    assert snapshot_value_ids_from_keys(keys=["mft:care/harm", "moral-foundations:care_harm"]) == [care.pk, care.pk]
    with pytest.raises(ApplicationError, match="'benevolence' is not theory:value"):
        snapshot_value_ids_from_keys(keys=["benevolence"])
    with pytest.raises(ApplicationError, match="unknown value"):
        snapshot_value_ids_from_keys(keys=["mft:kindness-of-strangers"])


@pytest.mark.parametrize(
    ("theory_key", "key", "is_target", "expected"),
    [
        ("svt", "self-direction", True, "self-direction_pvq_flag_aggregated.csv"),
        ("mft", "care-harm", True, "care-harm_mft_flag_aggregated.csv"),
        ("duties", "non-maleficence", True, "non-maleficence_duty_flag_aggregated.csv"),
        ("rights", "civil", True, "civil_rights_right_flag_aggregated.csv"),
        ("rights", "social-group-solidarity", True, "social_group_solidarity_rights_right_flag_aggregated.csv"),
        ("rights", "privacy", False, "privacy_right_flag_aggregated.csv"),
    ],
)
def test_vidb_file_names_follow_the_release(theory_key, key, is_target, expected):
    assert vidb_file_name(Value(theory=Theory(key=theory_key), key=key, is_target=is_target)) == expected


# --- the round trip through the importer ----------------------------------------------------------------------


def test_exported_vidb_folder_imports_back_with_identical_scores(researcher, annotator, tmp_path):
    benevolence = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    civil = _value(
        "rights",
        "civil",
        ["Everyone may speak freely.", "Jail critics without trial.", "Vote, and no one may stop you."],
    )
    _judge(benevolence, annotator, researcher, n=4)
    fit_value(value_id=benevolence.pk)  # real fitted scores with all their decimals
    _publish(civil, [9.0, -9.999999, 0.3333333333])  # and edge values of the scale
    snapshot = snapshot_create(value_ids=[benevolence.pk, civil.pk], name="Round trip", created_by=researcher)
    exported = {
        row["text"]: (row["value"], row["intensity"]) for row in _jsonl(_folder(snapshot) / "scores.jsonl")
    }
    vidb = tmp_path / "vidb"
    shutil.copytree(_folder(snapshot) / "vidb", vidb)
    assert sorted(p.name for p in vidb.iterdir()) == [
        "benevolence_pvq_flag_aggregated.csv", "civil_rights_right_flag_aggregated.csv"
    ]
    # A fresh value pool: nothing of the scored texts is left but the taxonomy.
    Snapshot.objects.all().delete()
    Campaign.objects.all().delete()
    PublishedFit.objects.all().delete()
    Fit.objects.all().delete()
    PoolItem.objects.all().delete()
    Text.objects.all().delete()

    summary = texts_import(format="vidb", paths=[vidb], imported_by=researcher)

    assert summary.pool_items_created == 7
    for path in vidb.iterdir():
        for text, rating in _read_csv(path)[1:]:
            item = PoolItem.objects.select_related("value__theory", "text").get(text__content=text)
            assert (item.value.qualified_key, round(item.prior_intensity, 6)) == exported[text]
            assert item.prior_intensity == float(rating)


# --- all or nothing -------------------------------------------------------------------------------------------


def test_a_full_disk_midway_leaves_no_row_and_no_folder(researcher, monkeypatch):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])
    written = []
    real_jsonl = snapshots._write_scores_jsonl

    def jsonl_then_note(path, frozen):
        real_jsonl(path, frozen)
        written.append(path)

    def disk_full(path, frozen):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(snapshots, "_write_scores_jsonl", jsonl_then_note)
    monkeypatch.setattr(snapshots, "_write_scores_parquet", disk_full)

    with pytest.raises(OSError, match="No space left"):
        snapshot_create(value_ids=[value.pk], name="Doomed", created_by=researcher)

    assert written  # the failure came mid-way, after some files were written
    assert Snapshot.objects.count() == 0 and SnapshotValue.objects.count() == 0
    assert [p.name for p in snapshots.snapshots_root().iterdir()] == [".create.lock"]


def test_a_database_failure_after_the_rename_removes_the_folder(researcher, monkeypatch):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])

    def broken(*args, **kwargs):
        raise IntegrityError("connection lost while inserting")

    monkeypatch.setattr(SnapshotValue.objects, "bulk_create", broken)
    with pytest.raises(IntegrityError):
        snapshot_create(value_ids=[value.pk], name="Doomed", created_by=researcher)

    assert Snapshot.objects.count() == 0
    assert [p.name for p in snapshots.snapshots_root().iterdir()] == [".create.lock"]


def test_a_folder_left_by_an_interrupted_creation_is_replaced(researcher):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])
    content_hash = snapshot_content_hash([snapshots._freeze_value(value, value.published_fit.fit)])
    orphan = snapshots.snapshots_root() / content_hash
    orphan.mkdir(parents=True)
    (orphan / "scores.jsonl").write_text("half a line")

    snapshot = snapshot_create(value_ids=[value.pk], name="After the crash", created_by=researcher)

    assert len(_jsonl(_folder(snapshot) / "scores.jsonl")) == 4


# --- what goes into the files ---------------------------------------------------------------------------------


def test_csv_text_cells_that_spreadsheets_would_run_are_escaped(researcher):
    texts = ["=HYPERLINK(\"http://x\")", "+1 555 0100 call now", "-10 points for honesty", "@SUM(A1:A9)",
             "'=already quoted", "'Tis the season to help.", "A plain kind deed."]
    value = _value("mft", "care-harm", texts)
    _publish(value, [-3.5, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0])

    snapshot = snapshot_create(value_ids=[value.pk], name="Escaping", created_by=researcher)

    rows = dict(_read_csv(_folder(snapshot) / "vidb" / "care-harm_mft_flag_aggregated.csv")[1:])
    assert set(rows) == {"'=HYPERLINK(\"http://x\")", "'+1 555 0100 call now", "'-10 points for honesty",
                         "'@SUM(A1:A9)", "''=already quoted", "'Tis the season to help.", "A plain kind deed."}
    assert rows["'=HYPERLINK(\"http://x\")"] == "-3.5"  # the numeric column is not escaped
    # The documented reverse rule gives back every original text.
    assert {re.sub(r"^'(?='*[=+\-@\t\r])", "", cell) for cell in rows} == set(texts)
    # Only the CSV is escaped: the JSON files carry the texts as they are.
    assert {s["text"] for s in _jsonl(_folder(snapshot) / "scores.jsonl")} == set(texts)


def test_files_name_annotators_and_creator_only_by_pseudonym(db):
    from accounts.services import user_create

    creator = user_create(username="prof_quimby", password="x-secret-1", role="researcher", email="quimby@uni.example")
    annotator = user_create(
        username="zelda_private", password="x-secret-2", role="annotator", email="zelda@mail.example"
    )
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _judge(value, annotator, creator, n=2)
    fit_value(value_id=value.pk)

    snapshot = snapshot_create(value_ids=[value.pk], name="Private", created_by=creator)

    pseudonym = hmac.new(settings.SECRET_KEY.encode(), str(annotator.pk).encode(), hashlib.sha256).hexdigest()[:16]
    assert {j["annotator"] for j in _jsonl(_folder(snapshot) / "judgments.jsonl")} == {pseudonym}
    assert snapshot.manifest["created_by"] == snapshots.annotator_pseudonym(creator.pk) != pseudonym
    for path in _folder(snapshot).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (b"prof_quimby", b"zelda_private", b"quimby@", b"zelda@"):
                assert secret not in data, f"{secret!r} leaked into {path.name}"


def test_judgments_retracted_after_the_fit_stay_in_the_snapshot_those_before_do_not(researcher, annotator):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    judgment_ids = _judge(value, annotator, researcher, n=3)
    fit = _publish(value, [1.0, 2.0, 3.0, 4.0], watermark=judgment_ids[1])  # the third came after the fit
    judgment_undo(judgment_id=judgment_ids[2], annotator=annotator)  # retracting it changes nothing here
    snapshot = snapshot_create(value_ids=[value.pk], name="Watermark", created_by=researcher)
    assert [j["judgment_id"] for j in _jsonl(_folder(snapshot) / "judgments.jsonl")] == judgment_ids[:2]

    # A retraction the fit already saw (made before it finished) leaves the judgment out.
    Fit.objects.filter(pk=fit.pk).update(watermark=judgment_ids[2], finished_at=timezone.now())
    again = snapshot_create(value_ids=[value.pk], name="Watermark 2", created_by=researcher)
    assert [j["judgment_id"] for j in _jsonl(_folder(again) / "judgments.jsonl")] == judgment_ids[:2]
    assert again.content_hash != snapshot.content_hash  # the fit's watermark is part of the content


# --- files out ------------------------------------------------------------------------------------------------


def test_only_files_listed_in_the_manifest_can_be_reached(researcher):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])
    snapshot = snapshot_create(value_ids=[value.pk], name="Paths", created_by=researcher)

    assert snapshot_file_path(snapshot=snapshot, filename="vidb/benevolence_pvq_flag_aggregated.csv").is_file()
    for bad in ["../../../etc/passwd", "/etc/passwd", "vidb/../../x", "..\\manifest.json", "vidb/..", "a\x00b"]:
        with pytest.raises(ApplicationError, match="may not leave") as caught:
            snapshot_file_path(snapshot=snapshot, filename=bad)
        assert caught.value.status_code == 400
    with pytest.raises(ApplicationError, match="has no file") as caught:
        snapshot_file_path(snapshot=snapshot, filename="secrets.txt")
    assert caught.value.status_code == 404


def test_export_copies_every_file_checks_it_and_is_audit_logged(researcher, tmp_path, caplog):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])
    snapshot = snapshot_create(value_ids=[value.pk], name="Export", created_by=researcher)
    out = tmp_path / "out"

    with caplog.at_level(logging.INFO, logger="valueflow.audit"):
        written = snapshot_export(snapshot=snapshot, out_dir=out, actor="cli (alice)")

    assert sorted(str(p.relative_to(out)) for p in written) == sorted(snapshots.snapshot_file_names(snapshot))
    assert (out / "manifest.json").read_bytes() == (_folder(snapshot) / "manifest.json").read_bytes()
    assert any(
        "cli (alice) exported snapshot" in r.getMessage() and r.name == "valueflow.audit" for r in caplog.records
    )
    with pytest.raises(ApplicationError, match="already holds"):
        snapshot_export(snapshot=snapshot, out_dir=out, actor="cli (alice)")


def test_the_snapshot_job_handler_creates_the_snapshot(researcher):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])
    reports = []
    context = JobContext(job_id=1, params={"value_ids": [value.pk], "name": "From a job", "user_id": researcher.pk},
                         report=lambda progress, message="": reports.append(progress))

    result = snapshot_create_job(context)

    snapshot = Snapshot.objects.get(pk=result["snapshot_id"])
    assert (snapshot.name, snapshot.created_by) == ("From a job", researcher)
    assert result["content_hash"] == snapshot.content_hash
    assert reports


# --- diff -----------------------------------------------------------------------------------------------------


def test_diff_reports_shared_added_removed_deltas_and_rank_correlations(researcher):
    value = _value("svt", "benevolence", [f"Kind act number {i}." for i in range(6)])
    dropped = _value("mft", "care-harm", ["Only in the old snapshot."])
    items = list(PoolItem.objects.filter(value=value).order_by("id"))
    _publish(value, {items[i].pk: x for i, x in enumerate([-4.0, -2.0, 0.0, 2.0, 6.0])})  # items 0-4
    _publish(dropped, [1.0])
    old = snapshot_create(value_ids=[value.pk, dropped.pk], name="Old", created_by=researcher)
    # Items 0-3 and 5: items 0 and 1 swap places, item 3 jumps, item 4 leaves, item 5 arrives.
    _publish(value, {items[0].pk: -1.0, items[1].pk: -4.0, items[2].pk: 0.0, items[3].pk: 5.0, items[5].pk: 9.0})
    new = snapshot_create(value_ids=[value.pk], name="New", created_by=researcher)

    diff = snapshot_diff(old=old, new=new, top=10)

    assert diff.only_in_old == ["mft:care-harm"] and diff.only_in_new == []
    (d,) = diff.values
    assert (d.value, d.n_old, d.n_new, d.n_shared) == ("svt:benevolence", 5, 5, 4)
    assert d.added == [items[5].text.content_hash] and d.removed == [items[4].text.content_hash]
    # |Δ| = 3, 2, 0, 3
    assert d.mean_abs_delta == pytest.approx(2.0) and d.max_abs_delta == pytest.approx(3.0)
    assert d.spearman == pytest.approx(0.8)  # one adjacent swap among 4: 1 - 6·2 / (4·15)
    assert d.kendall == pytest.approx(4 / 6, abs=1e-6)  # 5 concordant, 1 discordant pair
    assert [abs(m.delta) for m in d.top_movers] == [3.0, 3.0, 2.0]  # unmoved items are not movers
    assert {m.text for m in d.top_movers[:2]} == {"Kind act number 0.", "Kind act number 3."}
    as_json = json.loads(json.dumps(diff.as_dict()))
    assert as_json["values"][0]["n_added"] == 1 and as_json["old"]["id"] == old.pk


def test_diff_of_a_snapshot_with_itself_is_all_zero(researcher):
    value = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _publish(value, [1.0, 2.0, 3.0, 4.0])
    snapshot = snapshot_create(value_ids=[value.pk], name="Same", created_by=researcher)
    (d,) = snapshot_diff(old=snapshot, new=snapshot).values
    assert (d.mean_abs_delta, d.max_abs_delta, d.spearman, d.kendall, d.top_movers) == (0.0, 0.0, 1.0, 1.0, [])



# --- the command line (a thin interface over the services above) ------------------------------------------------


def _command(*args: str) -> object:
    out = io.StringIO()
    call_command("snapshot", *args, stdout=out)
    return json.loads(out.getvalue())


def test_snapshot_command_creates_lists_exports_and_diffs(researcher, tmp_path):
    benevolence = _value("svt", "benevolence", BENEVOLENCE_TEXTS)
    _value("mft", "care-harm", ["Comfort the crying child.", "Kick the dog."])
    _publish(benevolence, [7.25, 2.0, -8.5, 4.0])
    _publish(Value.objects.get(key="care-harm"), [8.0, -9.0])

    created = _command("create", "--values", "svt:benevolence,mft:care-harm", "--name", "CLI", "--user", "res")
    snapshot = Snapshot.objects.get(pk=created["id"])
    assert created["hash"] == snapshot.content_hash and snapshot.created_by == researcher
    assert created["values"] == ["mft:care-harm", "svt:benevolence"]

    assert [row["id"] for row in _command("list")] == [snapshot.pk]

    exported = _command("export", snapshot.content_hash[:12], "--out", str(tmp_path / "out"))
    assert sorted(exported["files"]) == sorted(snapshots.snapshot_file_names(snapshot))
    assert (tmp_path / "out" / "vidb" / "care-harm_mft_flag_aggregated.csv").is_file()

    _publish(benevolence, [7.25, 2.0, -8.5, 5.0])
    newer = _command("create", "--values", "svt:benevolence", "--name", "CLI 2")
    diff = _command("diff", str(snapshot.pk), str(newer["id"]))
    assert diff["only_in_old"] == ["mft:care-harm"]
    assert diff["values"][0]["max_abs_delta"] == 1.0


def test_snapshot_command_reports_bad_input_as_command_errors(db):
    with pytest.raises(CommandError, match="'svt:nothing'"):
        call_command("snapshot", "create", "--values", "svt:nothing", "--name", "x")
    with pytest.raises(CommandError, match="No snapshot '424242'"):
        call_command("snapshot", "export", "424242", "--out", "/tmp/unused")
