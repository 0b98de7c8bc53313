"""HiVES on the platform: training data from the pool, training runs as jobs, the version registry with promotion and
pinning, re-embedding every text for the version in use, nearest neighbours and the HiVES judge.

A training run (job kind `modeling.hives_train`, on the "gpu" queue where a GPU worker exists):

1. reads every labelled pool item up to a watermark (the highest pool item id), so a resumed run sees the same data;
2. splits the texts into training and held-out sets (by text, seeded), and measures the untuned base model on the
   held-out texts;
3. trains (modeling.ml.hives.train), checkpointing every N steps; a worker that dies mid-run leaves the job running
   without a heartbeat, the job reaper requeues it, and the run resumes from its last checkpoint;
4. measures the trained encoder on the held-out texts, and the version in use on the same texts;
5. promotes the new version only if it beats the version in use (or, without one, the untuned base) on the primary
   metric (settings.VALUEFLOW_HIVES_PRIMARY_METRIC) and the version in use is not pinned: every text is embedded
   again under the new version, the value vectors and the judge are rebuilt, and only then does the current-version
   pointer move. A run that fails anywhere is marked failed and leaves the version in use untouched.

Artefacts of version N live in MODELING_ARTIFACTS_DIR/hives/vN/: `model/` (the encoder), `checkpoints/` (while
training), `embeddings.npy` (float32, one unit vector per text) with `text_ids.npy`, `values.npz` (per-value
centroids and the scored texts profiling averages over) and `judge.npz` (ridge intensity heads).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from common.services import job_create
from labeling.models import Concept, PoolItem, Text, Value, ValueEdge
from modeling.ml.hives.data import (
    NEUTRAL_DEAD_ZONE,
    HivesExample,
    ValueNode,
    collapse_labels,
    direction_from,
    split_by_text,
    value_paths,
)
from modeling.ml.hives.paths import DEFAULT_BASE_MODEL
from modeling.models import EmbeddingModel

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("valueflow.audit")

TRAIN_JOB = "modeling.hives_train"
EMBED_JOB = "modeling.hives_embed"
TRAIN_DEDUPE_KEY = "hives-train"
METRIC_NAMES = ("rank_acc", "sim_corr", "orthogonality")
# Settings of a run that are not TrainConfig fields.
HELD_OUT_FRACTION = 0.2
EVAL_MAX_QUERIES = 2000
# Fewer labelled texts than this and a training run refuses to start: the held-out split would say nothing.
MIN_TRAINING_TEXTS = 10
# Loss-curve points are written to the version row at most this often while training (the page polls it).
_CURVE_WRITE_EVERY_S = 2.0
_EMBED_CHUNK = 2000
# Texts whose value has fewer than this many pooled texts do not get a value vector for profiling.
MIN_VALUE_TEXTS = 2


# --- settings --------------------------------------------------------------------------------------------------


def hives_queue() -> str:
    """Where HiVES jobs run: the "gpu" queue when a GPU worker exists, else "default"."""
    return "gpu" if settings.VALUEFLOW_GPU_WORKER else "default"


def primary_metric() -> str:
    metric = settings.VALUEFLOW_HIVES_PRIMARY_METRIC
    if metric not in METRIC_NAMES:
        raise ApplicationError(
            f"VALUEFLOW_HIVES_PRIMARY_METRIC is {metric!r}; it must be one of {', '.join(METRIC_NAMES)}",
            {"setting": "VALUEFLOW_HIVES_PRIMARY_METRIC", "allowed": list(METRIC_NAMES)},
        )
    return metric


def version_dir(version: EmbeddingModel) -> Path:
    return Path(settings.MODELING_ARTIFACTS_DIR) / "hives" / f"v{version.pk}"


def version_model_location(version: EmbeddingModel) -> str:
    """Where the version's encoder is loaded from: its own folder, or the base model for the untuned base."""
    return version.base_model if version.is_base else str(version_dir(version) / "model")


# --- training data ---------------------------------------------------------------------------------------------


def _taxonomy_paths() -> tuple[dict[int, tuple[str, ...]], dict[int, str], dict[int, str]]:
    """(value id → path, value id → qualified key, value id → concept key) for the loaded taxonomy."""
    values = list(Value.objects.select_related("theory").order_by("theory__order", "level", "order", "key"))
    parents: dict[int, list[str]] = defaultdict(list)
    key_of = {value.pk: value.qualified_key for value in values}
    for child_id, parent_id in ValueEdge.objects.order_by("parent__order", "parent__key").values_list(
        "child_id", "parent_id"
    ):
        parents[child_id].append(key_of[parent_id])
    nodes = [ValueNode(key=key_of[v.pk], theory=v.theory.key, parents=tuple(parents[v.pk])) for v in values]
    paths_by_key = value_paths(nodes)
    paths = {value.pk: paths_by_key[key_of[value.pk]] for value in values if key_of[value.pk] in paths_by_key}
    return paths, key_of, _value_concepts()


def _value_concepts() -> dict[int, str]:
    """value id → the key of the first (alphabetical) concept it belongs to that spans two or more theories."""
    members: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for concept_key, value_id, theory_id in Concept.values.through.objects.order_by("concept__key").values_list(
        "concept__key", "value_id", "value__theory_id"
    ):
        members[concept_key].append((value_id, theory_id))
    concept_of: dict[int, str] = {}
    for concept_key in sorted(members):
        if len({theory for _, theory in members[concept_key]}) < 2:
            continue
        for value_id, _ in members[concept_key]:
            concept_of.setdefault(value_id, concept_key)
    return concept_of


def _labelled_items():  # type: ignore[no-untyped-def]
    """Pool items HiVES can learn from: not probes, and with a direction or a published intensity."""
    return PoolItem.objects.filter(is_probe=False).filter(Q(direction__isnull=False) | Q(intensity__isnull=False))


@dataclass
class TrainingData:
    examples: list[HivesExample]
    watermark: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)


def hives_training_data(*, up_to_pool_item_id: int | None = None) -> TrainingData:
    """Every labelled pool item (id ≤ the watermark) as a HiVES example.

    Direction: the item's own (from its import), else the sign of its published intensity (|x| < 1 is neutral).
    The individual-anchor id comes from the text's metadata key `individual_anchor` when an import provided one;
    the concept id from the taxonomy's concept map (concepts that span two or more theories).
    """
    if up_to_pool_item_id is None:
        up_to_pool_item_id = PoolItem.objects.aggregate(top=Max("id"))["top"] or 0
    from labeling.models import Judgment

    judgment_watermark = Judgment.objects.aggregate(top=Max("id"))["top"] or 0
    paths, key_of, concept_of = _taxonomy_paths()
    theory_of = dict(Value.objects.values_list("id", "theory__key"))
    rows = (
        PoolItem.objects.filter(is_probe=False, id__lte=up_to_pool_item_id)
        .order_by("id")
        .values_list("text_id", "value_id", "direction", "intensity", "text__content", "text__metadata")
    )
    examples: list[HivesExample] = []
    no_direction = no_path = 0
    for text_id, value_id, direction, intensity, content, metadata in rows.iterator(chunk_size=5000):
        resolved = direction_from(direction, intensity, dead_zone=NEUTRAL_DEAD_ZONE)
        if resolved is None:
            no_direction += 1
            continue
        if value_id not in paths:
            no_path += 1
            continue
        anchor = (metadata or {}).get("individual_anchor") if isinstance(metadata, dict) else None
        examples.append(
            HivesExample(
                text_id=text_id,
                text=content,
                theory=theory_of[value_id],
                path=paths[value_id],
                direction=resolved,
                anchor=str(anchor) if anchor not in (None, "") else None,
                concept=concept_of.get(value_id),
                value=key_of[value_id],
            )
        )
    examples = collapse_labels(examples)
    counts = {
        "examples": len(examples),
        "texts": len({example.text_id for example in examples}),
        "skipped_without_direction": no_direction,
        "skipped_on_dropped_level": no_path,
    }
    return TrainingData(
        examples=examples,
        watermark={"pool_item_id": int(up_to_pool_item_id), "judgment_id": int(judgment_watermark)},
        counts=counts,
    )


def hives_newest_watermark() -> int:
    """The highest pool item id any training run has read (0 before the first run)."""
    watermarks = [
        int(watermark.get("pool_item_id", 0))
        for watermark in EmbeddingModel.objects.filter(is_base=False).values_list("data_watermark", flat=True)
        if watermark
    ]
    return max(watermarks, default=0)


def hives_new_labels_count() -> int:
    """Labelled pool items that arrived after the newest training run's watermark.

    Counted from the newest run, promoted or not, rather than from the version in use: a run that did not beat the
    version in use (or failed) must not be retried on the same data at every check.
    """
    return _labelled_items().filter(id__gt=hives_newest_watermark()).count()


# --- starting runs ---------------------------------------------------------------------------------------------


def _active_training_job() -> Job | None:
    return Job.objects.filter(dedupe_key=TRAIN_DEDUPE_KEY, status__in=Job.ACTIVE_STATUSES).first()


def hives_training_defaults() -> dict[str, Any]:
    """The settings a training run gets for what it does not set: TrainConfig's defaults and the held-out share."""
    from modeling.ml.hives.train import TrainConfig  # torch is imported only where training happens

    return {**asdict(TrainConfig()), "held_out_fraction": HELD_OUT_FRACTION}


def _validated_hyperparameters(raw: dict[str, Any]) -> dict[str, Any]:
    from modeling.ml.hives.train import TrainConfig  # torch is imported only where training happens

    values = dict(raw)
    held_out = values.pop("held_out_fraction", HELD_OUT_FRACTION)
    try:
        held_out = float(held_out)
    except (TypeError, ValueError):
        raise ApplicationError(
            f"held_out_fraction must be a number between 0 and 1, got {held_out!r}", {"field": "held_out_fraction"}
        ) from None
    if not 0.05 <= held_out <= 0.5:
        raise ApplicationError(
            f"held_out_fraction must be between 0.05 and 0.5, got {held_out}", {"field": "held_out_fraction"}
        )
    values.setdefault("seed", secrets.randbelow(2**31))
    values.setdefault("max_length", settings.VALUEFLOW_HIVES_MAX_LENGTH)
    try:
        config = TrainConfig.from_dict(values)
    except ValueError as exc:
        raise ApplicationError(f"HiVES hyperparameters: {exc}", {"hyperparameters": raw}) from None
    return {**asdict(config), "held_out_fraction": held_out}


def hives_training_start(
    *,
    created_by: Any = None,
    hyperparameters: dict[str, Any] | None = None,
    base_model: str = "",
    reason: str = "started by hand",
) -> EmbeddingModel:
    """Register a new version in training and queue its training job. Refuses while another run is active."""
    active = _active_training_job()
    if active is not None:
        version = EmbeddingModel.objects.filter(job=active).first()
        raise ApplicationError(
            "A HiVES training run is already in progress; wait for it to finish.",
            {"job_id": active.pk, "version_id": version.pk if version else None},
            status_code=409,
        )
    labelled = _labelled_items().count()
    if labelled < MIN_TRAINING_TEXTS:
        raise ApplicationError(
            f"HiVES needs at least {MIN_TRAINING_TEXTS} labelled texts (pool items with a direction or a published "
            f"intensity) to train and hold some out; the platform has {labelled}.",
            {"labelled_pool_items": labelled, "needed": MIN_TRAINING_TEXTS},
        )
    params = _validated_hyperparameters(hyperparameters or {})
    base = (base_model or settings.VALUEFLOW_HIVES_BASE_MODEL or DEFAULT_BASE_MODEL).strip()
    with transaction.atomic():
        number = EmbeddingModel.objects.filter(is_base=False).count() + 1
        version = EmbeddingModel.objects.create(
            name=f"HiVES {number}",
            base_model=base,
            pooling=settings.VALUEFLOW_HIVES_POOLING,
            status=EmbeddingModel.Status.TRAINING,
            hyperparameters=params,
            seed=params["seed"],
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        job = job_create(
            kind=TRAIN_JOB,
            params={"version_id": version.pk, "reason": reason},
            created_by=created_by,
            title=f"Train {version.name}",
            queue=hives_queue(),
            dedupe_key=TRAIN_DEDUPE_KEY,
        )
        version.job = job
        version.save(update_fields=["job"])
    audit_logger.info("hives training started: version=%s job=%s reason=%s", version.pk, job.pk, reason)
    return version


def hives_retrain_check() -> EmbeddingModel | None:
    """Start a training run when VALUEFLOW_HIVES_RETRAIN_AFTER labelled items arrived since the newest run's
    watermark (and none is running). Returns the new version, or None."""
    if _active_training_job() is not None:
        return None
    new_labels = hives_new_labels_count()
    if new_labels < settings.VALUEFLOW_HIVES_RETRAIN_AFTER:
        return None
    try:
        return hives_training_start(reason=f"{new_labels} new labelled texts since the last run")
    except ApplicationError as exc:  # e.g. another check started a run between our look and our start
        logger.info("hives retrain check: not started: %s", exc.message)
        return None


# --- the training job ------------------------------------------------------------------------------------------


def _load_encoder(location: str, *, pooling: str, max_length: int):  # type: ignore[no-untyped-def]
    from modeling.ml.hives.encoder import Encoder
    from modeling.ml.hives.paths import ModelNotFound

    chosen = pooling if pooling in ("mean", "last_token") else None  # "auto": the model family decides
    try:
        return Encoder.load(location, pooling=chosen, max_length=max_length, device=settings.MODELING_DEVICE)
    except ModelNotFound as exc:
        raise ApplicationError(f"HiVES encoder: {exc}", {"base_model": location}) from None


def _evaluate(encoder: Any, examples: Sequence[HivesExample], *, seed: int, report: Callable[[float], None]) -> dict:
    """Held-out metrics of one encoder (rank_acc, sim_corr, orthogonality, knn_acc, …)."""
    from modeling.ml.hives.metrics import distinct_texts, hierarchy_metrics

    texts = distinct_texts(examples)
    vectors = encoder.encode(texts, progress=lambda done, total: report(done / max(1, total)))
    return _finite(hierarchy_metrics(vectors, examples, max_queries=EVAL_MAX_QUERIES, seed=seed))


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    """NaN (an undefined metric, e.g. a correlation over constant values) becomes None so it can be stored."""
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            clean[key] = _finite(value)
        elif isinstance(value, float) and not math.isfinite(value):
            clean[key] = None
        else:
            clean[key] = value
    return clean


def _stage(context: JobContext | None, start: float, end: float, message: str) -> Callable[[float], None]:
    """A progress reporter for one stage of the run, mapping its 0..1 onto [start, end] of the job's bar."""

    def report(fraction: float) -> None:
        if context is not None:
            context.report(start + (end - start) * max(0.0, min(1.0, fraction)), message)

    report(0.0)
    return report


def hives_train_job(context: JobContext) -> dict[str, Any]:
    """Job handler of `modeling.hives_train`. Idempotent: a version that is no longer training is left alone."""
    version = EmbeddingModel.objects.get(pk=context.params["version_id"])
    if version.status != EmbeddingModel.Status.TRAINING:
        return {"version_id": version.pk, "status": version.status}
    try:
        return _train_version(version, context)
    except Exception as exc:
        # The version in use stays as it is; the job records the traceback.
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        EmbeddingModel.objects.filter(pk=version.pk).update(
            status=EmbeddingModel.Status.FAILED,
            finished_at=timezone.now(),
            metrics={**version.metrics, "error": message[:2000]},
        )
        raise


def _train_version(version: EmbeddingModel, context: JobContext) -> dict[str, Any]:
    from modeling.ml.hives.train import TrainConfig, train

    params = dict(version.hyperparameters)
    held_out_fraction = float(params.pop("held_out_fraction", HELD_OUT_FRACTION))
    config = TrainConfig.from_dict(params)

    report = _stage(context, 0.0, 0.03, "Reading labelled texts")
    data = hives_training_data(up_to_pool_item_id=version.data_watermark.get("pool_item_id"))
    if not version.data_watermark:
        version.data_watermark = data.watermark
        version.save(update_fields=["data_watermark"])
    texts = {example.text_id for example in data.examples}
    if len(texts) < MIN_TRAINING_TEXTS:
        raise ApplicationError(
            f"HiVES needs at least {MIN_TRAINING_TEXTS} labelled texts with a value path; found {len(texts)} "
            f"({data.counts['skipped_without_direction']} pool items lack a direction, "
            f"{data.counts['skipped_on_dropped_level']} sit on a level the three-level cut drops).",
            {"counts": data.counts},
        )
    train_examples, held_out = split_by_text(data.examples, held_out_fraction=held_out_fraction, seed=version.seed)
    report(1.0)

    folder = version_dir(version)
    encoder = _load_encoder(version.base_model, pooling=version.pooling, max_length=config.max_length)
    version.pooling = encoder.pooling
    if not version.base_metrics:
        version.base_metrics = _evaluate(
            encoder, held_out, seed=version.seed, report=_stage(context, 0.03, 0.10, "Measuring the base model")
        )
    version.checkpoint_dir = str(folder / "checkpoints")
    version.save(update_fields=["pooling", "base_metrics", "checkpoint_dir"])

    curve_writer = _LossCurveWriter(version.pk)

    def on_step(step: int, total: int, loss: float) -> None:
        context.report(0.10 + 0.70 * step / total, f"Training: step {step} of {total}, loss {loss:.3f}")
        curve_writer.add(step, loss)

    result = train(encoder, train_examples, config, checkpoint_dir=folder / "checkpoints", on_step=on_step)
    curve_writer.flush(final=result.loss_curve)
    encoder.save(folder / "model")

    metrics = _evaluate(
        encoder, held_out, seed=version.seed, report=_stage(context, 0.80, 0.85, "Measuring the trained encoder")
    )
    metrics.update(
        {
            "train_seconds": round(result.seconds, 1),
            "steps": result.steps,
            "resumed_from_step": result.resumed_from,
            "train_texts": len({e.text_id for e in train_examples}),
            "held_out_texts": len({e.text_id for e in held_out}),
            "data": data.counts,
        }
    )
    decision = _promotion_decision(version, metrics, held_out, context)
    metrics["promotion"] = decision
    EmbeddingModel.objects.filter(pk=version.pk).update(metrics=metrics)
    version.metrics = metrics

    if decision["promote"]:
        hives_embed_all(version=version, report=_stage(context, 0.88, 0.99, "Embedding every text"))
        _make_current(version)
        status = EmbeddingModel.Status.PROMOTED
    else:
        status = EmbeddingModel.Status.REJECTED if not decision["beats_reference"] else EmbeddingModel.Status.EVALUATED
    EmbeddingModel.objects.filter(pk=version.pk).update(status=status, finished_at=timezone.now())
    shutil.rmtree(folder / "checkpoints", ignore_errors=True)  # the finished model supersedes them
    audit_logger.info("hives version %s finished: %s (%s)", version.pk, status, decision["reason"])
    return {
        "version_id": version.pk,
        "status": str(status),
        "promotion": decision,
        "resumed_from_step": result.resumed_from,
    }


class _LossCurveWriter:
    """Appends loss points to the version row every couple of seconds, for the live loss curve."""

    def __init__(self, version_id: int) -> None:
        self.version_id = version_id
        self.points: list[list[float]] = list(
            EmbeddingModel.objects.filter(pk=version_id).values_list("loss_curve", flat=True).first() or []
        )
        self.last_write = 0.0

    def add(self, step: int, loss: float) -> None:
        if self.points and self.points[-1][0] >= step:  # a resumed run rewrites the tail written after its checkpoint
            self.points = [point for point in self.points if point[0] < step]
        self.points.append([step, round(loss, 5)])
        if time.monotonic() - self.last_write >= _CURVE_WRITE_EVERY_S:
            self._write()

    def flush(self, *, final: Sequence[tuple[int, float]]) -> None:
        self.points = [[step, round(loss, 5)] for step, loss in final]
        self._write()

    def _write(self) -> None:
        self.last_write = time.monotonic()
        EmbeddingModel.objects.filter(pk=self.version_id).update(loss_curve=self.points)


def _promotion_decision(
    version: EmbeddingModel, metrics: dict[str, Any], held_out: Sequence[HivesExample], context: JobContext | None
) -> dict[str, Any]:
    """Compare the new version with the version in use — measured on this run's held-out texts — or, when none is
    in use, with the untuned base model."""
    metric = primary_metric()
    current = EmbeddingModel.objects.filter(is_current=True).exclude(pk=version.pk).first()
    if current is None:
        reference_name, reference = "the untuned base model", version.base_metrics
    else:
        encoder = _load_encoder(
            version_model_location(current), pooling=current.pooling, max_length=version.hyperparameters["max_length"]
        )
        reference_name = current.name
        reference = _evaluate(
            encoder, held_out, seed=version.seed, report=_stage(context, 0.85, 0.88, f"Measuring {current.name}")
        )
    new_score, reference_score = metrics.get(metric), reference.get(metric)
    beats = new_score is not None and (reference_score is None or new_score > reference_score)
    pinned = current is not None and current.is_pinned
    if not beats:
        reason = f"{metric} {_fmt(new_score)} does not beat {reference_name}'s {_fmt(reference_score)}"
    elif pinned:
        reason = f"{metric} {_fmt(new_score)} beats {reference_name}'s {_fmt(reference_score)}, but it is pinned"
    else:
        reason = f"{metric} {_fmt(new_score)} beats {reference_name}'s {_fmt(reference_score)}"
    return {
        "metric": metric,
        "value": new_score,
        "reference": reference_name,
        "reference_version_id": current.pk if current else None,
        "reference_value": reference_score,
        "reference_metrics": reference if current is not None else None,
        "beats_reference": beats,
        "promote": beats and not pinned,
        "reason": reason,
    }


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _make_current(version: EmbeddingModel) -> None:
    """Point profiling and neighbours at `version` (one current version, swapped in one transaction)."""
    with transaction.atomic():
        list(EmbeddingModel.objects.select_for_update().filter(Q(is_current=True) | Q(pk=version.pk)))
        EmbeddingModel.objects.filter(is_current=True).exclude(pk=version.pk).update(is_current=False)
        EmbeddingModel.objects.filter(pk=version.pk).update(is_current=True)
    _cache_clear()


# --- embeddings of every text, value vectors and the judge -----------------------------------------------------


def _atomic_save(path: Path, writer: Callable[[Path], None]) -> None:
    partial = path.with_name(path.stem + ".partial" + path.suffix)
    writer(partial)
    os.replace(partial, path)


def hives_embed_all(*, version: EmbeddingModel, report: Callable[[float], None] | None = None) -> int:
    """Embed every text under `version`; rebuild its value vectors and judge. Returns the number of texts."""
    from modeling.ml.hives.judge import MIN_TEXTS, HivesJudge, cross_validated_agreement

    report = report or (lambda fraction: None)
    encoder = _load_encoder(
        version_model_location(version),
        pooling=version.pooling,
        max_length=version.hyperparameters.get("max_length", settings.VALUEFLOW_HIVES_MAX_LENGTH),
    )
    folder = version_dir(version)
    folder.mkdir(parents=True, exist_ok=True)
    text_ids = np.fromiter(Text.objects.order_by("id").values_list("id", flat=True), dtype=np.int64)
    vectors = np.zeros((len(text_ids), encoder.dim), dtype=np.float32)
    for start in range(0, len(text_ids), _EMBED_CHUNK):
        chunk = text_ids[start : start + _EMBED_CHUNK]
        contents = dict(Text.objects.filter(id__in=chunk.tolist()).values_list("id", "content"))
        vectors[start : start + len(chunk)] = encoder.encode([contents[int(i)] for i in chunk])
        report(0.85 * (start + len(chunk)) / max(1, len(text_ids)))

    # Per value: centroids of its supporting, opposing and all texts; the scored texts neighbour averages use.
    items = (
        PoolItem.objects.filter(is_probe=False, text_id__lte=int(text_ids[-1]) if len(text_ids) else 0)
        .order_by("value_id", "id")
        .values_list("value_id", "text_id", "direction", "intensity", "prior_intensity")
    )
    key_of = {value.pk: value.qualified_key for value in Value.objects.select_related("theory")}
    # value id → [(embedding row, direction, published intensity, imported prior)]
    by_value: dict[int, list[tuple[int, int | None, float | None, float | None]]] = defaultdict(list)
    for value_id, text_id, direction, intensity, prior in items.iterator(chunk_size=10000):
        row = int(np.searchsorted(text_ids, text_id))
        if row < len(text_ids) and text_ids[row] == text_id:
            by_value[value_id].append((row, direction_from(direction, intensity), intensity, prior))

    keys: list[str] = []
    centroids, counts = [], []
    scored_value, scored_rows, scored_scores = [], [], []
    judge = HivesJudge()
    judge_agreement: dict[str, Any] = {}
    for value_id, entries in by_value.items():
        if len(entries) < MIN_VALUE_TEXTS:
            continue
        rows = np.asarray([entry[0] for entry in entries])
        # A pooled text without any direction is taken as supporting: it was put in the value's pool.
        directions = np.asarray([entry[1] if entry[1] is not None else 1 for entry in entries])
        index = len(keys)
        keys.append(key_of[value_id])
        centroids.append(
            [
                _unit(vectors[rows].mean(axis=0)),
                _centroid(vectors, rows[directions > 0]),
                _centroid(vectors, rows[directions < 0]),
            ]
        )
        counts.append([len(rows), int((directions > 0).sum()), int((directions < 0).sum())])
        # Neighbour averages use the published intensity, else the imported prior.
        for row, _, intensity, prior in entries:
            score = intensity if intensity is not None else prior
            if score is not None:
                scored_value.append(index)
                scored_rows.append(row)
                scored_scores.append(score)
        # The judge learns from published (human-fitted) intensities only.
        published = [(row, intensity) for row, _, intensity, _ in entries if intensity is not None]
        if len(published) >= MIN_TEXTS:
            x = vectors[[row for row, _ in published]]
            y = np.asarray([score for _, score in published], dtype=np.float64)
            judge.fit_value(key_of[value_id], x, y)
            judge_agreement[key_of[value_id]] = _finite(cross_validated_agreement(x, y, seed=version.seed))
    report(0.95)

    _atomic_save(folder / "embeddings.npy", lambda p: np.save(p, vectors))
    _atomic_save(folder / "text_ids.npy", lambda p: np.save(p, text_ids))
    dim = encoder.dim
    _atomic_save(
        folder / "values.npz",
        lambda p: np.savez(
            p,
            keys=np.asarray(keys, dtype=str),
            centroids=np.asarray(centroids, dtype=np.float32).reshape(len(keys), 3, dim),
            counts=np.asarray(counts, dtype=np.int64).reshape(len(keys), 3),
            scored_value=np.asarray(scored_value, dtype=np.int64),
            scored_rows=np.asarray(scored_rows, dtype=np.int64),
            scored_scores=np.asarray(scored_scores, dtype=np.float32),
        ),
    )
    _atomic_save(folder / "judge.npz", lambda p: judge.save(p))
    metrics = dict(EmbeddingModel.objects.get(pk=version.pk).metrics)
    metrics["judge"] = judge_agreement
    EmbeddingModel.objects.filter(pk=version.pk).update(
        embeddings_path=str(folder / "embeddings.npy"), n_embedded=len(text_ids), metrics=metrics
    )
    version.embeddings_path = str(folder / "embeddings.npy")
    version.n_embedded, version.metrics = len(text_ids), metrics
    _cache_clear()
    report(1.0)
    return len(text_ids)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _centroid(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit mean of `rows`, or zeros (no such texts)."""
    if rows.size == 0:
        return np.zeros(vectors.shape[1], dtype=np.float32)
    return _unit(vectors[rows].mean(axis=0))


# --- reading a version's artefacts -----------------------------------------------------------------------------


@dataclass
class VersionArtefacts:
    """What profiling and neighbour queries read, loaded once per process and version."""

    version_id: int
    encoder: Any
    vectors: np.ndarray  # [n texts, dim], memory-mapped
    text_ids: np.ndarray
    value_keys: list[str]
    centroids: np.ndarray  # [n values, 3, dim]: all texts, supporting, opposing (zeros where none)
    value_counts: np.ndarray  # [n values, 3]
    scored_value: np.ndarray
    scored_rows: np.ndarray
    scored_scores: np.ndarray
    judge: Any


_cache: dict[tuple[int, str, float], VersionArtefacts] = {}
_cache_lock = threading.Lock()


def _cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def current_version() -> EmbeddingModel:
    """The version profiling and neighbours use; a clear error when there is none yet."""
    version = EmbeddingModel.objects.filter(is_current=True).first()
    if version is None:
        raise ApplicationError(
            "No HiVES version is in use yet: train one (HiVES page, POST /api/v1/hives/versions/train/ or "
            "`python manage.py train_hives`).",
            status_code=409,
        )
    return version


def version_artefacts(version: EmbeddingModel) -> VersionArtefacts:
    from modeling.ml.hives.judge import HivesJudge

    folder = version_dir(version)
    embeddings = folder / "embeddings.npy"
    if not version.embeddings_path or not embeddings.is_file():
        raise ApplicationError(
            f"{version.name} has no stored embeddings yet (they are computed when a version is promoted or pinned).",
            {"version_id": version.pk},
            status_code=409,
        )
    key = (version.pk, str(folder), embeddings.stat().st_mtime)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    encoder = _load_encoder(
        version_model_location(version),
        pooling=version.pooling,
        max_length=version.hyperparameters.get("max_length", settings.VALUEFLOW_HIVES_MAX_LENGTH),
    )
    with np.load(folder / "values.npz") as values:
        loaded = VersionArtefacts(
            version_id=version.pk,
            encoder=encoder,
            vectors=np.load(embeddings, mmap_mode="r"),
            text_ids=np.load(folder / "text_ids.npy"),
            value_keys=values["keys"].tolist(),
            centroids=values["centroids"],
            value_counts=values["counts"],
            scored_value=values["scored_value"],
            scored_rows=values["scored_rows"],
            scored_scores=values["scored_scores"],
            judge=HivesJudge.load(folder / "judge.npz"),
        )
    with _cache_lock:
        _cache.clear()  # one version at a time: the matrices of a superseded version are let go
        _cache[key] = loaded
    return loaded


@dataclass
class Neighbour:
    text_id: int
    similarity: float


def hives_neighbours(
    *, vectors: np.ndarray, k: int = 10, version: EmbeddingModel | None = None, exclude_text_ids: Sequence[int] = ()
) -> list[list[Neighbour]]:
    """The k stored texts nearest to each query vector (cosine, by one matrix product over all stored texts)."""
    artefacts = version_artefacts(version or current_version())
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(artefacts.vectors).T
    if exclude_text_ids:
        excluded = np.isin(artefacts.text_ids, np.asarray(exclude_text_ids))
        sims[:, excluded] = -np.inf
    k = min(k, sims.shape[1])
    result = []
    for row in sims:
        top = np.argpartition(-row, k - 1)[:k] if k else np.empty(0, dtype=np.int64)
        top = top[np.argsort(-row[top], kind="stable")]
        result.append(
            [Neighbour(int(artefacts.text_ids[i]), float(row[i])) for i in top if np.isfinite(row[i])]
        )
    return result


def hives_text_neighbours(*, text: str, k: int = 10, version: EmbeddingModel | None = None) -> list[Neighbour]:
    """The k stored texts nearest to `text` under the version in use (or `version`)."""
    artefacts = version_artefacts(version or current_version())
    return hives_neighbours(vectors=artefacts.encoder.encode([text]), k=k, version=version)[0]


def hives_judge_rank_window(*, value: Value, texts: Sequence[str], version: EmbeddingModel | None = None) -> list[int]:
    """The HiVES judge's order of an evaluator window: positions of `texts`, most supporting first."""
    artefacts = version_artefacts(version or current_version())
    if not artefacts.judge.knows(value.qualified_key):
        raise ApplicationError(
            f"The HiVES judge has no regressor for {value.qualified_key}: it needs published intensities of at least "
            "8 of the value's texts when the version is embedded.",
            {"value": value.qualified_key},
        )
    return artefacts.judge.rank_window(value.qualified_key, artefacts.encoder.encode(list(texts)))


# --- pinning and the base model --------------------------------------------------------------------------------


def hives_version_pin(*, version: EmbeddingModel, pinned: bool, user: Any) -> Job | None:
    """Pin `version` (it becomes the version in use and automatic promotion leaves it there) or unpin it.

    A version without stored embeddings is embedded first by a job, which makes it current when done; the job is
    returned (None when nothing had to be computed).
    """
    if not pinned:
        EmbeddingModel.objects.filter(pk=version.pk).update(is_pinned=False)
        audit_logger.info("hives version %s unpinned by %s", version.pk, getattr(user, "pk", None))
        return None
    usable = version.is_base or (version_dir(version) / "model" / "config.json").is_file()
    if version.status in (EmbeddingModel.Status.TRAINING, EmbeddingModel.Status.FAILED) or not usable:
        raise ApplicationError(
            f"{version.name} cannot be pinned: it is {version.get_status_display().lower()} and has no trained "
            "encoder to use.",
            {"version_id": version.pk, "status": version.status},
        )
    with transaction.atomic():
        EmbeddingModel.objects.filter(is_pinned=True).exclude(pk=version.pk).update(is_pinned=False)
        EmbeddingModel.objects.filter(pk=version.pk).update(is_pinned=True)
    audit_logger.info("hives version %s pinned by %s", version.pk, getattr(user, "pk", None))
    if version.embeddings_path and Path(version.embeddings_path).is_file():
        _make_current(version)
        return None
    return job_create(
        kind=EMBED_JOB,
        params={"version_id": version.pk, "make_current": True},
        created_by=user,
        title=f"Embed every text with {version.name}",
        queue=hives_queue(),
        dedupe_key=f"hives-embed-{version.pk}",
    )


def hives_base_version_create(*, created_by: Any = None, base_model: str = "") -> tuple[EmbeddingModel, Job]:
    """Register the untuned base model as a version and embed every text with it; it becomes the version in use
    when none is. Profiling then works before any training run."""
    base = (base_model or settings.VALUEFLOW_HIVES_BASE_MODEL or DEFAULT_BASE_MODEL).strip()
    with transaction.atomic():
        version = EmbeddingModel.objects.create(
            name=f"Base: {base}",
            base_model=base,
            pooling=settings.VALUEFLOW_HIVES_POOLING,
            status=EmbeddingModel.Status.EVALUATED,
            is_base=True,
            hyperparameters={"max_length": settings.VALUEFLOW_HIVES_MAX_LENGTH},
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        job = job_create(
            kind=EMBED_JOB,
            params={"version_id": version.pk, "make_current": "if_none"},
            created_by=created_by,
            title=f"Embed every text with {version.name}",
            queue=hives_queue(),
            dedupe_key=f"hives-embed-{version.pk}",
        )
    return version, job


def hives_embed_job(context: JobContext) -> dict[str, Any]:
    """Job handler of `modeling.hives_embed`: embed every text under a version, then make it current if asked."""
    version = EmbeddingModel.objects.get(pk=context.params["version_id"])
    n = hives_embed_all(version=version, report=_stage(context, 0.0, 0.99, f"Embedding every text with {version.name}"))
    make_current = context.params.get("make_current")
    none_in_use = not EmbeddingModel.objects.filter(is_current=True).exists()
    if make_current is True or (make_current == "if_none" and none_in_use):
        version.refresh_from_db()
        if make_current is True and not version.is_pinned:
            return {"version_id": version.pk, "texts": n, "current": False}  # unpinned while it was embedding
        _make_current(version)
        return {"version_id": version.pk, "texts": n, "current": True}
    return {"version_id": version.pk, "texts": n, "current": False}


# --- reads for pages and the API -------------------------------------------------------------------------------


def hives_version_list() -> QuerySet[EmbeddingModel]:
    return EmbeddingModel.objects.select_related("created_by", "job").order_by("-created_at", "-id")


def hives_version_get(*, version_id: int) -> EmbeddingModel:
    version = hives_version_list().filter(pk=version_id).first()
    if version is None:
        raise ApplicationError(f"No HiVES version has id {version_id}.", {"version_id": version_id}, status_code=404)
    return version
