"""The judges of a steering evaluation's windows, and the anchors they rank responses against.

Anchors: the value's pool texts that its published fit scored from at least one judgment, with their published
intensities; for a value without a published fit, its imported VIDB ratings (method.md §4 uses VIDB anchors).
Probes (texts being measured) are never anchors.

Machine judges rank a batch of windows at once:

- `LlmJudge` — the judge prompt of method.md §4 through any model backend (local or an OpenAI-compatible
  endpoint). The first answer is asked for greedily; an answer that is not a readable order of the window's texts
  is asked again (up to JUDGE_RETRIES times, at RETRY_TEMPERATURE so the answer can change) and the window is then
  stored without an ordering — dropped from scoring, counted in the report. Every raw answer is kept.
- `HivesJudge` — the HiVES version's ridge regressor of published intensities on embeddings
  (modeling.services.hives.hives_judge_rank_window); deterministic and cheap.

`judge_batch` builds one round's windows for a batch of (response, value) targets — anchors bucketed across the
value's range in round 0, adaptive near the response's current estimate afterwards, the response at a random
position — has them ranked, and stores each `JudgeWindow` with its layout, anchor intensities, prompt and answers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.exceptions import ApplicationError
from labeling.models import PoolItem, Value
from modeling.ml.evaluator import (
    AnchorPanel,
    JudgedWindow,
    Scale,
    judge_messages,
    judge_prompt_text,
    parse_ranking,
    response_score,
    scale_estimate,
    window_layout,
)
from modeling.models import (
    EmbeddingModel,
    ItemScore,
    JudgeWindow,
    ModelBackend,
    PublishedFit,
    SteeredResponse,
    SteeringEvaluation,
)
from modeling.services.generation import generate_batch

# An unreadable LLM-judge answer is asked again this many times (at RETRY_TEMPERATURE, so the answer can change),
# then the window is dropped and counted.
JUDGE_RETRIES = 2
RETRY_TEMPERATURE = 0.7
JUDGE_MAX_NEW_TOKENS = 64


# --- anchors ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorSet:
    """A value's anchors: the panel windows are drawn from, their texts and (frozen) intensities by pool item id."""

    panel: AnchorPanel
    texts: dict[int, str]
    intensity_of: dict[int, float]
    facts: dict[str, Any]


def anchor_rows(value: Value) -> tuple[list[tuple[int, float, str]], dict[str, Any]]:
    """(pool item id, intensity, text) of the value's anchors and where they come from: the texts its published
    fit scored from at least one judgment, else the imported VIDB ratings. Probes are never anchors."""
    published = PublishedFit.objects.filter(value=value).first()
    if published is not None:
        rows = list(
            ItemScore.objects.filter(fit_id=published.fit_id, n_judgments__gt=0, pool_item__is_probe=False)
            .order_by("pool_item_id")
            .values_list("pool_item_id", "intensity", "pool_item__text__content")
        )
        if rows:
            facts = {
                "source": "published_fit",
                "fit_id": published.fit_id,
                "source_label": f"published fit #{published.fit_id}",
            }
            return [(int(i), float(y), str(t)) for i, y, t in rows], facts
    priors = (
        PoolItem.objects.filter(value=value, is_probe=False, prior_intensity__isnull=False)
        .order_by("pk")
        .values_list("pk", "prior_intensity", "text__content")
    )
    facts = {"source": "vidb_prior", "source_label": "imported VIDB ratings"}
    return [(int(i), float(y), str(t)) for i, y, t in priors if y is not None], facts


def anchor_facts(value: Value, window_size: int) -> dict[str, Any]:
    """Where the value's anchors come from and how many there are; refuses a value with too few for a window."""
    rows, facts = anchor_rows(value)
    needed = window_size - 1
    if len(rows) < needed:
        raise ApplicationError(
            f"{value.name} ({value.theory.key}) has {len(rows)} anchor texts (published intensities, or imported VIDB "
            f"ratings); a window of {window_size} texts needs at least {needed}. Import VIDB scores or publish a fit, "
            "or choose a smaller window.",
            extra={"field": "values", "value": value.qualified_key},
        )
    intensities = [y for _, y, _ in rows]
    return {**facts, "count": len(rows), "low": min(intensities), "high": max(intensities)}


def anchor_set(value: Value) -> AnchorSet:
    """The value's anchors as they stand now (intensities clipped to the scale's [−10, 10])."""
    rows, facts = anchor_rows(value)
    panel = AnchorPanel.build([i for i, _, _ in rows], [max(-10.0, min(10.0, y)) for _, y, _ in rows])
    return AnchorSet(
        panel=panel,
        texts={i: t for i, _, t in rows},
        intensity_of={i: float(panel.intensities[k]) for k, i in enumerate(panel.ids.tolist())},
        facts={**facts, "count": len(rows)},
    )


# --- machine judges --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRequest:
    value: Value
    texts: list[str]
    seed: int


@dataclass(frozen=True)
class WindowAnswer:
    ordering: tuple[int, ...] | None
    prompt: str
    raw_answers: list[str]


class LlmJudge:
    """The judge prompt of method.md §4 through any model backend, in batches; unreadable answers are asked again
    (at a higher temperature, so the answer can change) and finally left without an ordering."""

    def __init__(self, backend: ModelBackend) -> None:
        self.backend = backend

    def rank(self, requests: Sequence[WindowRequest]) -> list[WindowAnswer]:
        conversations = [
            judge_messages(
                theory=r.value.theory.name, value=r.value.name, definition=r.value.definition, texts=r.texts
            )
            for r in requests
        ]
        raw: list[list[str]] = [[] for _ in requests]
        orderings: list[tuple[int, ...] | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        for attempt in range(1 + JUDGE_RETRIES):
            params = {
                "temperature": 0.0 if attempt == 0 else RETRY_TEMPERATURE,
                "max_new_tokens": JUDGE_MAX_NEW_TOKENS,
                "seed": (requests[pending[0]].seed + 7919 * attempt) % (2**31),
            }
            outputs = generate_batch(self.backend, [conversations[i] for i in pending], params)
            for i, output in zip(pending, outputs, strict=True):
                raw[i].append(output.text)
                parsed = parse_ranking(output.text, len(requests[i].texts))
                if parsed.is_valid:
                    orderings[i] = parsed.ordering
            pending = [i for i in pending if orderings[i] is None]
            if not pending:
                break
        return [
            WindowAnswer(orderings[i], judge_prompt_text(conversations[i]), raw[i]) for i in range(len(requests))
        ]


class HivesJudge:
    """The HiVES judge: ranks a window by the intensities its ridge regressor predicts from HiVES embeddings."""

    def __init__(self, version: EmbeddingModel) -> None:
        self.version = version

    def rank(self, requests: Sequence[WindowRequest]) -> list[WindowAnswer]:
        from modeling.services.hives import hives_judge_rank_window

        answers = []
        for request in requests:
            ordering = hives_judge_rank_window(value=request.value, texts=request.texts, version=self.version)
            answers.append(
                WindowAnswer(
                    tuple(int(i) for i in ordering),
                    f"HiVES judge of {self.version.name}: texts ranked by the intensity its regressor for "
                    f"{request.value.qualified_key} predicts from their embeddings.",
                    [json.dumps([int(i) + 1 for i in ordering])],
                )
            )
        return answers


def window_judge(evaluation: SteeringEvaluation) -> LlmJudge | HivesJudge:
    if evaluation.judge == SteeringEvaluation.Judge.LLM:
        if evaluation.judge_backend is None:
            raise ApplicationError(
                "This evaluation's LLM judge backend was deleted.", extra={"evaluation": evaluation.pk}
            )
        return LlmJudge(evaluation.judge_backend)
    version_id = (evaluation.planned or {}).get("hives_version_id")
    version = EmbeddingModel.objects.filter(pk=version_id).first() if version_id else None
    if version is None:
        raise ApplicationError(
            "The HiVES version this evaluation was planned with no longer exists; create the evaluation again.",
            extra={"evaluation": evaluation.pk, "hives_version_id": version_id},
        )
    return HivesJudge(version)


def stored_window(row: JudgeWindow) -> JudgedWindow:
    return JudgedWindow(tuple(row.anchor_intensities), tuple(row.ordering or ()))


def round_scales(evaluation: SteeringEvaluation, *, before_round: int) -> dict[int, Scale]:
    """Per value, the judge's scale from the valid windows of earlier rounds (for the adaptive anchor choice)."""
    by_value: dict[int, list[JudgedWindow]] = defaultdict(list)
    for row in JudgeWindow.objects.filter(
        response__evaluation=evaluation, judge=evaluation.judge, is_valid=True, index__lt=before_round
    ).only("value_id", "anchor_intensities", "ordering"):
        by_value[row.value_id].append(stored_window(row))
    return {value_id: scale_estimate(windows) for value_id, windows in by_value.items()}


def judge_batch(
    evaluation: SteeringEvaluation, round_index: int, targets: Sequence[tuple[int, int]], context: dict[str, Any]
) -> None:
    """One window per target for `round_index`, ranked by the judge in one batch and stored (with its prompt,
    raw answers, layout and anchor intensities). Targets that already have this round's window are skipped."""
    done = set(
        JudgeWindow.objects.filter(
            response__evaluation=evaluation, judge=evaluation.judge, index=round_index,
            response_id__in=[r for r, _ in targets],
        ).values_list("response_id", "value_id")
    )
    todo = [t for t in targets if t not in done]
    if not todo:
        return
    texts = dict(SteeredResponse.objects.filter(pk__in={r for r, _ in todo}).values_list("pk", "response"))
    earlier: dict[tuple[int, int], list[JudgeWindow]] = defaultdict(list)
    for row in JudgeWindow.objects.filter(
        response_id__in={r for r, _ in todo}, judge=evaluation.judge, index__lt=round_index
    ).order_by("index"):
        earlier[(row.response_id, row.value_id)].append(row)
    values = {v.pk: v for v in evaluation.values.select_related("theory")}
    anchors: dict[int, AnchorSet] = context["anchors"]
    scales: dict[int, Scale] = context["scales"]
    requests, layouts = [], []
    k = evaluation.window_size
    for response_id, value_id in todo:
        anchor_set = anchors[value_id]
        rng = np.random.default_rng([int(evaluation.seed), response_id, value_id, round_index])
        previous = earlier[(response_id, value_id)]
        used = {anchor for row in previous for anchor in row.shown if anchor is not None}
        valid = [stored_window(row) for row in previous if row.is_valid]
        estimate = interval = None
        if valid:
            current = response_score(valid, scales.get(value_id) or scale_estimate(valid))
            estimate, interval = current.intensity, (current.ci_low, current.ci_high)
        indices = anchor_set.panel.choose(
            k - 1, rng, estimate=estimate, interval=interval, avoid=anchor_set.panel.indices_of(used)
        )
        layout = window_layout([int(anchor_set.panel.ids[i]) for i in indices], rng)
        shown_texts = [texts[response_id] if a is None else anchor_set.texts[a] for a in layout.shown]
        seed = int(rng.integers(2**31 - 1))
        requests.append(WindowRequest(values[value_id], shown_texts, seed))
        layouts.append(layout)
    answers = context["judge"].rank(requests)
    rows = []
    for (response_id, value_id), layout, answer in zip(todo, layouts, answers, strict=True):
        intensity_of = anchors[value_id].intensity_of
        rows.append(
            JudgeWindow(
                response_id=response_id,
                value_id=value_id,
                judge=evaluation.judge,
                index=round_index,
                shown=list(layout.shown),
                response_position=layout.response_position,
                anchor_intensities=[None if a is None else intensity_of[a] for a in layout.shown],
                prompt=answer.prompt,
                raw_answers=answer.raw_answers,
                ordering=list(answer.ordering) if answer.ordering is not None else None,
                is_valid=answer.ordering is not None,
            )
        )
    JudgeWindow.objects.bulk_create(rows, ignore_conflicts=True)


def machine_windows(evaluation: SteeringEvaluation) -> dict[tuple[int, int], list[JudgedWindow]]:
    windows: dict[tuple[int, int], list[JudgedWindow]] = defaultdict(list)
    rows = JudgeWindow.objects.filter(response__evaluation=evaluation, judge=evaluation.judge, is_valid=True)
    for row in rows.order_by("index"):
        windows[(row.response_id, row.value_id)].append(stored_window(row))
    return windows


