"""Immutable VIDB snapshots: freeze the published fits of chosen values into content-hashed files, hand those
files out (downloads, zips, exports, all audit-logged) and compare two snapshots.

A snapshot lives in MEDIA_ROOT/snapshots/<content hash>/:

- `vidb/{value}_{theorycode}_flag_aggregated.csv` — the public VIDB release format, one file per value, columns
  `text` and `final_rating` (the published intensity in [-10, 10]). Theory codes are pvq (Schwartz), mft, duty and
  right; value keys keep their hyphens (`self-direction`), rights categories are written `civil_rights`.
- `scores.jsonl` and `scores.parquet` — one row per (value, text): intensity, interval, utility, standard error,
  number of judgments and the imported prior intensity.
- `judgments.jsonl` — the raw judgments behind each fit, with texts named by their content hash and annotators by
  a pseudonym (HMAC-SHA256 of the user id under the platform's secret key, 16 hex digits), never by name.
- `manifest.json` — provenance: fits, configs, watermarks, counts, the sha256 of every other file, the version.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and, per OWASP, tab or carriage return) as a
formula, so a CSV text cell starting with one of those, possibly after leading single quotes, gets one extra
single quote in front. Reverse it by dropping one leading quote from any cell matching `^'+[=+\\-@\\t\\r]`; the rule
is reversible because texts that already start with quotes before such a character are escaped too. The numeric
`final_rating` column is never touched; JSONL and Parquet files carry the texts unchanged.

Snapshots are never modified: this module has no update path, and identical content gives the identical hash, so
asking twice for the same snapshot returns the first one.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import hmac
import json
import logging
import math
import os
import re
import shutil
import tempfile
import tomllib
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from common.exceptions import ApplicationError
from common.spreadsheet import csv_escape_formula
from labeling.models import Judgment, PoolItem, Value
from labeling.services.taxonomy import value_resolve
from modeling.models import Fit, ItemScore, PublishedFit, Snapshot, SnapshotValue

audit_logger = logging.getLogger("valueflow.audit")
logger = logging.getLogger(__name__)

# Part of every content hash: bump it when the canonical serialisation or the file layout changes.
SNAPSHOT_FORMAT = "valueflow-vidb-snapshot/1"
SNAPSHOTS_SUBDIR = "snapshots"
MANIFEST_NAME = "manifest.json"
SCORES_JSONL = "scores.jsonl"
SCORES_PARQUET = "scores.parquet"
JUDGMENTS_JSONL = "judgments.jsonl"
VIDB_DIR = "vidb"
# Scores are frozen at this many decimals: in the content hash and in every file.
SCORE_DECIMALS = 6
INTENSITY_MIN, INTENSITY_MAX = -10.0, 10.0
MAX_NAME_LENGTH = 200
# Our theory keys → the theory codes of VIDB release file names.
VIDB_THEORY_CODES: dict[str, str] = {"svt": "pvq", "mft": "mft", "duties": "duty", "rights": "right"}
_JUDGMENT_CHUNK = 5000
_HASH_CHUNK = 1 << 20


# --- small helpers ---------------------------------------------------------------------------------------------


def annotator_pseudonym(user_id: int | None) -> str | None:
    """The stable pseudonym of a user in exported files: HMAC-SHA256(SECRET_KEY, user id), first 16 hex digits.

    Stable across snapshots (so one annotator's judgments can be followed), but not reversible without the key.
    """
    if user_id is None:
        return None
    digest = hmac.new(settings.SECRET_KEY.encode("utf-8"), str(user_id).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:16]


def vidb_file_name(value: Value) -> str:
    """`{value}_{theorycode}_flag_aggregated.csv` as the public VIDB release names it."""
    theory_key = value.theory.key
    code = VIDB_THEORY_CODES.get(theory_key, theory_key)
    stem = value.key
    if theory_key == "rights" and value.is_target:
        # The seven rights categories are released as `civil_rights`, `social_group_solidarity_rights`, ...
        stem = stem.removesuffix("-rights").replace("-", "_") + "_rights"
    return f"{stem}_{code}_flag_aggregated.csv"


def actor_label(user: Any) -> str:
    """Who did something, for the audit log: `user 7 (alice)`, or `anonymous`."""
    if user is None or not getattr(user, "pk", None):
        return "anonymous"
    return f"user {user.pk} ({user.get_username()})"


@lru_cache(maxsize=1)
def valueflow_version() -> str:
    """The version in pyproject.toml; recorded in every manifest."""
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _frozen(number: float) -> float:
    # + 0.0 turns -0.0 into 0.0 so the same score always serialises the same way.
    return round(float(number), SCORE_DECIMALS) + 0.0


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def snapshots_root() -> Path:
    return Path(settings.MEDIA_ROOT) / SNAPSHOTS_SUBDIR


def snapshot_dir(snapshot: Snapshot) -> Path:
    return Path(settings.MEDIA_ROOT) / snapshot.files_dir


# --- freezing the published fits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrozenItem:
    text: str
    text_hash: str
    intensity: float
    ci_low: float
    ci_high: float
    utility: float
    se: float
    n_judgments: int
    prior_intensity: float | None

    def hash_row(self) -> list[Any]:
        return [self.text_hash, self.intensity, self.ci_low, self.ci_high, self.utility, self.se,
                self.n_judgments, self.prior_intensity]


@dataclass
class FrozenValue:
    """One value's published fit as it goes into a snapshot: items sorted by text hash, judgment ids ascending."""

    value: Value
    fit: Fit
    items: list[FrozenItem]
    judgment_ids: list[int]
    text_hash_of_pool_item: dict[int, str] = field(repr=False)

    @property
    def qualified_key(self) -> str:
        return self.value.qualified_key


def _values_with_published_fits(value_ids: Sequence[int]) -> list[tuple[Value, Fit]]:
    try:
        ids = list(dict.fromkeys(int(value_id) for value_id in value_ids))
    except (TypeError, ValueError):
        raise ApplicationError(
            f"Value ids must be whole numbers; got {list(value_ids)!r}.", extra={"field": "value_ids"}
        ) from None
    if not ids:
        raise ApplicationError("Choose at least one value to snapshot.", extra={"field": "value_ids"})
    values = {value.pk: value for value in Value.objects.select_related("theory").filter(pk__in=ids)}
    missing = [value_id for value_id in ids if value_id not in values]
    if missing:
        raise ApplicationError(
            f"No value has the id(s) {', '.join(map(str, missing))}.", extra={"field": "value_ids", "missing": missing}
        )
    published = {
        row.value_id: row.fit for row in PublishedFit.objects.select_related("fit").filter(value_id__in=ids)
    }
    unfitted = [values[value_id].qualified_key for value_id in ids if value_id not in published]
    if unfitted:
        raise ApplicationError(
            f"Cannot snapshot {', '.join(unfitted)}: no published fit yet, so there are no scores to freeze. "
            "Fit the value (or wait for its first refit) and try again.",
            extra={"field": "value_ids", "without_published_fit": unfitted},
        )
    not_succeeded = [
        f"{values[value_id].qualified_key} (fit #{published[value_id].pk} is {published[value_id].status})"
        for value_id in ids
        if published[value_id].status != Fit.Status.SUCCEEDED
    ]
    if not_succeeded:
        raise ApplicationError(
            f"Cannot snapshot {', '.join(not_succeeded)}: only a succeeded fit can be frozen.",
            extra={"field": "value_ids"},
        )
    # Sorted by qualified key: the order of the canonical serialisation and of every file.
    return sorted(((values[i], published[i]) for i in ids), key=lambda pair: pair[0].qualified_key)


def _included_judgments(value: Value, fit: Fit):  # type: ignore[no-untyped-def]
    """The judgments behind a fit: the value's judgments up to the fit's watermark, less those retracted before
    the fit finished. A retraction after that does not change what the fit saw, so it does not change the
    snapshot either."""
    cutoff = fit.finished_at or fit.created_at
    return (
        Judgment.objects.filter(value=value, id__lte=fit.watermark)
        .exclude(retraction__created_at__lte=cutoff)
        .order_by("id")
    )


def _freeze_value(value: Value, fit: Fit) -> FrozenValue:
    rows = (
        ItemScore.objects.filter(fit=fit)
        .values_list(
            "pool_item_id", "pool_item__text__content", "pool_item__text__content_hash", "pool_item__prior_intensity",
            "intensity", "ci_low", "ci_high", "utility", "se", "n_judgments",
        )
    )
    items: list[FrozenItem] = []
    for pool_item_id, text, text_hash, prior, intensity, ci_low, ci_high, utility, se, n_judgments in rows.iterator(
        chunk_size=_JUDGMENT_CHUNK
    ):
        numbers = {"intensity": intensity, "ci_low": ci_low, "ci_high": ci_high, "utility": utility, "se": se}
        bad = [name for name, number in numbers.items() if number is None or not math.isfinite(number)]
        if bad:
            raise ApplicationError(
                f"Fit #{fit.pk} of {value.qualified_key} has a non-finite {', '.join(bad)} for pool item "
                f"{pool_item_id}; refit the value before snapshotting it.",
                extra={"fit_id": fit.pk, "pool_item_id": pool_item_id},
            )
        frozen_intensity = _frozen(intensity)
        if not INTENSITY_MIN <= frozen_intensity <= INTENSITY_MAX:
            raise ApplicationError(
                f"Fit #{fit.pk} of {value.qualified_key} gives pool item {pool_item_id} the intensity "
                f"{intensity!r}, outside [-10, 10]; the VIDB format cannot hold it.",
                extra={"fit_id": fit.pk, "pool_item_id": pool_item_id},
            )
        items.append(
            FrozenItem(
                text=text, text_hash=text_hash, intensity=frozen_intensity, ci_low=_frozen(ci_low),
                ci_high=_frozen(ci_high), utility=_frozen(utility), se=_frozen(se), n_judgments=int(n_judgments),
                prior_intensity=None if prior is None or not math.isfinite(prior) else _frozen(prior),
            )
        )
    if not items:
        raise ApplicationError(
            f"The published fit #{fit.pk} of {value.qualified_key} has no item scores; there is nothing to freeze.",
            extra={"fit_id": fit.pk},
        )
    items.sort(key=lambda item: item.text_hash)
    judgment_ids = list(_included_judgments(value, fit).values_list("id", flat=True))
    text_hash_of_pool_item = dict(
        PoolItem.objects.filter(value=value)
        .values_list("id", "text__content_hash")
        .iterator(chunk_size=_JUDGMENT_CHUNK)
    )
    return FrozenValue(value, fit, items, judgment_ids, text_hash_of_pool_item)


def snapshot_content_hash(frozen: Sequence[FrozenValue]) -> str:
    """sha256 over the canonical serialisation of what a snapshot freezes, one compact sorted-key JSON line each:

    1. `{"format": SNAPSHOT_FORMAT}`
    2. per value, in qualified-key order: `{"value": "svt:benevolence", "fit": {"id", "backend", "config",
       "watermark"}}`, then one line per item in text-hash order `[text_hash, intensity, ci_low, ci_high, utility,
       se, n_judgments, prior_intensity]` (scores rounded to 6 decimals), then `{"judgments": [ids ascending]}`.

    Names, creators and timestamps are not content: the same scores give the same hash whoever asks, and when.
    """
    hasher = hashlib.sha256()

    def line(obj: Any) -> None:
        hasher.update(_canonical_json(obj) + b"\n")

    line({"format": SNAPSHOT_FORMAT})
    for frozen_value in frozen:
        fit = frozen_value.fit
        line({
            "value": frozen_value.qualified_key,
            "fit": {"id": fit.pk, "backend": fit.backend, "config": fit.config, "watermark": fit.watermark},
        })
        for item in frozen_value.items:
            line(item.hash_row())
        line({"judgments": frozen_value.judgment_ids})
    return hasher.hexdigest()


# --- writing the files ----------------------------------------------------------------------------------------


@contextmanager
def _durable_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a new file for writing and fsync it on close, so a renamed folder never holds unwritten data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
    with open(path, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_vidb_csv(path: Path, items: Sequence[FrozenItem]) -> None:
    with _durable_open(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["text", "final_rating"])
        # Strongest first, as a reader browsing the file expects; the text hash breaks ties reproducibly.
        for item in sorted(items, key=lambda it: (-it.intensity, it.text_hash)):
            writer.writerow([csv_escape_formula(item.text), repr(item.intensity)])


def _score_records(frozen: Sequence[FrozenValue]) -> Iterator[dict[str, Any]]:
    for frozen_value in frozen:
        for item in frozen_value.items:
            yield {
                "value": frozen_value.qualified_key,
                "text": item.text,
                "text_hash": item.text_hash,
                "intensity": item.intensity,
                "ci_low": item.ci_low,
                "ci_high": item.ci_high,
                "utility": item.utility,
                "se": item.se,
                "n_judgments": item.n_judgments,
                "prior_intensity": item.prior_intensity,
            }


def _write_scores_jsonl(path: Path, frozen: Sequence[FrozenValue]) -> None:
    with _durable_open(path) as fh:
        for record in _score_records(frozen):
            fh.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")


def _write_scores_parquet(path: Path, frozen: Sequence[FrozenValue]) -> None:
    import pyarrow as pa  # imported here: only snapshot writing needs it
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("value", pa.string()), ("text", pa.string()), ("text_hash", pa.string()), ("intensity", pa.float64()),
        ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("utility", pa.float64()), ("se", pa.float64()),
        ("n_judgments", pa.int64()), ("prior_intensity", pa.float64()),
    ])
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for record in _score_records(frozen):
        for name in schema.names:
            columns[name].append(record[name])
    table = pa.table(columns, schema=schema)
    with _durable_open(path, "wb") as fh:
        pq.write_table(table, fh)


def _write_judgments_jsonl(path: Path, frozen: Sequence[FrozenValue]) -> None:
    with _durable_open(path) as fh:
        for frozen_value in frozen:
            hash_of = frozen_value.text_hash_of_pool_item

            def named(item_ids: Sequence[int], hash_of: dict[int, str] = hash_of) -> list[str | None]:
                # An item removed from the pool after it was judged has no text left to name.
                return [hash_of.get(item_id) for item_id in item_ids]

            rows = _included_judgments(frozen_value.value, frozen_value.fit).values_list(
                "id", "kind", "ordering", "shown_order", "latency_ms", "created_at", "annotator_id"
            )
            for judgment_id, kind, ordering, shown_order, latency_ms, created_at, annotator_id in rows.iterator(
                chunk_size=_JUDGMENT_CHUNK
            ):
                record = {
                    "judgment_id": judgment_id,
                    "value": frozen_value.qualified_key,
                    "kind": kind,
                    "ordering": [named(group) for group in ordering],
                    "shown_order": named(shown_order),
                    "latency_ms": latency_ms,
                    "created_at": created_at.isoformat(),
                    "annotator": annotator_pseudonym(annotator_id),
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _build_manifest(
    *,
    name: str,
    content_hash: str,
    parent: Snapshot | None,
    created_at: datetime,
    created_by: Any,
    frozen: Sequence[FrozenValue],
    folder: Path,
    file_paths: Sequence[str],
) -> dict[str, Any]:
    values = []
    for frozen_value in frozen:
        fit, value = frozen_value.fit, frozen_value.value
        values.append({
            "value": value.qualified_key,
            "theory": value.theory.key,
            "key": value.key,
            "name": value.name,
            "vidb_file": f"{VIDB_DIR}/{vidb_file_name(value)}",
            "n_items": len(frozen_value.items),
            "n_judgments": len(frozen_value.judgment_ids),
            "fit": {
                "id": fit.pk,
                "backend": fit.backend,
                "config": fit.config,
                "watermark": fit.watermark,
                "n_items": fit.n_items,
                "n_judgments": fit.n_judgments,
                "log_likelihood": fit.log_likelihood,
                "iterations": fit.iterations,
                "converged": fit.converged,
                "scale": fit.scale,
                "metrics": fit.metrics,  # agreement figures: split-half reliability, fragility, LLM–human, …
                "finished_at": fit.finished_at.isoformat() if fit.finished_at else None,
            },
        })
    files = []
    for relative in sorted(file_paths):
        path = folder / relative
        files.append({"path": relative, "sha256": _file_sha256(path), "bytes": path.stat().st_size})
    return {
        "format": SNAPSHOT_FORMAT,
        "name": name,
        "content_hash": content_hash,
        "parent_hash": parent.content_hash if parent else None,
        "created_at": created_at.isoformat(),
        "created_by": annotator_pseudonym(getattr(created_by, "pk", None)),
        "valueflow_version": valueflow_version(),
        "counts": {
            "values": len(frozen),
            "items": sum(len(v.items) for v in frozen),
            "judgments": sum(len(v.judgment_ids) for v in frozen),
        },
        "values": values,
        "files": files,
        "notes": {
            "final_rating": "the published Plackett–Luce intensity in [-10, 10], rounded to 6 decimals",
            "csv_formula_escaping": "a CSV text cell matching ^'*[=+\\-@\\t\\r] has one single quote prefixed so "
            "spreadsheets do not run it as a formula; drop one leading quote from cells matching ^'+[=+\\-@\\t\\r] "
            "to recover the text; final_rating is never escaped",
            "annotators": "HMAC-SHA256 pseudonyms of user ids (16 hex digits); no names or e-mail addresses",
            "texts": "named by text_hash, the sha256 of the whitespace-normalised text",
        },
    }


def _write_snapshot_files(
    folder: Path,
    *,
    frozen: Sequence[FrozenValue],
    name: str,
    content_hash: str,
    parent: Snapshot | None,
    created_at: datetime,
    created_by: Any,
) -> dict[str, Any]:
    """Write every file of a snapshot into `folder` (fsynced) and return its manifest."""
    written: list[str] = []
    for frozen_value in frozen:
        relative = f"{VIDB_DIR}/{vidb_file_name(frozen_value.value)}"
        _write_vidb_csv(folder / relative, frozen_value.items)
        written.append(relative)
    _write_scores_jsonl(folder / SCORES_JSONL, frozen)
    written.append(SCORES_JSONL)
    _write_scores_parquet(folder / SCORES_PARQUET, frozen)
    written.append(SCORES_PARQUET)
    _write_judgments_jsonl(folder / JUDGMENTS_JSONL, frozen)
    written.append(JUDGMENTS_JSONL)
    manifest = _build_manifest(
        name=name, content_hash=content_hash, parent=parent, created_at=created_at, created_by=created_by,
        frozen=frozen, folder=folder, file_paths=written,
    )
    with _durable_open(folder / MANIFEST_NAME) as fh:
        fh.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    _fsync_dir(folder / VIDB_DIR)
    _fsync_dir(folder)
    return manifest


@contextmanager
def _creation_lock(root: Path) -> Iterator[None]:
    """One snapshot creation at a time per media folder (snapshots are rare): two identical requests then cannot
    both publish a folder, and a folder left by a crash can be told apart from one being published."""
    with open(root / ".create.lock", "a") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _discard_orphan_folder(final_dir: Path) -> None:
    """A final folder without a row is what a crash between rename and commit leaves: move it aside and delete it."""
    if not final_dir.exists():
        return
    logger.warning("snapshot folder %s has no snapshot row (left by an interrupted creation); replacing it", final_dir)
    trash = final_dir.with_name(f".orphan-{final_dir.name}-{uuid.uuid4().hex}")
    os.rename(final_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _default_parent(values: Sequence[Value]) -> Snapshot | None:
    return (
        Snapshot.objects.filter(snapshot_values__value__in=values).distinct().order_by("-created_at", "-id").first()
    )


def snapshot_create(
    *, value_ids: Sequence[int], name: str, created_by: Any, parent: Snapshot | None = None
) -> Snapshot:
    """Freeze the published fit of each chosen value into a new immutable snapshot, or return the existing
    snapshot with the same content hash (its name and parent stay as they were).

    The files are written to a temporary folder, fsynced and renamed into MEDIA_ROOT/snapshots/<hash>/ before the
    row is committed; any failure (a full disk, a database error) leaves neither the row nor the final folder.
    The parent defaults to the newest snapshot that shares a value. Commits its own transaction: call it outside
    a transaction, as the views, API, command and job do.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError("Give the snapshot a name.", extra={"field": "name"})
    if len(name) > MAX_NAME_LENGTH:
        raise ApplicationError(
            f"The snapshot name has {len(name)} characters; the limit is {MAX_NAME_LENGTH}.", extra={"field": "name"}
        )
    frozen = [_freeze_value(value, fit) for value, fit in _values_with_published_fits(value_ids)]
    content_hash = snapshot_content_hash(frozen)
    existing = Snapshot.objects.filter(content_hash=content_hash).first()
    if existing is not None:
        return existing

    root = snapshots_root()
    root.mkdir(parents=True, exist_ok=True)
    with _creation_lock(root):
        existing = Snapshot.objects.filter(content_hash=content_hash).first()
        if existing is not None:
            return existing
        if parent is None:
            parent = _default_parent([frozen_value.value for frozen_value in frozen])
        created_at = timezone.now()
        final_dir = root / content_hash
        tmp_dir = root / f".tmp-{content_hash}-{uuid.uuid4().hex}"
        try:
            tmp_dir.mkdir()
            manifest = _write_snapshot_files(
                tmp_dir, frozen=frozen, name=name, content_hash=content_hash, parent=parent,
                created_at=created_at, created_by=created_by,
            )
            _discard_orphan_folder(final_dir)
            os.rename(tmp_dir, final_dir)
            _fsync_dir(root)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        try:
            with transaction.atomic():
                snapshot = Snapshot.objects.create(
                    name=name,
                    content_hash=content_hash,
                    parent=parent,
                    created_by=created_by if getattr(created_by, "pk", None) else None,
                    manifest=manifest,
                    files_dir=f"{SNAPSHOTS_SUBDIR}/{content_hash}",
                    n_values=manifest["counts"]["values"],
                    n_items=manifest["counts"]["items"],
                    n_judgments=manifest["counts"]["judgments"],
                )
                # The row's timestamp is the one the manifest records (auto_now_add would pick a later instant).
                Snapshot.objects.filter(pk=snapshot.pk).update(created_at=created_at)
                snapshot.created_at = created_at
                SnapshotValue.objects.bulk_create(
                    SnapshotValue(snapshot=snapshot, value=frozen_value.value, fit=frozen_value.fit)
                    for frozen_value in frozen
                )
        except BaseException:
            shutil.rmtree(final_dir, ignore_errors=True)
            raise
    audit_logger.info(
        "snapshot created: %s created snapshot %s (%s) with %d values",
        actor_label(created_by), snapshot.pk, content_hash, snapshot.n_values,
    )
    return snapshot


def snapshot_create_job(context: Any) -> dict[str, Any]:
    """Job handler for kind `modeling.snapshot_create`: params {"value_ids", "name", "user_id", "parent_id"?}."""
    from accounts.models import User

    params = context.params
    user = User.objects.filter(pk=params.get("user_id")).first() if params.get("user_id") else None
    parent = Snapshot.objects.filter(pk=params["parent_id"]).first() if params.get("parent_id") else None
    context.report(0.1, "Freezing the published fits")
    snapshot = snapshot_create(value_ids=params["value_ids"], name=params["name"], created_by=user, parent=parent)
    return {"snapshot_id": snapshot.pk, "content_hash": snapshot.content_hash}


def snapshot_value_ids_from_keys(*, keys: Sequence[str]) -> list[int]:
    """`["svt:benevolence", "mft:care-harm"]` → value ids; any accepted spelling of theory and value works."""
    ids, problems = [], []
    for raw in keys:
        theory, separator, value = raw.strip().partition(":")
        if not separator or not theory or not value:
            problems.append(f"{raw!r} is not theory:value (for example svt:benevolence)")
            continue
        try:
            ids.append(value_resolve(theory=theory, value=value).pk)
        except LookupError as exc:
            problems.append(f"{raw!r}: {exc.args[0] if exc.args else exc}")
    if problems:
        raise ApplicationError("Unknown value(s): " + "; ".join(problems) + ".", extra={"values": problems})
    if not ids:
        raise ApplicationError("Name at least one value, as theory:value (for example svt:benevolence).")
    return ids


# --- reading snapshots and handing out their files --------------------------------------------------------------


def snapshot_list() -> QuerySet[Snapshot]:
    return Snapshot.objects.select_related("created_by", "parent").order_by("-created_at", "-id")


def snapshot_candidate_values():  # type: ignore[no-untyped-def]
    """Values that can go into a snapshot: those with a published fit, in taxonomy order."""
    return (
        Value.objects.filter(published_fit__isnull=False)
        .select_related("theory", "published_fit__fit")
        .order_by("theory__order", "theory__key", "level", "order", "key")
    )


def snapshot_get(*, ref: str | int) -> Snapshot:
    """A snapshot by id (`12`) or by its content hash or an unambiguous prefix of it (at least 8 hex digits)."""
    text = str(ref).strip().lower()
    if text.isdigit():
        found = Snapshot.objects.filter(pk=int(text)).first()
    elif re.fullmatch(r"[0-9a-f]{8,64}", text):
        matches = list(Snapshot.objects.filter(content_hash__startswith=text)[:2])
        if len(matches) > 1:
            raise ApplicationError(
                f"The hash prefix {text!r} matches several snapshots; give more digits.", extra={"ref": text}
            )
        found = matches[0] if matches else None
    else:
        raise ApplicationError(
            f"{ref!r} is neither a snapshot id nor a content hash (at least 8 hex digits).", extra={"ref": str(ref)}
        )
    if found is None:
        raise ApplicationError(f"No snapshot {ref!r}.", extra={"ref": str(ref)}, status_code=404)
    return found


def snapshot_file_names(snapshot: Snapshot) -> list[str]:
    """Every file of the snapshot, relative to its folder: the manifest's list plus the manifest itself."""
    return [entry["path"] for entry in snapshot.manifest.get("files", [])] + [MANIFEST_NAME]


def snapshot_file_path(*, snapshot: Snapshot, filename: str) -> Path:
    """The path of one of the snapshot's files. Only names listed in its manifest are served, so `../` and
    absolute paths cannot reach anything else."""
    parts = PurePosixPath(filename).parts
    if filename.startswith(("/", "\\")) or ".." in parts or "\\" in filename or "\x00" in filename:
        raise ApplicationError(
            f"{filename!r} is not a file name inside snapshot {snapshot.pk}: paths may not leave its folder.",
            extra={"filename": filename},
        )
    if filename not in snapshot_file_names(snapshot):
        raise ApplicationError(
            f"Snapshot {snapshot.pk} has no file {filename!r}.",
            extra={"filename": filename, "files": snapshot_file_names(snapshot)},
            status_code=404,
        )
    folder = snapshot_dir(snapshot).resolve()
    path = (folder / filename).resolve()
    if folder not in path.parents or not path.is_file():
        raise ApplicationError(
            f"The file {filename!r} of snapshot {snapshot.pk} is missing from {snapshot.files_dir}.",
            extra={"filename": filename},
            status_code=404,
        )
    return path


def snapshot_file_open(*, snapshot: Snapshot, filename: str, actor: str) -> Path:
    """`snapshot_file_path`, recorded in the audit log as a download by `actor` (see `actor_label`)."""
    path = snapshot_file_path(snapshot=snapshot, filename=filename)
    audit_logger.info(
        "snapshot download: %s downloaded %s of snapshot %s (%s)", actor, filename, snapshot.pk, snapshot.content_hash
    )
    return path


def snapshot_zip_name(snapshot: Snapshot) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", snapshot.name.lower()).strip("-")[:60] or "snapshot"
    return f"{slug}-{snapshot.content_hash[:12]}"


def snapshot_zip_build(*, snapshot: Snapshot, actor: str) -> IO[bytes]:
    """A zip of every file of the snapshot (inside one folder named after it), as an open temporary file
    positioned at its start; closing it deletes it. Recorded in the audit log."""
    paths = [(name, snapshot_file_path(snapshot=snapshot, filename=name)) for name in snapshot_file_names(snapshot)]
    archive = tempfile.TemporaryFile()
    prefix = snapshot_zip_name(snapshot)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, path in paths:
            zipped.write(path, arcname=f"{prefix}/{name}")
    archive.seek(0)
    audit_logger.info(
        "snapshot download: %s downloaded the zip of snapshot %s (%s)", actor, snapshot.pk, snapshot.content_hash
    )
    return archive


def snapshot_export(*, snapshot: Snapshot, out_dir: Path, actor: str) -> list[Path]:
    """Copy every file of the snapshot into `out_dir` (created if missing), checking each copy against the
    sha256 in the manifest. Refuses to overwrite existing files. Recorded in the audit log."""
    names = snapshot_file_names(snapshot)
    sources = [(name, snapshot_file_path(snapshot=snapshot, filename=name)) for name in names]
    clashes = [name for name in names if (out_dir / name).exists()]
    if clashes:
        raise ApplicationError(
            f"{out_dir} already holds {', '.join(clashes)}; export into an empty folder.",
            extra={"out_dir": str(out_dir), "existing": clashes},
        )
    expected = {entry["path"]: entry["sha256"] for entry in snapshot.manifest.get("files", [])}
    written = []
    for name, source in sources:
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        if name in expected and _file_sha256(target) != expected[name]:
            raise ApplicationError(
                f"{name} of snapshot {snapshot.pk} does not match the sha256 in its manifest; the stored file is "
                "damaged. Restore it from a backup.",
                extra={"filename": name},
            )
        written.append(target)
    audit_logger.info(
        "snapshot export: %s exported snapshot %s (%s) to %s", actor, snapshot.pk, snapshot.content_hash, out_dir
    )
    return written


# --- comparing two snapshots ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemMove:
    text_hash: str
    text: str
    old_intensity: float
    new_intensity: float

    @property
    def delta(self) -> float:
        return self.new_intensity - self.old_intensity


@dataclass(frozen=True)
class ValueDiff:
    """How one value's scores moved between two snapshots. Correlations are over the items in both, and None
    when fewer than two shared items exist or one side has no spread."""

    value: str
    value_name: str
    old_fit_id: int
    new_fit_id: int
    n_old: int
    n_new: int
    n_shared: int
    added: list[str]  # text hashes only in the new snapshot
    removed: list[str]  # text hashes only in the old snapshot
    mean_abs_delta: float | None
    max_abs_delta: float | None
    spearman: float | None
    kendall: float | None
    top_movers: list[ItemMove]


@dataclass(frozen=True)
class SnapshotDiff:
    old: Snapshot
    new: Snapshot
    values: list[ValueDiff]
    only_in_old: list[str]  # qualified value keys
    only_in_new: list[str]

    def as_dict(self, *, list_limit: int = 100) -> dict[str, Any]:
        """A JSON-ready summary; added/removed text hashes are cut to `list_limit` (their counts are complete)."""
        return {
            "old": {"id": self.old.pk, "name": self.old.name, "content_hash": self.old.content_hash},
            "new": {"id": self.new.pk, "name": self.new.name, "content_hash": self.new.content_hash},
            "only_in_old": self.only_in_old,
            "only_in_new": self.only_in_new,
            "values": [
                {
                    "value": v.value,
                    "value_name": v.value_name,
                    "old_fit_id": v.old_fit_id,
                    "new_fit_id": v.new_fit_id,
                    "n_old": v.n_old,
                    "n_new": v.n_new,
                    "n_shared": v.n_shared,
                    "n_added": len(v.added),
                    "n_removed": len(v.removed),
                    "added": v.added[:list_limit],
                    "removed": v.removed[:list_limit],
                    "mean_abs_delta": v.mean_abs_delta,
                    "max_abs_delta": v.max_abs_delta,
                    "spearman": v.spearman,
                    "kendall": v.kendall,
                    "top_movers": [
                        {"text_hash": m.text_hash, "text": m.text, "old_intensity": m.old_intensity,
                         "new_intensity": m.new_intensity, "delta": _frozen(m.delta)}
                        for m in v.top_movers
                    ],
                }
                for v in self.values
            ],
        }


def _frozen_scores(snapshot: Snapshot) -> dict[str, dict[str, tuple[float, str]]]:
    """value key → text hash → (intensity, text), read from the snapshot's own scores.jsonl: a comparison reads
    exactly what was frozen, not whatever the database holds now."""
    path = snapshot_file_path(snapshot=snapshot, filename=SCORES_JSONL)
    scores: dict[str, dict[str, tuple[float, str]]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            scores.setdefault(row["value"], {})[row["text_hash"]] = (float(row["intensity"]), row["text"])
    return scores


def _correlation(statistic: Any) -> float | None:
    value = float(statistic)
    return None if math.isnan(value) else round(value, SCORE_DECIMALS)


def _value_diff(
    old_entry: dict[str, Any],
    new_entry: dict[str, Any],
    old: dict[str, tuple[float, str]],
    new: dict[str, tuple[float, str]],
    *,
    top: int,
) -> ValueDiff:
    # Imported here: scipy.stats is slow to import and only comparisons need it.
    import numpy as np
    from scipy import stats

    shared = sorted(old.keys() & new.keys())
    old_scores = np.array([old[h][0] for h in shared], dtype=float)
    new_scores = np.array([new[h][0] for h in shared], dtype=float)
    deltas = np.abs(new_scores - old_scores)
    spearman = kendall = None
    if len(shared) >= 2:
        with warnings.catch_warnings():
            # A side with no spread has no rank correlation; scipy warns and returns NaN, reported here as None.
            warnings.simplefilter("ignore", category=stats.ConstantInputWarning)
            spearman = _correlation(stats.spearmanr(old_scores, new_scores).statistic)
            kendall = _correlation(stats.kendalltau(old_scores, new_scores).statistic)
    order = sorted(range(len(shared)), key=lambda i: (-deltas[i], shared[i]))[:top]
    movers = [
        ItemMove(text_hash=shared[i], text=new[shared[i]][1], old_intensity=float(old_scores[i]),
                 new_intensity=float(new_scores[i]))
        for i in order
        if deltas[i] > 0
    ]
    return ValueDiff(
        value=new_entry["value"],
        value_name=new_entry["name"],
        old_fit_id=old_entry["fit"]["id"],
        new_fit_id=new_entry["fit"]["id"],
        n_old=len(old),
        n_new=len(new),
        n_shared=len(shared),
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        mean_abs_delta=_frozen(deltas.mean()) if len(shared) else None,
        max_abs_delta=_frozen(deltas.max()) if len(shared) else None,
        spearman=spearman,
        kendall=kendall,
        top_movers=movers,
    )


def snapshot_diff(*, old: Snapshot, new: Snapshot, top: int = 10) -> SnapshotDiff:
    """Compare two snapshots value by value, from their frozen files: for each value in both, the items in both,
    added and removed, the mean and largest |Δ intensity|, Spearman's ρ and Kendall's τ of the shared items'
    intensities, and the `top` items that moved most."""
    if top < 0:
        raise ApplicationError("top must be zero or more.", extra={"field": "top"})

    old_values = {entry["value"]: entry for entry in old.manifest.get("values", [])}
    new_values = {entry["value"]: entry for entry in new.manifest.get("values", [])}
    shared = sorted(old_values.keys() & new_values.keys())
    old_scores, new_scores = _frozen_scores(old), _frozen_scores(new)
    return SnapshotDiff(
        old=old,
        new=new,
        values=[
            _value_diff(old_values[key], new_values[key], old_scores.get(key, {}), new_scores.get(key, {}), top=top)
            for key in shared
        ],
        only_in_old=sorted(old_values.keys() - new_values.keys()),
        only_in_new=sorted(new_values.keys() - old_values.keys()),
    )
