"""Steering evaluation pages: the list (with run comparison), one form to design an evaluation (its plan updates as
the fields change), the evaluation page — its plan and Launch button while a draft, a progress bar while it runs,
the human campaign's progress while it waits, and the report with an inline-SVG dose–response plot per model ×
value — CSV exports in the public reference formats, and a side-by-side comparison of runs.

Researchers and admins read; admins design, launch and score evaluations."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from accounts.permissions import admin_required, researcher_required
from common.exceptions import ApplicationError
from labeling.models import Value
from modeling.ml.steering.prompts import LEVEL_TARGET_INTENSITY, LEVELS
from modeling.models import ModelBackend, QuerySet, SteeringEvaluation
from modeling.services.evaluation_humans import evaluation_human_collect
from modeling.services.evaluations import (
    EvaluationSettings,
    evaluation_create,
    evaluation_get,
    evaluation_launch,
    evaluation_list,
    evaluation_plan,
    evaluation_progress,
)
from modeling.services.steering_reports import evaluation_compare, responses_csv, scores_csv

MAX_COMPARED = 4


class EvaluationForm(forms.Form):
    name = forms.CharField(max_length=200)
    backends = forms.ModelMultipleChoiceField(
        queryset=ModelBackend.objects.filter(is_active=True).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        help_text="Every model answers every query under every steering condition.",
    )
    values = forms.ModelMultipleChoiceField(
        queryset=Value.objects.filter(pool_items__is_probe=False)
        .distinct()
        .select_related("theory")
        .order_by("theory__order", "name"),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Values to steer toward and measure; each needs anchor texts (published intensities or VIDB "
        "ratings).",
    )
    prompt_style = forms.ChoiceField(choices=SteeringEvaluation.PromptStyle.choices, initial="persona")
    levels = forms.TypedMultipleChoiceField(
        choices=[(level, f"{level:+d}" if level else "0") for level in LEVELS],
        coerce=int,
        initial=list(LEVELS),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Strength of the steering: −2 strongly rejects … +2 strongly values.",
    )
    profiles = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "svt:benevolence=+2, svt:power=-1"}),
        help_text="Multi-value profiles only: one profile per line, 2–5 value=level pairs separated by commas.",
    )
    include_baseline = forms.BooleanField(required=False, initial=True, label="Include the unsteered baseline")
    query_set = forms.ModelChoiceField(queryset=QuerySet.objects.order_by("name"))
    judge = forms.ChoiceField(choices=SteeringEvaluation.Judge.choices, initial="llm")
    judge_backend = forms.ModelChoiceField(
        queryset=ModelBackend.objects.filter(is_active=True).order_by("name"),
        required=False,
        help_text="The model that ranks the windows (LLM judge only).",
    )
    window_size = forms.IntegerField(
        min_value=2, max_value=8, initial=6, label="Window size k", help_text="The response and k − 1 anchors."
    )
    windows_per_response = forms.IntegerField(min_value=1, max_value=10, initial=3, label="Windows per response m")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)

    def clean_profiles(self) -> list[list[dict[str, Any]]]:
        profiles = []
        for number, line in enumerate(self.cleaned_data.get("profiles", "").splitlines(), start=1):
            if not line.strip():
                continue
            profile = []
            for part in line.split(","):
                key, _, level = part.strip().partition("=")
                try:
                    profile.append({"value": key.strip(), "level": int(level.strip().replace("+", ""))})
                except ValueError:
                    raise forms.ValidationError(
                        f"Line {number}: “{part.strip()}” is not value=level (e.g. svt:benevolence=+2)."
                    ) from None
            profiles.append(profile)
        return profiles

    def settings(self) -> EvaluationSettings:
        data = self.cleaned_data
        return EvaluationSettings(
            name=data["name"],
            backend_ids=[b.pk for b in data["backends"]],
            value_ids=[v.pk for v in data["values"]],
            query_set_id=data["query_set"].pk,
            levels=data["levels"],
            prompt_style=data["prompt_style"],
            profiles=data["profiles"],
            include_baseline=data["include_baseline"],
            judge=data["judge"],
            judge_backend_id=data["judge_backend"].pk if data["judge_backend"] else None,
            window_size=data["window_size"],
            windows_per_response=data["windows_per_response"],
            seed=data["seed"],
        )

    def add_service_error(self, error: ApplicationError) -> None:
        field = error.extra.get("field")
        self.add_error(field if field in self.fields else None, error.message)


@researcher_required
def evaluation_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "modeling/evaluation_list.html", {"evaluations": evaluation_list()})


@admin_required
def evaluation_create_view(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: store a draft with its plan and show it (nothing runs until Launch)."""
    form = EvaluationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                evaluation = evaluation_create(settings=form.settings(), created_by=request.user)
            except ApplicationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, "Draft saved. Check the plan, then launch it.")
                return redirect("modeling:evaluation_detail", evaluation_id=evaluation.pk)
        status = 422
    return render(request, "modeling/evaluation_form.html", {"form": form, "plan": None}, status=status)


@admin_required
@require_POST
def evaluation_plan_view(request: HttpRequest) -> HttpResponse:
    """The plan for the form as it stands (htmx swaps it in as the fields change)."""
    form = EvaluationForm(request.POST)
    plan = problem = None
    if form.is_valid():
        try:
            plan = evaluation_plan(settings=form.settings())
        except ApplicationError as exc:
            problem = exc.message
    else:
        problem = "Fill in the form to see the plan."
    return render(request, "modeling/evaluation_form.html#plan", {"plan": plan, "plan_problem": problem})


@researcher_required
def evaluation_detail_view(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _get(evaluation_id)
    watched = request.GET.get("watch")
    if watched is not None:
        # The running page asks every few seconds whether the evaluation left the state it shows; when it has,
        # htmx reloads the page (HX-Refresh), which then shows the report, the human campaign or the failure.
        if watched == evaluation.status:
            return HttpResponse(status=204)
        response = HttpResponse(status=200)
        response["HX-Refresh"] = "true"
        return response
    report = evaluation.report or {}
    context = {
        "evaluation": evaluation,
        "backends": list(evaluation.backends.all()),
        "values": list(evaluation.values.all()),
        "progress": evaluation_progress(evaluation=evaluation),
        "report": report,
        "plots": [
            {"series": series, "svg": dose_response_svg(series)} for series in report.get("series", [])
        ],
    }
    return render(request, "modeling/evaluation_detail.html", context)


@admin_required
@require_POST
def evaluation_launch_view(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _get(evaluation_id)
    try:
        evaluation_launch(evaluation=evaluation, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Launched.")
    return redirect("modeling:evaluation_detail", evaluation_id=evaluation.pk)


@admin_required
@require_POST
def evaluation_collect_view(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    """Score the human judgments that have arrived (`force`: even if the campaign is not complete)."""
    evaluation = _get(evaluation_id)
    try:
        progress = evaluation_human_collect(evaluation=evaluation, force=request.POST.get("force") == "1")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if progress.finished:
            messages.success(request, f"Scored {progress.probes} responses from {progress.judgments} human judgments.")
        else:
            messages.info(
                request,
                f"{progress.probes_complete} of {progress.probes} responses have all their windows "
                f"({progress.judgments} judgments so far).",
            )
    return redirect("modeling:evaluation_detail", evaluation_id=evaluation.pk)


@researcher_required
def evaluation_export_view(request: HttpRequest, evaluation_id: int, kind: str, backend_id: int) -> HttpResponse:
    """responses.csv or scores.csv of one backend, in the public reference formats."""
    evaluation = _get(evaluation_id)
    backend = evaluation.backends.filter(pk=backend_id).first()
    if backend is None:
        raise Http404(f"Backend {backend_id} is not part of this evaluation.")
    if kind == "responses":
        content = responses_csv(evaluation=evaluation, backend=backend)
    elif kind == "scores":
        if evaluation.status != SteeringEvaluation.Status.FINISHED:
            raise Http404("Scores are exported once the evaluation is finished.")
        content = scores_csv(evaluation=evaluation, backend=backend)
    else:
        raise Http404(f"Unknown export {kind!r}.")
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    filename = f"evaluation-{evaluation.pk}-{slugify(backend.name)}-{kind}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@researcher_required
def evaluation_compare_view(request: HttpRequest) -> HttpResponse:
    """Finished runs side by side: ?ids=1&ids=2 (up to MAX_COMPARED)."""
    try:
        ids = list(dict.fromkeys(int(i) for i in request.GET.getlist("ids")))
    except ValueError:
        raise Http404("Evaluation ids are numbers.") from None
    runs = list(evaluation_list().filter(pk__in=ids, status=SteeringEvaluation.Status.FINISHED))
    runs.sort(key=lambda e: ids.index(e.pk))
    problem = None
    if len(runs) < 2:
        problem = "Choose at least two finished evaluations to compare."
    elif len(runs) > MAX_COMPARED:
        problem = f"At most {MAX_COMPARED} runs side by side; showing the first {MAX_COMPARED}."
        runs = runs[:MAX_COMPARED]
    rows = evaluation_compare(evaluations=runs) if len(runs) >= 2 else []
    table = [
        {
            "value": row["value"],
            "backend": row["backend"],
            "figures": [
                {"label": label, "cells": [_cell(run, figure) for run in row["runs"]]}
                for figure, label in COMPARED_LABELS
            ],
        }
        for row in rows
    ]
    return render(request, "modeling/evaluation_compare.html", {"runs": runs, "table": table, "problem": problem})


COMPARED_LABELS = (
    ("slope", "Slope (points per level)"),
    ("monotonicity", "Monotonicity ρ"),
    ("positive_reach", "Positive reach"),
    ("negative_reach", "Negative reach"),
    ("calibration_error", "Calibration error"),
    ("refusal_rate", "Refusal rate"),
    ("regime", "Regime"),
    ("value_type", "Value type"),
)


def _cell(run: dict[str, Any], figure: str) -> str:
    if not run["measured"]:
        return "not measured"
    value = run.get(figure)
    return "—" if value is None else str(value)


def _get(evaluation_id: int) -> SteeringEvaluation:
    try:
        return evaluation_get(evaluation_id=evaluation_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from None


# --- the dose–response plot -------------------------------------------------------------------------------------

_INK = "var(--ink, #1d2429)"
_MUTED = "var(--muted, #66707a)"
_ACCENT = "var(--accent, #2357c6)"
_LINE = "var(--line, #dde2e6)"
_BAND = "var(--muted, #66707a)"


def dose_response_svg(series: dict[str, Any], *, width: int = 440, height: int = 260) -> SafeString:
    """Mean measured intensity per steering level with 95 % intervals (points and whiskers), the unsteered baseline
    (dashed line in its interval band) and the target mapping (dotted), on a −10…10 axis. Only numbers computed here
    and escaped text reach the markup."""
    left, right, top, bottom = 40, 12, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_at(level: float) -> float:
        return round(left + (level - LEVELS[0]) / (LEVELS[-1] - LEVELS[0]) * plot_w, 2)

    def y_at(intensity: float) -> float:
        clipped = max(-10.0, min(10.0, intensity))
        return round(top + (10.0 - clipped) / 20.0 * plot_h, 2)

    parts: list[str] = []
    for tick in (-10, -5, 0, 5, 10):
        parts.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" style="stroke:{}"/>'
            '<text x="{}" y="{}" text-anchor="end" font-size="11" style="fill:{}">{}</text>',
            left, y_at(tick), left + plot_w, y_at(tick), _LINE,
            left - 6, y_at(tick) + 4, _MUTED, f"{tick:+d}" if tick else "0",
        ))
    for level in LEVELS:
        parts.append(format_html(
            '<text x="{}" y="{}" text-anchor="middle" font-size="11" style="fill:{}">{}</text>',
            x_at(level), height - 16, _MUTED, f"{level:+d}" if level else "0",
        ))
    parts.append(format_html(
        '<text x="{}" y="{}" text-anchor="middle" font-size="11" style="fill:{}">steering level</text>',
        left + plot_w / 2, height - 3, _MUTED,
    ))
    target_points = " ".join(f"{x_at(level)},{y_at(LEVEL_TARGET_INTENSITY[level])}" for level in LEVELS)
    parts.append(format_html(
        '<polyline points="{}" fill="none" style="stroke:{}" stroke-dasharray="2 4" stroke-width="1.5">'
        "<title>target: 4 intensity points per level</title></polyline>",
        target_points, _MUTED,
    ))
    baseline = series.get("baseline")
    if baseline:
        parts.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" style="fill:{}" opacity=".12"/>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}" style="stroke:{}" stroke-dasharray="6 4" stroke-width="1.5">'
            "<title>{}</title></line>",
            left, y_at(baseline["ci_high"]), plot_w,
            max(1.0, y_at(baseline["ci_low"]) - y_at(baseline["ci_high"])), _BAND,
            left, y_at(baseline["mean"]), left + plot_w, y_at(baseline["mean"]), _INK,
            f"unsteered baseline {baseline['mean']:.1f} (95 % {baseline['ci_low']:.1f} to {baseline['ci_high']:.1f})",
        ))
    levels = series.get("levels", [])
    if levels:
        parts.append(format_html(
            '<polyline points="{}" fill="none" style="stroke:{}" stroke-width="2"/>',
            " ".join(f"{x_at(e['level'])},{y_at(e['mean'])}" for e in levels), _ACCENT,
        ))
    for entry in levels:
        x = x_at(entry["level"])
        parts.append(format_html(
            '<g><title>{}</title><line x1="{}" y1="{}" x2="{}" y2="{}" style="stroke:{}" stroke-width="2"/>'
            '<circle cx="{}" cy="{}" r="4" style="fill:{}"/></g>',
            f"level {entry['level']:+d}: {entry['mean']:.1f} (95 % {entry['ci_low']:.1f} to {entry['ci_high']:.1f}, "
            f"n = {entry['n']})",
            x, y_at(entry["ci_low"]), x, y_at(entry["ci_high"]), _ACCENT, x, y_at(entry["mean"]), _ACCENT,
        ))
    label = _plot_label(series)
    return format_html(
        '<svg class="plot dose-response" width="100%" viewBox="0 0 {w} {h}" role="img" aria-label="{label}" '
        'preserveAspectRatio="xMidYMid meet" style="max-width:{w}px" data-testid="dose-response">'
        "<title>{label}</title>{parts}</svg>",
        w=width, h=height, label=label, parts=mark_safe("".join(parts)),
    )


def _plot_label(series: dict[str, Any]) -> str:
    levels = series.get("levels", [])
    described = "; ".join(f"level {e['level']:+d}: {e['mean']:.1f}" for e in levels) or "no steered levels"
    baseline = series.get("baseline")
    tail = f"; unsteered baseline {baseline['mean']:.1f}" if baseline else ""
    name = series.get("value_name", series.get("value"))
    return f"Dose–response of {name} for {series.get('backend')}: {described}{tail}."
