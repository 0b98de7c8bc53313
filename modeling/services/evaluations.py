"""Steering evaluations: plan, launch and run them — generate steered responses, have a judge rank each one among
human-calibrated anchors, score it with the anchor-based evaluator, and write the report.

The life of an evaluation:

1. `evaluation_create` checks the settings and stores a DRAFT with its plan (how many generations and judge calls)
   so the admin sees the cost before anything runs. `evaluation_launch` starts a Job (kind
   "modeling.steering_evaluation").
2. The job (`evaluation_run`) plans one `SteeredResponse` row per backend × query × steering condition
   (idempotent: the rows' unique key is (evaluation, backend, query, condition)), then works through stages, each a
   fixed partition of its work into batches:
   - generate: fill every row's answer (modeling.services.generation); a row with an answer is never generated
     again;
   - judge, round 0 … m − 1: for every (response, value) target, one window of k − 1 anchors around the response
     at a random position (round 0 bucketed over the value's range, later rounds adaptive near the current
     estimate), ranked by the judge; every prompt and raw answer is stored on a `JudgeWindow`, whose unique key
     (response, value, judge, round) makes a finished window final;
   - score: Plackett–Luce with the anchors fixed and the judge's scale estimated per value → `ResponseScore`;
   - report: modeling.services.steering_reports.
   Batches are claimed through a short-lived lease in the cache, and the job sends helper tasks
   (`modeling.tasks.evaluation_work`) that claim batches of the same stage on other workers; the job itself works
   too, so one worker is enough. A job whose worker died is requeued by the job reaper and resumes where the
   database says the work stands.
3. Judges: an LLM through any model backend (the prompt of method.md §4; an unreadable answer is asked again, then
   dropped and counted), the HiVES judge (a ridge regressor on HiVES embeddings), or humans: the responses become
   probe texts of a ranking campaign among fixed anchors, annotators rank them in the normal annotation flow, and
   the evaluation WAITS until `evaluation_human_collect` finds the campaign's judgments complete (or an admin
   scores what has arrived).

Anchors are the value's pool texts that its published fit scored from judgments (their published intensities), or,
for a value without a published fit, its imported VIDB ratings; which one is recorded with the evaluation.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.db.models import QuerySet as DjangoQuerySet
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from common.services import job_create
from labeling.models import Value
from modeling.ml.evaluator import JudgedWindow, Scale, response_score, scale_estimate, scale_estimate_from_rankings
from modeling.ml.evaluator.scoring import Z95
from modeling.ml.steering.prompts import (
    LEVELS,
    PROFILE_MAX_VALUES,
    PROFILE_MIN_VALUES,
    SteeringPrompt,
    activation_prompt,
    baseline_prompt,
    condition_key,
    persona_prompt,
    profile_prompt,
    user_texts_prompt,
)
from modeling.models import (
    EmbeddingModel,
    JudgeWindow,
    ModelBackend,
    Query,
    QuerySet,
    ResponseScore,
    SteeredResponse,
    SteeringEvaluation,
)
from modeling.services.backends import backend_queue
from modeling.services.evaluation_judges import (
    JUDGE_RETRIES,
    anchor_facts,
    anchor_set,
    judge_batch,
    machine_windows,
    round_scales,
    window_judge,
)
from modeling.services.generation import responses_generate, user_text_examples, value_spec

logger = logging.getLogger(__name__)

EVALUATION_JOB = "modeling.steering_evaluation"
Style = SteeringEvaluation.PromptStyle
JudgeKind = SteeringEvaluation.Judge
Status = SteeringEvaluation.Status

# Window sizes: at least one anchor beside the response, at most what annotators can rank in one go.
MIN_WINDOW_SIZE, MAX_WINDOW_SIZE = 2, 8
MIN_HUMAN_WINDOW_SIZE = 3  # a human campaign ranks lists (listwise protocol: 3–8 texts)
MAX_WINDOWS_PER_RESPONSE = 10
USER_TEXT_EXAMPLES = 3
# Work is split into batches of this many rows (generation) or targets (judging); a worker claims a batch for
# settings.VALUEFLOW_EVALUATION_BATCH_LEASE_S seconds, after which another may take it over (its worker is presumed
# dead): a run resumed after a crash waits at most that long for the batch the dead worker held.
GENERATION_BATCH = 16
JUDGE_BATCH = 24
HELPER_TASKS = 3
WAIT_POLL_S = 1.0


# --- settings and the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSettings:
    """What an admin chooses (the form and the API build one). `profiles` (prompt style "profile") is a list of
    profiles, each a list of {"value": "<theory>:<key>", "level": -2..2} with 2–5 different values."""

    name: str
    backend_ids: Sequence[int]
    value_ids: Sequence[int]
    query_set_id: int
    levels: Sequence[int] = LEVELS
    prompt_style: str = Style.PERSONA
    profiles: Sequence[Sequence[Mapping[str, Any]]] = ()
    include_baseline: bool = True
    judge: str = JudgeKind.LLM
    judge_backend_id: int | None = None
    window_size: int = 6
    windows_per_response: int = 3
    seed: int = 0


@dataclass(frozen=True)
class _Condition:
    """One steering condition: its stable key, the style, and the (value id, level) targets it steers toward."""

    key: str
    style: str
    targets: tuple[tuple[int, int], ...] = ()

    @property
    def is_baseline(self) -> bool:
        return self.style == Style.BASELINE


@dataclass(frozen=True)
class _Design:
    """Validated settings with their rows resolved."""

    settings: EvaluationSettings
    backends: list[ModelBackend]
    values: list[Value]
    query_set: QuerySet
    n_queries: int
    conditions: list[_Condition]
    judge_backend: ModelBackend | None
    hives_version: EmbeddingModel | None
    anchors: dict[int, dict[str, Any]]  # value id → facts about its anchor panel


@dataclass(frozen=True)
class EvaluationPlan:
    generations: int
    targets: int  # (response, value) pairs to score
    windows: int  # targets × m
    judge_calls: int  # LLM calls (first attempts), HiVES rankings, or about as many human judgments
    queries: int
    conditions: int
    per_backend: dict[str, int]
    judge: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generations": self.generations,
            "targets": self.targets,
            "windows": self.windows,
            "judge_calls": self.judge_calls,
            "queries": self.queries,
            "conditions": self.conditions,
            "per_backend": self.per_backend,
            "judge": self.judge,
            "notes": self.notes,
        }


def _fail(message: str, field_name: str, **extra: Any) -> ApplicationError:
    return ApplicationError(message, extra={"field": field_name, **extra})


def _design(settings: EvaluationSettings) -> _Design:
    """Check every setting (each problem names its field and why) and resolve the rows it names."""
    if not settings.name.strip():
        raise _fail("An evaluation needs a name.", "name")
    if settings.prompt_style not in Style.values:
        raise _fail(
            f"Unknown prompt style {settings.prompt_style!r}; choose one of {', '.join(Style.values)}.", "prompt_style"
        )
    if settings.judge not in JudgeKind.values:
        raise _fail(f"Unknown judge {settings.judge!r}; choose one of {', '.join(JudgeKind.values)}.", "judge")
    minimum = MIN_HUMAN_WINDOW_SIZE if settings.judge == JudgeKind.HUMAN else MIN_WINDOW_SIZE
    if not minimum <= settings.window_size <= MAX_WINDOW_SIZE:
        raise _fail(
            f"Window size k must be between {minimum} and {MAX_WINDOW_SIZE} texts (the response and k − 1 anchors)"
            + (" for human judging, which uses listwise ranking" if settings.judge == JudgeKind.HUMAN else "")
            + f"; got {settings.window_size}.",
            "window_size",
        )
    if not 1 <= settings.windows_per_response <= MAX_WINDOWS_PER_RESPONSE:
        raise _fail(
            f"Windows per response m must be between 1 and {MAX_WINDOWS_PER_RESPONSE}; "
            f"got {settings.windows_per_response}.",
            "windows_per_response",
        )
    if isinstance(settings.seed, bool) or not isinstance(settings.seed, int) or not 0 <= settings.seed < 2**31:
        raise _fail(f"The seed must be an integer between 0 and {2**31 - 1}; got {settings.seed!r}.", "seed")

    backends = _backends(settings.backend_ids, field_name="backends")
    if settings.prompt_style == Style.ACTIVATION:
        remote = [b.name for b in backends if b.kind != ModelBackend.Kind.LOCAL]
        if remote:
            raise _fail(
                f"Activation steering changes a model's hidden states, so it needs local models; "
                f"{', '.join(remote)} {'is an endpoint' if len(remote) == 1 else 'are endpoints'}.",
                "backends",
            )
    values = _values(settings.value_ids)
    query_set = QuerySet.objects.filter(pk=settings.query_set_id).first()
    if query_set is None:
        raise _fail(f"Query set {settings.query_set_id} does not exist.", "query_set")
    n_queries = Query.objects.filter(query_set=query_set).count()
    if n_queries == 0:
        raise _fail(f"Query set “{query_set.name}” has no queries.", "query_set")
    conditions = _conditions(settings, values)

    judge_backend = hives_version = None
    if settings.judge == JudgeKind.LLM:
        if settings.judge_backend_id is None:
            raise _fail("An LLM judge needs a judge model backend.", "judge_backend")
        judge_backend = _backends([settings.judge_backend_id], field_name="judge_backend")[0]
    elif settings.judge_backend_id is not None:
        raise _fail(f"Only the LLM judge uses a judge backend; the {settings.judge} judge does not.", "judge_backend")
    if settings.judge == JudgeKind.HIVES:
        hives_version = _hives_judge_version(values)
    anchors = {value.pk: anchor_facts(value, settings.window_size) for value in values}
    return _Design(settings, backends, values, query_set, n_queries, conditions, judge_backend, hives_version, anchors)


def _backends(ids: Iterable[int], *, field_name: str) -> list[ModelBackend]:
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        raise _fail("Choose at least one model backend.", field_name)
    found = {b.pk: b for b in ModelBackend.objects.filter(pk__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise _fail(f"Model backend {missing[0]} does not exist.", field_name, missing=missing)
    inactive = [found[i].name for i in wanted if not found[i].is_active]
    if inactive:
        raise _fail(f"Model backend {', '.join(inactive)} is switched off; switch it on or choose another.", field_name)
    return [found[i] for i in wanted]


def _values(ids: Iterable[int]) -> list[Value]:
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        raise _fail("Choose at least one value to steer toward and measure.", "values")
    found = {v.pk: v for v in Value.objects.filter(pk__in=wanted).select_related("theory")}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise _fail(f"Value {missing[0]} does not exist.", "values", missing=missing)
    return [found[i] for i in wanted]


def _conditions(settings: EvaluationSettings, values: Sequence[Value]) -> list[_Condition]:
    """The steering conditions every backend answers every query under (baseline first)."""
    style = settings.prompt_style
    levels = list(dict.fromkeys(settings.levels))
    bad_levels = [level for level in levels if isinstance(level, bool) or level not in LEVELS]
    if bad_levels:
        raise _fail(f"Steering levels are −2, −1, 0, +1 and +2; got {bad_levels[0]!r}.", "levels")
    conditions: list[_Condition] = []
    if settings.include_baseline or style == Style.BASELINE:
        conditions.append(_Condition(condition_key("baseline"), Style.BASELINE))
    if style in (Style.PERSONA, Style.USER_TEXTS, Style.ACTIVATION):
        if not levels:
            raise _fail("Choose at least one steering level.", "levels")
        for value in values:
            for level in sorted(levels):
                key = condition_key(style, [(value.qualified_key, level)])
                conditions.append(_Condition(key, style, ((value.pk, level),)))
    elif style == Style.PROFILE:
        by_key = {value.qualified_key: value for value in values}
        if not settings.profiles:
            raise _fail("A multi-value evaluation needs at least one profile of (value, level) pairs.", "profiles")
        seen: set[str] = set()
        for number, profile in enumerate(settings.profiles, start=1):
            pairs = _profile_pairs(profile, number, by_key)
            key = condition_key(Style.PROFILE, [(by_key[k].qualified_key, level) for k, level in pairs])
            if key in seen:
                raise _fail(f"Profile {number} repeats an earlier profile.", "profiles")
            seen.add(key)
            conditions.append(_Condition(key, style, tuple((by_key[k].pk, level) for k, level in sorted(pairs))))
    return conditions


def _profile_pairs(
    profile: Sequence[Mapping[str, Any]], number: int, by_key: Mapping[str, Value]
) -> list[tuple[str, int]]:
    if not isinstance(profile, Sequence) or not PROFILE_MIN_VALUES <= len(profile) <= PROFILE_MAX_VALUES:
        raise _fail(
            f"Profile {number} must list {PROFILE_MIN_VALUES} to {PROFILE_MAX_VALUES} (value, level) pairs.", "profiles"
        )
    pairs = []
    for entry in profile:
        key, level = (entry.get("value"), entry.get("level")) if isinstance(entry, Mapping) else (None, None)
        if key not in by_key:
            raise _fail(
                f"Profile {number} names value {key!r}, which is not among the evaluation's values "
                f"({', '.join(by_key)}).",
                "profiles",
            )
        if isinstance(level, bool) or level not in LEVELS:
            raise _fail(f"Profile {number}: the level of {key} must be one of −2..+2, got {level!r}.", "profiles")
        pairs.append((str(key), int(level)))
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _fail(f"Profile {number} names a value twice.", "profiles")
    return pairs


def _hives_judge_version(values: Sequence[Value]) -> EmbeddingModel:
    """The HiVES version in use, which must have a regressor for every value (one is fit per value from at least
    8 published intensities when the version embeds the texts)."""
    from modeling.services.hives import current_version

    version = current_version()
    known = (version.metrics or {}).get("judge") or {}
    missing = [value.qualified_key for value in values if value.qualified_key not in known]
    if missing:
        raise _fail(
            f"The HiVES judge of {version.name} has no regressor for {', '.join(missing)}: a value needs at least 8 "
            "texts with published intensities when the version embeds the texts. Publish fits for these values and "
            "embed again (pin the version), or choose another judge.",
            "judge",
            missing=missing,
        )
    return version


def evaluation_plan(*, settings: EvaluationSettings) -> EvaluationPlan:
    """The work an evaluation with these settings will do, before anything is stored."""
    return _plan(_design(settings))


def _plan(design: _Design) -> EvaluationPlan:
    settings = design.settings
    per_row_targets = sum(len(design.values) if c.is_baseline else len(c.targets) for c in design.conditions)
    per_backend = {b.name: design.n_queries * len(design.conditions) for b in design.backends}
    generations = sum(per_backend.values())
    targets = len(design.backends) * design.n_queries * per_row_targets
    windows = targets * settings.windows_per_response
    notes = []
    if settings.judge == JudgeKind.LLM:
        assert design.judge_backend is not None
        notes.append(
            f"{windows} judge calls to {design.judge_backend.name}, plus up to {JUDGE_RETRIES} more for each "
            "answer that is not a readable ranking."
        )
    elif settings.judge == JudgeKind.HIVES:
        assert design.hives_version is not None
        notes.append(f"{windows} windows ranked by the HiVES judge of {design.hives_version.name} (no LLM calls).")
    else:
        notes.append(
            f"About {windows} human judgments of {settings.window_size} texts each: the responses join a ranking "
            "campaign as probes among fixed anchors, and the evaluation waits for the annotators."
        )
    for value in design.values:
        facts = design.anchors[value.pk]
        notes.append(f"{value.name} ({value.theory.key}): {facts['count']} anchors from {facts['source_label']}.")
    return EvaluationPlan(
        generations=generations,
        targets=targets,
        windows=windows,
        judge_calls=windows,
        queries=design.n_queries,
        conditions=len(design.conditions),
        per_backend=per_backend,
        judge=settings.judge,
        notes=notes,
    )


# --- create and launch -----------------------------------------------------------------------------------------


@transaction.atomic
def evaluation_create(*, settings: EvaluationSettings, created_by: Any) -> SteeringEvaluation:
    """Store a DRAFT evaluation with its plan; nothing runs until it is launched."""
    design = _design(settings)
    plan = _plan(design)
    is_profile = settings.prompt_style == Style.PROFILE
    single_value = settings.prompt_style not in (Style.BASELINE, Style.PROFILE)
    evaluation = SteeringEvaluation.objects.create(
        name=settings.name.strip(),
        levels=sorted(dict.fromkeys(int(level) for level in settings.levels)) if single_value else [],
        profiles=[[dict(entry) for entry in profile] for profile in settings.profiles] if is_profile else [],
        prompt_style=settings.prompt_style,
        include_baseline=settings.include_baseline or settings.prompt_style == Style.BASELINE,
        query_set=design.query_set,
        judge=settings.judge,
        judge_backend=design.judge_backend,
        window_size=settings.window_size,
        windows_per_response=settings.windows_per_response,
        seed=settings.seed,
        planned={
            **plan.to_dict(),
            "anchors": {str(k): v for k, v in design.anchors.items()},
            "hives_version_id": design.hives_version.pk if design.hives_version else None,
        },
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    evaluation.backends.set(design.backends)
    evaluation.values.set(design.values)
    return evaluation


def evaluation_launch(*, evaluation: SteeringEvaluation, user: Any) -> Job:
    """Start (or resume, after a failure) the evaluation's job. A running evaluation returns its job."""
    with transaction.atomic():
        locked = SteeringEvaluation.objects.select_for_update().get(pk=evaluation.pk)
        if locked.status == Status.RUNNING and locked.job is not None and not locked.job.is_terminal:
            return locked.job
        if locked.status not in (Status.DRAFT, Status.FAILED, Status.RUNNING):
            raise ApplicationError(
                f"Evaluation “{locked.name}” is {locked.get_status_display().lower()}; only a draft or a failed "
                "evaluation can be launched.",
                extra={"status": locked.status},
                status_code=409,
            )
        backends = list(locked.backends.all())
        local = [b for b in backends if b.kind == ModelBackend.Kind.LOCAL]
        queue = backend_queue(backend=local[0]) if local else "default"
        job = job_create(
            kind=EVALUATION_JOB,
            params={"evaluation_id": locked.pk},
            created_by=user,
            title=f"Steering evaluation: {locked.name}",
            queue=queue,
            dedupe_key=f"steering-evaluation-{locked.pk}",
        )
        locked.job = job
        locked.status = Status.RUNNING
        locked.finished_at = None
        locked.save(update_fields=["job", "status", "finished_at"])
    evaluation.refresh_from_db()
    return job


# --- reads -----------------------------------------------------------------------------------------------------


def evaluation_list() -> DjangoQuerySet[SteeringEvaluation]:
    return (
        SteeringEvaluation.objects.select_related("query_set", "judge_backend", "job", "created_by", "human_campaign")
        .prefetch_related("backends", "values__theory")
        .order_by("-created_at", "-id")
    )


def evaluation_get(*, evaluation_id: int) -> SteeringEvaluation:
    evaluation = evaluation_list().filter(pk=evaluation_id).first()
    if evaluation is None:
        raise ApplicationError(f"Steering evaluation {evaluation_id} does not exist.", status_code=404)
    return evaluation


def evaluation_progress(*, evaluation: SteeringEvaluation) -> dict[str, int]:
    """Counts for the progress display: responses planned/generated, windows judged (valid and dropped), scores."""
    responses = SteeredResponse.objects.filter(evaluation=evaluation).aggregate(
        planned=Count("id"), generated=Count("id", filter=Q(generation_seconds__isnull=False))
    )
    windows = JudgeWindow.objects.filter(response__evaluation=evaluation, judge=evaluation.judge).aggregate(
        judged=Count("id"), invalid=Count("id", filter=Q(is_valid=False))
    )
    return {
        "planned": responses["planned"],
        "generated": responses["generated"],
        "windows": windows["judged"],
        "invalid_windows": windows["invalid"],
        "scores": ResponseScore.objects.filter(response__evaluation=evaluation, judge=evaluation.judge).count(),
    }


# --- the job ---------------------------------------------------------------------------------------------------


def evaluation_run_job(context: JobContext) -> dict[str, Any]:
    """Job handler of "modeling.steering_evaluation" (params: evaluation_id)."""
    try:
        evaluation_id = int(context.params["evaluation_id"])
    except (KeyError, TypeError, ValueError):
        raise ApplicationError(
            "A steering evaluation job needs an integer evaluation_id.", extra={"params": context.params}
        ) from None
    return evaluation_run(evaluation_id=evaluation_id, report=context.report)


Report = Callable[[float, str], None]


def _no_report(progress: float, message: str = "") -> None:
    pass


def evaluation_run(*, evaluation_id: int, report: Report | None = None) -> dict[str, Any]:
    """Run (or resume) an evaluation to its report — or, with human judges, to its ranking campaign."""
    report = report or _no_report
    evaluation = evaluation_get(evaluation_id=evaluation_id)
    if evaluation.status in (Status.FINISHED, Status.WAITING_FOR_HUMANS):
        return {"evaluation_id": evaluation.pk, "status": evaluation.status}
    SteeringEvaluation.objects.filter(pk=evaluation.pk).update(status=Status.RUNNING)
    try:
        report(0.01, "Planning the responses…")
        _responses_plan(evaluation)
        _stage_run(evaluation, "generate", report, (0.02, 0.5))
        if evaluation.judge == JudgeKind.HUMAN:
            from modeling.services.evaluation_humans import human_campaign_open

            report(0.9, "Opening the ranking campaign for human judges…")
            campaign = human_campaign_open(evaluation)
            progress = evaluation_progress(evaluation=evaluation)
            evaluation_fields_set(evaluation, status=Status.WAITING_FOR_HUMANS, report={"progress": progress})
            return {"evaluation_id": evaluation.pk, "status": Status.WAITING_FOR_HUMANS, "campaign_id": campaign.pk}
        m = evaluation.windows_per_response
        for round_index in range(m):
            span = (0.5 + 0.45 * round_index / m, 0.5 + 0.45 * (round_index + 1) / m)
            _stage_run(evaluation, f"judge:{round_index}", report, span)
        report(0.96, "Scoring the responses…")
        scores_write(evaluation, machine_windows(evaluation))
        report(0.98, "Writing the report…")
        report_write(evaluation)
    except Exception as exc:
        message = exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        failed_report = {**(evaluation.report or {}), "error": message[:2000]}
        evaluation_fields_set(evaluation, status=Status.FAILED, report=failed_report)
        raise
    return {"evaluation_id": evaluation.pk, "status": Status.FINISHED, **evaluation_progress(evaluation=evaluation)}


def evaluation_fields_set(evaluation: SteeringEvaluation, **fields: Any) -> None:
    """Write `fields` to the evaluation's row and the instance (finishing also stamps finished_at)."""
    if fields.get("status") == Status.FINISHED:
        fields["finished_at"] = timezone.now()
    SteeringEvaluation.objects.filter(pk=evaluation.pk).update(**fields)
    for name, value in fields.items():
        setattr(evaluation, name, value)


def report_write(evaluation: SteeringEvaluation) -> None:
    """Build and store the report; the evaluation is then FINISHED."""
    from modeling.services.steering_reports import evaluation_report_build

    evaluation_fields_set(evaluation, report=evaluation_report_build(evaluation=evaluation), status=Status.FINISHED)


# --- planning the responses ------------------------------------------------------------------------------------


def _stored_conditions(evaluation: SteeringEvaluation) -> list[_Condition]:
    values = list(evaluation.values.all())
    settings = EvaluationSettings(
        name=evaluation.name,
        backend_ids=[],
        value_ids=[v.pk for v in values],
        query_set_id=evaluation.query_set_id,
        levels=evaluation.levels,
        prompt_style=evaluation.prompt_style,
        profiles=evaluation.profiles,
        include_baseline=evaluation.include_baseline,
    )
    return _conditions(settings, values)


def _responses_plan(evaluation: SteeringEvaluation) -> int:
    """Create the evaluation's SteeredResponse rows, with the exact messages to send; rows that exist are kept."""
    values = {v.pk: v for v in evaluation.values.select_related("theory")}
    queries = list(Query.objects.filter(query_set_id=evaluation.query_set_id).order_by("position"))
    examples: dict[tuple[int, int], list[str]] = {}
    rows = []
    for condition in _stored_conditions(evaluation):
        single = condition.targets[0] if len(condition.targets) == 1 and condition.style != Style.PROFILE else None
        if condition.style == Style.USER_TEXTS and single is not None and single not in examples:
            examples[single] = user_text_examples(
                value=values[single[0]], level=single[1], count=USER_TEXT_EXAMPLES, seed=int(evaluation.seed)
            )
        for query in queries:
            prompt = _prompt(condition, query.text, values, examples)
            for backend in evaluation.backends.all():
                rows.append(
                    SteeredResponse(
                        evaluation=evaluation,
                        backend=backend,
                        query=query,
                        value_id=single[0] if single else None,
                        level=single[1] if single else None,
                        condition=condition.key,
                        prompt=prompt.messages,
                    )
                )
    SteeredResponse.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def _prompt(
    condition: _Condition, query: str, values: Mapping[int, Value], examples: Mapping[tuple[int, int], list[str]]
) -> SteeringPrompt:
    if condition.is_baseline:
        return baseline_prompt(query)
    if condition.style == Style.PROFILE:
        return profile_prompt(query, [(value_spec(values[v]), level) for v, level in condition.targets])
    (value_id, level), = condition.targets
    spec = value_spec(values[value_id])
    if condition.style == Style.PERSONA:
        return persona_prompt(query, spec, level)
    if condition.style == Style.USER_TEXTS:
        return user_texts_prompt(query, spec, level, examples[(value_id, level)])
    return activation_prompt(query, spec, level)


def evaluation_targets(*, evaluation: SteeringEvaluation) -> list[tuple[int, int]]:
    """(response id, value id) pairs to score, in a stable order: a baseline response on every value of the
    evaluation, a single-value response on its value, a profile response on each value of its profile. Responses
    without any text (nothing to rank) are left out."""
    value_ids = sorted(evaluation.values.values_list("pk", flat=True))
    profile_values = {
        c.key: [v for v, _ in c.targets] for c in _stored_conditions(evaluation) if c.style == Style.PROFILE
    }
    targets = []
    rows = (
        SteeredResponse.objects.filter(evaluation=evaluation, generation_seconds__isnull=False)
        .exclude(response="")
        .order_by("pk")
        .values_list("pk", "condition", "value_id")
    )
    for response_id, condition, value_id in rows:
        if condition == "baseline":
            targets += [(response_id, v) for v in value_ids]
        elif condition in profile_values:
            targets += [(response_id, v) for v in sorted(profile_values[condition])]
        elif value_id is not None:
            targets.append((response_id, value_id))
    return targets


# --- stages: batches claimed by whichever worker gets there first ---------------------------------------------


def _stage_batches(evaluation: SteeringEvaluation, stage: str) -> tuple[list[list[Any]], Callable[[], set[int]]]:
    """The stage's fixed partition into batches, and a function returning the indices of batches not done yet."""
    if stage == "generate":
        planned = SteeredResponse.objects.filter(evaluation=evaluation).order_by("backend_id", "pk")
        rows = list(planned.values_list("pk", flat=True))
        batches = [rows[i : i + GENERATION_BATCH] for i in range(0, len(rows), GENERATION_BATCH)]

        def pending() -> set[int]:
            open_ids = set(
                SteeredResponse.objects.filter(evaluation=evaluation, generation_seconds__isnull=True).values_list(
                    "pk", flat=True
                )
            )
            return {index for index, batch in enumerate(batches) if open_ids.intersection(batch)}

        return batches, pending
    round_index = int(stage.split(":")[1])
    targets = evaluation_targets(evaluation=evaluation)
    judge_batches = [targets[i : i + JUDGE_BATCH] for i in range(0, len(targets), JUDGE_BATCH)]

    def judge_pending() -> set[int]:
        done = set(
            JudgeWindow.objects.filter(response__evaluation=evaluation, judge=evaluation.judge, index=round_index)
            .values_list("response_id", "value_id")
        )
        return {index for index, batch in enumerate(judge_batches) if any(tuple(t) not in done for t in batch)}

    return judge_batches, judge_pending


def _batch_process(evaluation: SteeringEvaluation, stage: str, batch: list[Any], context: dict[str, Any]) -> None:
    if stage == "generate":
        responses_generate(evaluation_id=evaluation.pk, batch=batch)
    else:
        if "judge" not in context:
            context["judge"] = window_judge(evaluation)
            context["anchors"] = {v.pk: anchor_set(v) for v in evaluation.values.select_related("theory")}
        round_index = int(stage.split(":")[1])
        if context.get("round") != round_index:
            context["round"] = round_index
            context["scales"] = round_scales(evaluation, before_round=round_index)
        judge_batch(evaluation, round_index, [tuple(t) for t in batch], context)


def _lease_key(evaluation: SteeringEvaluation, stage: str, index: int) -> str:
    # The creation time makes keys unique even where ids repeat (a test database recreated).
    return f"valueflow:evaluation:{evaluation.pk}:{evaluation.created_at.timestamp():.6f}:{stage}:{index}"


def _claim(key: str, token: str, lease_s: int, *, superseded: Callable[[str], bool] = lambda holder: False) -> bool:
    """Take a batch's lease. `cache.add` also answers False while the cache is unreachable (the resilient backend
    turns an outage into misses); a lease nobody can be seen holding is then taken anyway, so an outage never stalls
    a run — at worst two workers do the same batch, whose writes are idempotent. A lease whose holder is
    `superseded` (an earlier attempt of the same job, whose worker died) is taken over at once."""
    if cache.add(key, token, lease_s):
        return True
    holder = cache.get(key)
    if holder is None:
        return True
    if isinstance(holder, str) and superseded(holder):
        cache.set(key, token, lease_s)
        return True
    return False


def _job_token(job_id: int, attempt: int) -> str:
    return f"job:{job_id}:{attempt}:{uuid.uuid4().hex}"


def _superseded_by(job_id: int, attempt: int) -> Callable[[str], bool]:
    """Whether a lease holder is an earlier attempt of this job. The job reaper hands a job out again only after its
    worker stopped beating, so the batches that attempt held are abandoned, not in progress."""

    def check(holder: str) -> bool:
        parts = holder.split(":")
        return len(parts) == 4 and parts[0] == "job" and parts[1] == str(job_id) and parts[2].isdigit() and (
            int(parts[2]) < attempt
        )

    return check


def _work(
    evaluation: SteeringEvaluation,
    stage: str,
    *,
    wait: bool,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Claim and process the stage's pending batches until none is left (`wait`: also wait for batches other
    workers hold, so the stage is complete on return). Returns how many batches this worker processed. The job
    itself (`wait`) holds its leases under its job id and attempt, so a resumed attempt takes over at once the
    batches a dead attempt held; a helper's lease runs out on its own."""
    batches, pending = _stage_batches(evaluation, stage)
    context: dict[str, Any] = {}
    processed = 0
    job = evaluation.job
    superseded: Callable[[str], bool] = lambda holder: False  # noqa: E731 - the helper supersedes nobody
    if wait and job is not None:
        token, superseded = _job_token(job.pk, job.attempts), _superseded_by(job.pk, job.attempts)
    else:
        token = f"helper:{uuid.uuid4().hex}"
    while True:
        left = sorted(pending())
        progress(len(batches) - len(left), len(batches))
        if not left:
            return processed
        lease_s = django_settings.VALUEFLOW_EVALUATION_BATCH_LEASE_S
        claimed = next(
            (i for i in left if _claim(_lease_key(evaluation, stage, i), token, lease_s, superseded=superseded)), None
        )
        if claimed is None:
            if not wait:
                return processed
            time.sleep(WAIT_POLL_S)
            continue
        try:
            _batch_process(evaluation, stage, batches[claimed], context)
            processed += 1
        finally:
            cache.delete(_lease_key(evaluation, stage, claimed))


def _stage_run(evaluation: SteeringEvaluation, stage: str, report: Report, span: tuple[float, float]) -> None:
    """Run a stage to completion here, with helper tasks on other workers taking batches too."""
    batches, pending = _stage_batches(evaluation, stage)
    helpers = min(HELPER_TASKS, max(0, len(pending()) - 1))
    if helpers:
        from modeling.tasks import evaluation_work

        queue = evaluation.job.queue if evaluation.job is not None else "default"
        for _ in range(helpers):
            transaction.on_commit(lambda: evaluation_work.apply_async(args=(evaluation.pk, stage), queue=queue))
    if stage == "generate":
        label = "Generating responses"
    else:
        label = f"Judging round {int(stage.split(':')[1]) + 1} of {evaluation.windows_per_response}"

    def progress(done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        report(span[0] + (span[1] - span[0]) * fraction, f"{label}: {done} of {total} batches done.")

    _work(evaluation, stage, wait=True, progress=progress)


def evaluation_work(*, evaluation_id: int, stage: str) -> int:
    """A helper worker's share of a stage (the Celery task `modeling.tasks.evaluation_work`): process unclaimed
    batches while any are left; never waits. Returns the number of batches processed here."""
    evaluation = SteeringEvaluation.objects.select_related("job").filter(pk=evaluation_id).first()
    if evaluation is None or evaluation.status != Status.RUNNING:
        return 0
    if stage != "generate" and not (stage.startswith("judge:") and stage.split(":")[1].isdigit()):
        raise ApplicationError(f"Unknown evaluation stage {stage!r}.", extra={"stage": stage})
    return _work(evaluation, stage, wait=False)


# --- scoring ---------------------------------------------------------------------------------------------------


def scores_write(
    evaluation: SteeringEvaluation,
    windows: Mapping[tuple[int, int], Sequence[JudgedWindow]],
    *,
    scale_rankings: Mapping[int, Sequence[Sequence[float]]] | None = None,
) -> dict[int, Scale]:
    """Score every target with valid windows: per value, the judge's scale from the anchor-vs-anchor orderings
    (by default those of the windows; `scale_rankings` gives them directly, e.g. one per human judgment, so a
    judgment that showed two probes is not counted twice), then one intensity and interval per response.
    Rewrites the evaluation's scores for this judge; returns the scales."""
    if scale_rankings is None:
        collected: dict[int, list[list[float]]] = defaultdict(list)
        for (_, value_id), value_windows in windows.items():
            collected[value_id] += [w.ranked_anchor_intensities() for w in value_windows]
        scale_rankings = collected
    scales = {value_id: scale_estimate_from_rankings(rankings) for value_id, rankings in scale_rankings.items()}
    rows = []
    for (response_id, value_id), value_windows in windows.items():
        if not value_windows:
            continue
        estimate = response_score(value_windows, scales.get(value_id) or scale_estimate(value_windows))
        beta = estimate.scale.logits_per_point
        # A text beyond every anchor has a one-sided interval; its "standard error" is the interval's half-width
        # over 1.96, so the number stays finite and comparable.
        intensity_se = (
            estimate.intensity_se
            if math.isfinite(estimate.intensity_se)
            else (estimate.ci_high - estimate.ci_low) / (2 * Z95)
        )
        rows.append(
            ResponseScore(
                response_id=response_id,
                value_id=value_id,
                judge=evaluation.judge,
                utility=estimate.utility,
                se=beta * intensity_se,
                intensity=estimate.intensity,
                ci_low=estimate.ci_low,
                ci_high=estimate.ci_high,
                n_windows=estimate.n_windows,
                details=estimate.details(),
            )
        )
    with transaction.atomic():
        ResponseScore.objects.filter(response__evaluation=evaluation, judge=evaluation.judge).delete()
        ResponseScore.objects.bulk_create(rows, batch_size=1000)
    return scales


