"""Generating steered responses: send planned prompts to a backend, apply activation steering where the condition
asks for it, detect refusals, and record every answer on its `SteeredResponse` row.

The evaluation service plans the rows (one per backend × query × condition, with the chat messages in `prompt`,
built with `modeling.ml.steering.prompts`) and calls `responses_generate` batch by batch from its job. A row whose
`generation_seconds` is set is finished and never generated again, so a job that died half-way resumes where it
stopped. `generate_batch` is the lower-level call for any list of conversations (judges, previews).

Also here, for planning: `value_spec` (what a prompt says about a Value) and `user_text_examples` (VIDB texts from a
level's intensity bin for user-texts prompts). Activation-steering directions are computed from the value's high-
and low-intensity texts (`steering_vector_for`) and cached on disk per model, value, layer and text set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import F, FloatField
from django.db.models.functions import Coalesce

from common.exceptions import ApplicationError
from labeling.models import PoolItem, Value
from modeling.ml.llm.backends import BackendError
from modeling.ml.llm.refusals import is_refusal
from modeling.ml.steering.activation import (
    ALPHA_PER_LEVEL,
    SteeringVector,
    activation_steering,
    check_layer,
    default_layer,
    level_to_alpha,
    steering_direction,
)
from modeling.ml.steering.prompts import LEVEL_INTENSITY_BINS, ValueSpec
from modeling.models import ModelBackend, SteeredResponse
from modeling.services.backends import backend_build, backend_generation_params, local_backend_for

logger = logging.getLogger(__name__)

# Texts per side for an activation-steering direction: enough to average out topic, few enough to embed in seconds.
DIRECTION_TEXTS_PER_SIDE = 32
# A direction needs at least this many texts on each side; fewer and it mostly reflects the texts' topics.
DIRECTION_MIN_TEXTS = 4
# High texts are those at or above this intensity, low ones at or below its negative (the outer level bins).
DIRECTION_INTENSITY = 6.0

Report = Callable[[float, str], None]


@dataclass(frozen=True)
class GeneratedText:
    text: str
    # Wall time of the backend call, shared equally among the conversations it answered.
    seconds: float
    is_refusal: bool


@dataclass(frozen=True)
class ActivationCondition:
    """Steer a local model along `vector` with strength `alpha` (see modeling.ml.steering.activation)."""

    vector: SteeringVector
    alpha: float


# --- prompts' raw material --------------------------------------------------------------------------------------


def value_spec(value: Value) -> ValueSpec:
    return ValueSpec(key=f"{value.theory.key}:{value.key}", name=value.name, definition=value.definition)


def _scored_items(value: Value):  # type: ignore[no-untyped-def]
    """The value's pool items with an intensity: the published score, else the imported VIDB prior."""
    return (
        PoolItem.objects.filter(value=value, is_probe=False)
        .annotate(score=Coalesce(F("intensity"), F("prior_intensity"), output_field=FloatField()))
        .filter(score__isnull=False)
    )


def user_text_examples(*, value: Value, level: int, count: int = 3, seed: int = 0) -> list[str]:
    """`count` texts of the value whose intensity lies in the level's bin, drawn reproducibly by `seed`."""
    if level not in LEVEL_INTENSITY_BINS:
        raise ApplicationError(f"Steering level must be one of -2..+2, got {level!r}.", extra={"level": level})
    low, high = LEVEL_INTENSITY_BINS[level]
    candidates = list(
        _scored_items(value)
        .filter(score__gte=low, score__lte=high)
        .order_by("pk")
        .values_list("text__content", flat=True)
    )
    if not candidates:
        raise ApplicationError(
            f"{value.name} ({value.theory.key}) has no scored texts with intensity between {low:g} and {high:g}, "
            f"so no user-texts prompt can be built for level {level:+d}. Import VIDB scores or publish a fit first.",
            extra={"value": f"{value.theory.key}:{value.key}", "level": level},
        )
    return random.Random(f"{seed}:{value.pk}:{level}").sample(candidates, min(count, len(candidates)))


# --- activation steering ----------------------------------------------------------------------------------------


def steering_vector_for(*, backend: ModelBackend, value: Value, layer: int | None = None) -> SteeringVector:
    """The value's direction in the backend's model, from its highest- and lowest-intensity texts; cached under
    MODELING_ARTIFACTS_DIR/steering/, keyed by model, value, layer and the exact texts used."""
    local = local_backend_for(backend=backend)
    high = list(
        _scored_items(value).filter(score__gte=DIRECTION_INTENSITY).order_by("-score", "pk")
        .values_list("text__content", flat=True)[:DIRECTION_TEXTS_PER_SIDE]
    )
    low = list(
        _scored_items(value).filter(score__lte=-DIRECTION_INTENSITY).order_by("score", "pk")
        .values_list("text__content", flat=True)[:DIRECTION_TEXTS_PER_SIDE]
    )
    if len(high) < DIRECTION_MIN_TEXTS or len(low) < DIRECTION_MIN_TEXTS:
        raise ApplicationError(
            f"Activation steering for {value.name} ({value.theory.key}) needs at least {DIRECTION_MIN_TEXTS} texts "
            f"scored ≥ {DIRECTION_INTENSITY:g} and {DIRECTION_MIN_TEXTS} scored ≤ −{DIRECTION_INTENSITY:g}; "
            f"found {len(high)} and {len(low)}.",
            extra={"value": f"{value.theory.key}:{value.key}", "high": len(high), "low": len(low)},
        )
    with local.lock:
        model, tokenizer = local.model, local.tokenizer
        chosen_layer = default_layer(model) if layer is None else layer
        try:
            check_layer(model, chosen_layer)
        except ValueError as exc:
            raise ApplicationError(f"Backend {backend.name!r}: {exc}.", extra={"backend": backend.pk}) from None
        digest = hashlib.sha256(json.dumps([high, low]).encode()).hexdigest()[:16]
        path = _vector_path(backend, value, chosen_layer, digest)
        if path.is_file():
            return SteeringVector.from_dict(json.loads(path.read_text()))
        vector = steering_direction(model, tokenizer, high, low, layer=chosen_layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(vector.to_dict()))
    temporary.replace(path)
    return vector


def _vector_path(backend: ModelBackend, value: Value, layer: int, digest: str) -> Path:
    model_slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", f"{backend.model}-{backend.gguf_file}").strip("-")
    return (
        Path(settings.MODELING_ARTIFACTS_DIR) / "steering" / model_slug
        / f"{value.theory.key}-{value.key}-layer{layer}-{digest}.json"
    )


def activation_condition_for(*, backend: ModelBackend, value: Value, level: int) -> ActivationCondition | None:
    """The steering to apply for an activation condition; None at level 0 (the model runs untouched)."""
    alpha = level_to_alpha(level, alpha_per_level=backend.generation.get("activation_alpha_per_level", ALPHA_PER_LEVEL))
    if alpha == 0.0:
        return None
    vector = steering_vector_for(backend=backend, value=value, layer=backend.generation.get("activation_layer"))
    return ActivationCondition(vector=vector, alpha=alpha)


# --- generation -------------------------------------------------------------------------------------------------


def generate_batch(
    backend_row: ModelBackend,
    conversations: list[list[dict[str, str]]],
    generation_params: dict[str, Any] | None = None,
    *,
    activation: ActivationCondition | None = None,
) -> list[GeneratedText]:
    """Answers to `conversations` (in order) from the backend, with refusals flagged.

    generation_params: temperature, max_new_tokens, seed — over the backend's own settings and the defaults
    (temperature 1.0, 160 new tokens). With `activation`, a local model is steered while it writes.
    Backend failures (after the backend's retries) raise ApplicationError naming the backend and the cause.
    """
    if not conversations:
        return []
    params = backend_generation_params(backend=backend_row, overrides=generation_params)
    chat = backend_build(backend=backend_row)
    started = time.monotonic()
    try:
        if activation is None:
            answers = chat.chat(
                conversations, temperature=params["temperature"], max_new_tokens=params["max_new_tokens"],
                seed=params.get("seed"),
            )
        else:
            local = local_backend_for(backend=backend_row)
            with local.lock, activation_steering(local.model, activation.vector, activation.alpha):
                answers = local.chat(
                    conversations, temperature=params["temperature"], max_new_tokens=params["max_new_tokens"],
                    seed=params.get("seed"),
                )
    except BackendError as exc:
        raise ApplicationError(str(exc), extra={"backend": backend_row.pk}) from exc
    except ValueError as exc:  # malformed conversations
        raise ApplicationError(f"Backend {backend_row.name!r}: {exc}", extra={"backend": backend_row.pk}) from exc
    seconds = (time.monotonic() - started) / len(conversations)
    return [GeneratedText(text=answer, seconds=seconds, is_refusal=is_refusal(answer)) for answer in answers]


def responses_generate(
    *, evaluation_id: int, batch: Sequence[int], report: Report | None = None
) -> dict[str, int]:
    """Generate the planned responses `batch` (SteeredResponse ids of the evaluation) that have no answer yet.

    Rows are grouped by backend and steering condition, sent in chunks (the backend's batch size for local models,
    its concurrency for endpoints), and saved chunk by chunk, so a crash loses at most one chunk. Activation
    conditions (`activation:<theory>:<value>:<level>`) steer the local model; every other condition is in the prompt.
    Seeds derive from the evaluation's seed and the row ids, so a rerun of the same plan samples the same way.
    Returns {"generated", "skipped", "refusals"}.
    """
    from modeling.models import SteeringEvaluation

    evaluation = SteeringEvaluation.objects.filter(pk=evaluation_id).only("pk", "seed").first()
    if evaluation is None:
        raise ApplicationError(f"Steering evaluation {evaluation_id} does not exist.", status_code=404)
    ids = list(dict.fromkeys(int(pk) for pk in batch))
    rows = list(
        SteeredResponse.objects.filter(evaluation_id=evaluation_id, pk__in=ids, generation_seconds__isnull=True)
        .select_related("backend", "value__theory")
        .order_by("pk")
    )
    foreign = set(ids) - set(
        SteeredResponse.objects.filter(evaluation_id=evaluation_id, pk__in=ids).values_list("pk", flat=True)
    )
    if foreign:
        raise ApplicationError(
            f"Responses {sorted(foreign)[:10]} do not belong to evaluation {evaluation_id}.",
            extra={"responses": sorted(foreign)},
        )
    groups: dict[tuple[int, str], list[SteeredResponse]] = defaultdict(list)
    for row in rows:
        is_activation = row.condition.startswith("activation:")
        groups[(row.backend_id, row.condition if is_activation else "")].append(row)

    done = refusals = 0
    total = len(rows)
    for (_, activation_condition), members in groups.items():
        backend = members[0].backend
        activation = None
        if activation_condition:
            activation = _activation_for_row(members[0])
        chunk_size = int(backend.generation.get("batch_size", 8)) if backend.kind == ModelBackend.Kind.LOCAL else (
            max(1, backend.max_concurrency) * 2
        )
        for start in range(0, len(members), chunk_size):
            chunk = members[start : start + chunk_size]
            seed = (int(evaluation.seed) * 1_000_003 + chunk[0].pk) % (2**31)
            outputs = generate_batch(backend, [row.prompt for row in chunk], {"seed": seed}, activation=activation)
            for row, output in zip(chunk, outputs, strict=True):
                row.response, row.is_refusal, row.generation_seconds = output.text, output.is_refusal, output.seconds
                refusals += output.is_refusal
            SteeredResponse.objects.bulk_update(chunk, ["response", "is_refusal", "generation_seconds"])
            done += len(chunk)
            if report is not None:
                report(done / max(total, 1), f"Generated {done} of {total} responses with {backend.name}.")
    return {"generated": done, "skipped": len(ids) - total, "refusals": refusals}


def _activation_for_row(row: SteeredResponse) -> ActivationCondition | None:
    if row.value is None or row.level is None:
        raise ApplicationError(
            f"Response {row.pk} has activation condition {row.condition!r} but no value and level to steer toward.",
            extra={"response": row.pk},
        )
    if row.backend.kind != ModelBackend.Kind.LOCAL:
        raise ApplicationError(
            f"Activation steering needs a local model; backend {row.backend.name!r} is an OpenAI-compatible endpoint.",
            extra={"backend": row.backend_id, "response": row.pk},
        )
    return activation_condition_for(backend=row.backend, value=row.value, level=row.level)
