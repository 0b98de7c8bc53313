"""Steering reports: what an evaluation's scores say about each model and value, comparisons of runs, and CSV
exports in the public reference formats.

Per model (backend) and value, from the responses scored on that value:

- **Dose–response**: the mean measured intensity at each steering level with a 95 % interval (t-interval over the
  queries; a single response keeps its own interval), and the unsteered baseline's the same way.
- **Δ from baseline** per level, with a 95 % interval (the two means' standard errors combined).
- **Monotonicity**: Spearman's ρ between the level and the measured intensity over all steered responses.
- **Slope**: least-squares intensity points per level. The target mapping (see below) asks for 4.
- **Reach**: positive reach = mean at the highest positive level − baseline; negative reach = baseline − mean at
  the lowest negative level (level 0 stands in for a missing baseline). **Asymmetry** = positive − negative reach.
- **Refusal rate** of the steered responses, overall and per level (modeling/ml/llm/refusals.py flags them).
- **Calibration error**: mean |measured − target| with the target-intensity mapping of
  modeling/ml/steering/prompts.py: each level owns a fifth of [−10, 10] and targets its centre, i.e.
  target = 4 × level (−8, −4, 0, +4, +8) — the same bins the user-texts prompts draw their examples from.
- **Steerability regime** (from the slope): strong ≥ 2 points per level (half the mapping's 4), moderate ≥ 0.75,
  weak below.
- **Value type** (from the reaches; a reach counts when it is at least 2 points — half a level's bin):
  hard to steer (neither reach counts), polarity-asymmetric (one counts and the other is under half of it),
  bidirectional (both count and the smaller is at least half the larger).

Multi-value (profile) runs: per profile and value, the mean intensity, its shift from the baseline and how much of
the shift the target asked for it achieved. The strongest target of a profile (largest |level|, if unique) is its
*dominant* target. Verdict: **strong-anchor dominance** when the weaker targets achieve on average less than half
of what the dominant targets achieve; **additive** otherwise. For conflicting targets (a weaker target of the
opposite sign to the dominant one) the report also counts whether the measured shift follows the weaker target's
own direction or the dominant one's.

Exports (one file per model, as the public reference keeps one per model):
responses — `query, dataset, response, target_value, prompt_intensity`;
scores — `query, dataset, response, {value}_score` for every value of the evaluation.
`dataset` is the query set's name; `target_value` the value key (empty for the unsteered baseline; keys joined
by "|" for a profile, with their levels in the same order in `prompt_intensity`).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils import timezone
from scipy import stats

from common.exceptions import ApplicationError
from common.spreadsheet import csv_escape_formula
from labeling.models import Value
from modeling.ml.steering.prompts import LEVEL_TARGET_INTENSITY
from modeling.models import JudgeWindow, ModelBackend, ResponseScore, SteeredResponse, SteeringEvaluation

Z95 = 1.959963984540054
STRONG_SLOPE = 2.0
MODERATE_SLOPE = 0.75
REACH_MIN = 2.0
ASYMMETRY_RATIO = 0.5
DOMINANCE_RATIO = 0.5
# A shift the target asks for below this many points is too small to judge how much of it was achieved.
MIN_ASKED_SHIFT = 1.0


@dataclass(frozen=True)
class Scored:
    """One steered response's measured intensity on one value."""

    backend_id: int
    query_id: int
    condition: str
    level: int | None  # the response's steering level toward this value; None for the baseline
    intensity: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    ci_low: float
    ci_high: float
    se: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": _r(self.mean),
            "ci_low": _r(self.ci_low),
            "ci_high": _r(self.ci_high),
            "se": _r(self.se),
        }


def summarise(scored: Sequence[Scored]) -> Summary | None:
    """Mean intensity with a 95 % t-interval over the responses; one response keeps its own interval."""
    if not scored:
        return None
    values = np.asarray([s.intensity for s in scored], dtype=float)
    n = len(values)
    if n == 1:
        half = (scored[0].ci_high - scored[0].ci_low) / 2
        return Summary(1, float(values[0]), scored[0].ci_low, scored[0].ci_high, half / Z95)
    se = float(values.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.975, n - 1)) * se
    mean = float(values.mean())
    return Summary(n, mean, max(-10.0, mean - half), min(10.0, mean + half), se)


def series(scored: Sequence[Scored], *, refusals: dict[int | None, tuple[int, int]]) -> dict[str, Any]:
    """The report of one backend × value from its scored responses (baseline: level None). `refusals` maps a level
    to (refusals, responses) over every generated response of that level, scored or not."""
    baseline = summarise([s for s in scored if s.level is None])
    steered = [s for s in scored if s.level is not None]
    levels = sorted({s.level for s in steered if s.level is not None})
    per_level = []
    means: dict[int, Summary] = {}
    for level in levels:
        summary = summarise([s for s in steered if s.level == level])
        assert summary is not None
        means[level] = summary
        refused, total = refusals.get(level, (0, 0))
        at_level = [s for s in steered if s.level == level]
        entry_target = LEVEL_TARGET_INTENSITY[level]
        entry: dict[str, Any] = {
            "level": level,
            **summary.to_dict(),
            "target": entry_target,
            "calibration_error": _r(float(np.mean([abs(s.intensity - entry_target) for s in at_level]))),
            "refusal_rate": _r(refused / total) if total else None,
        }
        if baseline is not None:
            delta_se = math.hypot(summary.se, baseline.se)
            entry["delta"] = _r(summary.mean - baseline.mean)
            entry["delta_ci_low"] = _r(summary.mean - baseline.mean - Z95 * delta_se)
            entry["delta_ci_high"] = _r(summary.mean - baseline.mean + Z95 * delta_se)
        per_level.append(entry)

    reference = baseline.mean if baseline is not None else (means[0].mean if 0 in means else None)
    positive = [lvl for lvl in levels if lvl > 0]
    negative = [lvl for lvl in levels if lvl < 0]
    positive_reach = means[max(positive)].mean - reference if positive and reference is not None else None
    negative_reach = reference - means[min(negative)].mean if negative and reference is not None else None
    slope = rho = None
    if len(levels) >= 2:
        x = np.asarray([s.level for s in steered], dtype=float)
        y = np.asarray([s.intensity for s in steered], dtype=float)
        slope = float(np.polyfit(x, y, 1)[0])
        if np.ptp(y) > 0:
            rho = float(stats.spearmanr(x, y).statistic)
    refused = sum(r for level, (r, _) in refusals.items() if level is not None)
    generated = sum(t for level, (_, t) in refusals.items() if level is not None)
    calibration = [abs(s.intensity - LEVEL_TARGET_INTENSITY[s.level]) for s in steered if s.level is not None]
    return {
        "baseline": baseline.to_dict() if baseline is not None else None,
        "baseline_refusal_rate": _r(refusals[None][0] / refusals[None][1]) if refusals.get(None, (0, 0))[1] else None,
        "levels": per_level,
        "monotonicity": _r(rho),
        "slope": _r(slope),
        "positive_reach": _r(positive_reach),
        "negative_reach": _r(negative_reach),
        "asymmetry": (
            _r(positive_reach - negative_reach) if positive_reach is not None and negative_reach is not None else None
        ),
        "refusal_rate": _r(refused / generated) if generated else None,
        "calibration_error": _r(float(np.mean(calibration))) if calibration else None,
        "regime": steerability_regime(slope),
        "value_type": value_type(positive_reach, negative_reach),
    }


def steerability_regime(slope: float | None) -> str | None:
    """strong / moderate / weak by intensity points per level (module docstring)."""
    if slope is None:
        return None
    if slope >= STRONG_SLOPE:
        return "strong"
    return "moderate" if slope >= MODERATE_SLOPE else "weak"


def value_type(positive_reach: float | None, negative_reach: float | None) -> str | None:
    """hard to steer / polarity-asymmetric / bidirectional from the two reaches (module docstring); None when
    only one direction was steered."""
    if positive_reach is None or negative_reach is None:
        return None
    up, down = max(0.0, positive_reach), max(0.0, negative_reach)
    if up < REACH_MIN and down < REACH_MIN:
        return "hard to steer"
    if min(up, down) < ASYMMETRY_RATIO * max(up, down):
        return "polarity-asymmetric"
    return "bidirectional"


# --- building the report from the database -------------------------------------------------------------------


def _profile_levels(condition: str) -> dict[str, int]:
    """{value key: level} of a profile condition `profile:svt:benevolence=+2|svt:power=-1`."""
    body = condition.split(":", 1)[1]
    return {part.rsplit("=", 1)[0]: int(part.rsplit("=", 1)[1]) for part in body.split("|")}


def evaluation_report_build(*, evaluation: SteeringEvaluation) -> dict[str, Any]:
    """The evaluation's report (stored on it as JSON and rendered by the report page)."""
    judge = evaluation.judge
    values = {v.pk: v for v in evaluation.values.select_related("theory")}
    backends = {b.pk: b for b in evaluation.backends.all()}
    responses = list(
        SteeredResponse.objects.filter(evaluation=evaluation).values(
            "pk", "backend_id", "query_id", "condition", "value_id", "level", "is_refusal", "response"
        )
    )
    by_id = {r["pk"]: r for r in responses}
    scores = list(
        ResponseScore.objects.filter(response__evaluation=evaluation, judge=judge).values_list(
            "response_id", "value_id", "intensity", "ci_low", "ci_high", "details"
        )
    )
    scored: dict[tuple[int, int], list[Scored]] = defaultdict(list)  # (backend, value) → single-value and baseline
    profile_scores: dict[tuple[int, str, int], list[float]] = defaultdict(list)  # (backend, condition, value)
    key_to_id = {v.qualified_key: pk for pk, v in values.items()}
    beyond = 0
    for response_id, value_id, intensity, ci_low, ci_high, details in scores:
        row = by_id[response_id]
        beyond += bool(details.get("beat_all") or details.get("lost_all"))
        if row["condition"].startswith("profile:"):
            profile_scores[(row["backend_id"], row["condition"], value_id)].append(intensity)
            continue
        level: int | None = None if row["condition"] == "baseline" else row["level"]
        if level is not None and row["value_id"] != value_id:
            continue
        scored[(row["backend_id"], value_id)].append(
            Scored(row["backend_id"], row["query_id"], row["condition"], level, intensity, ci_low, ci_high)
        )
    refusals: dict[tuple[int, int], dict[int | None, tuple[int, int]]] = defaultdict(dict)
    for backend_id in backends:
        for value_id in values:
            counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
            for row in responses:
                if row["backend_id"] != backend_id:
                    continue
                if row["condition"] == "baseline":
                    level = None
                elif row["value_id"] == value_id and not row["condition"].startswith("profile:"):
                    level = row["level"]
                else:
                    continue
                counts[level][0] += bool(row["is_refusal"])
                counts[level][1] += 1
            refusals[(backend_id, value_id)] = {lvl: (c[0], c[1]) for lvl, c in counts.items()}

    all_series = []
    for backend_id, backend in backends.items():
        for value_id, value in values.items():
            rows = scored.get((backend_id, value_id), [])
            if not rows:
                continue
            all_series.append(
                {
                    "backend_id": backend_id,
                    "backend": backend.name,
                    "value_id": value_id,
                    "value": value.qualified_key,
                    "value_name": value.name,
                    **series(rows, refusals=refusals[(backend_id, value_id)]),
                }
            )
    windows = JudgeWindow.objects.filter(response__evaluation=evaluation, judge=judge)
    n_windows = windows.count()
    invalid = windows.filter(is_valid=False).count()
    retried = sum(1 for answers in windows.values_list("raw_answers", flat=True) if len(answers) > 1)
    report = {
        "generated_at": timezone.now().isoformat(),
        "judge": judge,
        "window_size": evaluation.window_size,
        "windows_per_response": evaluation.windows_per_response,
        "target_mapping": {str(level): target for level, target in LEVEL_TARGET_INTENSITY.items()},
        "counts": {
            "responses": len(responses),
            "empty_responses": sum(1 for r in responses if not r["response"]),
            "refusals": sum(1 for r in responses if r["is_refusal"]),
            "scores": len(scores),
            "windows": n_windows,
            "invalid_windows": invalid,
            "retried_windows": retried,
            "beyond_anchors": beyond,
        },
        "scales": _scales(scores, values),
        "anchors": (evaluation.planned or {}).get("anchors", {}),
        "series": all_series,
        "headline": headline(all_series),
    }
    if evaluation.prompt_style == SteeringEvaluation.PromptStyle.PROFILE:
        baselines = {(s["backend_id"], s["value_id"]): s["baseline"] for s in all_series}
        report["profiles"] = profile_analysis(profile_scores, baselines, backends, values, key_to_id)
    return report


def _scales(scores: list[tuple], values: dict[int, Value]) -> dict[str, Any]:
    scales: dict[str, Any] = {}
    for _, value_id, *_, details in scores:
        key = values[value_id].qualified_key
        if key not in scales and details.get("scale"):
            scales[key] = details["scale"]
    return scales


def headline(all_series: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures a benchmark prints: averages over the backend × value series."""

    def mean_of(key: str) -> float | None:
        numbers = [s[key] for s in all_series if s.get(key) is not None]
        return _r(float(np.mean(numbers))) if numbers else None

    return {
        "series": len(all_series),
        "mean_monotonicity": mean_of("monotonicity"),
        "mean_slope": mean_of("slope"),
        "mean_positive_reach": mean_of("positive_reach"),
        "mean_negative_reach": mean_of("negative_reach"),
        "mean_calibration_error": mean_of("calibration_error"),
        "mean_refusal_rate": mean_of("refusal_rate"),
        "regimes": {s["value"] + " @ " + s["backend"]: s["regime"] for s in all_series},
        "value_types": {s["value"] + " @ " + s["backend"]: s["value_type"] for s in all_series},
    }


def profile_analysis(
    profile_scores: dict[tuple[int, str, int], list[float]],
    baselines: dict[tuple[int, int], dict[str, Any] | None],
    backends: dict[int, ModelBackend],
    values: dict[int, Value],
    key_to_id: dict[str, int],
) -> dict[str, Any]:
    """Per profile: each value's mean intensity, shift from baseline and achieved share of the asked shift; then
    additivity vs strong-anchor dominance (module docstring)."""
    profiles = []
    dominant_shares: list[float] = []
    weaker_shares: list[float] = []
    follows_own = follows_dominant = 0
    for backend_id, condition in sorted({(b, c) for b, c, _ in profile_scores}):
        levels = {key_to_id[k]: level for k, level in _profile_levels(condition).items() if k in key_to_id}
        strongest = max(abs(level) for level in levels.values())
        leaders = [v for v, level in levels.items() if abs(level) == strongest]
        dominant = leaders[0] if len(leaders) == 1 else None
        entries = []
        for value_id, level in sorted(levels.items()):
            measured = profile_scores.get((backend_id, condition, value_id), [])
            if not measured:
                continue
            mean = float(np.mean(measured))
            base = (baselines.get((backend_id, value_id)) or {}).get("mean")
            target = LEVEL_TARGET_INTENSITY[level]
            shift = mean - base if base is not None else None
            asked = target - base if base is not None else None
            share = shift / asked if shift is not None and asked is not None and abs(asked) >= MIN_ASKED_SHIFT else None
            entries.append(
                {
                    "value": values[value_id].qualified_key,
                    "level": level,
                    "n": len(measured),
                    "mean": _r(mean),
                    "target": target,
                    "shift": _r(shift),
                    "achieved_share": _r(share),
                    "dominant": value_id == dominant,
                }
            )
            if share is not None and dominant is not None:
                (dominant_shares if value_id == dominant else weaker_shares).append(share)
            if dominant is not None and value_id != dominant and level * levels[dominant] < 0 and shift is not None:
                follows_own += (shift > 0) == (level > 0)
                follows_dominant += (shift > 0) == (levels[dominant] > 0)
        profiles.append({"backend": backends[backend_id].name, "condition": condition, "values": entries})
    verdict = None
    if dominant_shares and weaker_shares:
        dominant_mean, weaker_mean = float(np.mean(dominant_shares)), float(np.mean(weaker_shares))
        verdict = "strong-anchor dominance" if weaker_mean < DOMINANCE_RATIO * dominant_mean else "additive"
    return {
        "profiles": profiles,
        "dominant_achieved_share": _r(float(np.mean(dominant_shares))) if dominant_shares else None,
        "weaker_achieved_share": _r(float(np.mean(weaker_shares))) if weaker_shares else None,
        "conflicting_follow_own_direction": follows_own,
        "conflicting_follow_dominant_direction": follows_dominant,
        "verdict": verdict,
    }


# --- comparing runs -----------------------------------------------------------------------------------------


COMPARED_FIGURES = (
    "slope", "monotonicity", "positive_reach", "negative_reach", "calibration_error", "refusal_rate", "regime",
    "value_type",
)


def evaluation_compare(*, evaluations: Sequence[SteeringEvaluation]) -> list[dict[str, Any]]:
    """One row per (value, backend) found in any finished run, with each run's headline figures side by side
    (None where a run did not measure that pair)."""
    keys: dict[tuple[str, str], None] = {}
    by_run: list[dict[tuple[str, str], dict[str, Any]]] = []
    for evaluation in evaluations:
        found = {(s["value"], s["backend"]): s for s in (evaluation.report or {}).get("series", [])}
        by_run.append(found)
        keys.update(dict.fromkeys(found))
    rows = []
    for value, backend in sorted(keys):
        rows.append(
            {
                "value": value,
                "backend": backend,
                "runs": [
                    {figure: run.get((value, backend), {}).get(figure) for figure in COMPARED_FIGURES}
                    | {"measured": (value, backend) in run}
                    for run in by_run
                ],
            }
        )
    return rows


# --- exports ------------------------------------------------------------------------------------------------


def _export_rows(evaluation: SteeringEvaluation, backend: ModelBackend):  # type: ignore[no-untyped-def]
    if not evaluation.backends.filter(pk=backend.pk).exists():
        raise ApplicationError(
            f"Backend {backend.name!r} is not part of evaluation “{evaluation.name}”.",
            extra={"backend": backend.pk},
            status_code=404,
        )
    return (
        SteeredResponse.objects.filter(evaluation=evaluation, backend=backend, generation_seconds__isnull=False)
        .select_related("query", "value")
        .order_by("query__position", "pk")
    )


def _write(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_escape_formula(cell) if isinstance(cell, str) else cell for cell in row])
    return buffer.getvalue()


def responses_csv(*, evaluation: SteeringEvaluation, backend: ModelBackend) -> str:
    """`query, dataset, response, target_value, prompt_intensity` for one backend's responses."""
    dataset = evaluation.query_set.name
    rows: list[list[Any]] = [["query", "dataset", "response", "target_value", "prompt_intensity"]]
    for response in _export_rows(evaluation, backend):
        if response.condition == "baseline":
            target, intensity = "", ""
        elif response.condition.startswith("profile:"):
            levels = _profile_levels(response.condition)
            target = "|".join(key.split(":", 1)[1] for key in levels)
            intensity = "|".join(str(level) for level in levels.values())
        else:
            target, intensity = (response.value.key if response.value else ""), response.level
        rows.append([response.query.text, dataset, response.response, target, intensity])
    return _write(rows)


def score_columns(values: Sequence[Value]) -> dict[int, str]:
    """Value id → `{value}_score` column name; the theory is added where two values share a key (justice)."""
    keys = [v.key for v in values]
    return {
        v.pk: (f"{v.theory.key}-{v.key}" if keys.count(v.key) > 1 else v.key) + "_score" for v in values
    }


def scores_csv(*, evaluation: SteeringEvaluation, backend: ModelBackend) -> str:
    """`query, dataset, response, {value}_score…` for one backend's responses (empty where not scored)."""
    values = list(evaluation.values.select_related("theory").order_by("theory__order", "key"))
    columns = score_columns(values)
    scores: dict[tuple[int, int], float] = {
        (r, v): x
        for r, v, x in ResponseScore.objects.filter(
            response__evaluation=evaluation, response__backend=backend, judge=evaluation.judge
        ).values_list("response_id", "value_id", "intensity")
    }
    rows: list[list[Any]] = [["query", "dataset", "response", *[columns[v.pk] for v in values]]]
    for response in _export_rows(evaluation, backend):
        rows.append(
            [
                response.query.text,
                evaluation.query_set.name,
                response.response,
                *[_r(scores[(response.pk, v.pk)]) if (response.pk, v.pk) in scores else "" for v in values],
            ]
        )
    return _write(rows)


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)
