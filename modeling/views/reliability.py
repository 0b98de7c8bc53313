"""Researcher pages on annotators of one value — each annotator's reliability and side bias from the published fit,
with 95 % intervals, beside the fit's agreement metrics — and the admin page that adds an LLM backend as an
annotator on a campaign (its annotation job's progress is shown live)."""

from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.permissions import admin_required, researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from labeling.models import Campaign, Value
from modeling.models import ModelBackend
from modeling.selectors import value_by_keys, value_has_running_campaign, value_published_pointer
from modeling.services.llm_annotators import MAX_JUDGMENTS_PER_RUN, llm_annotator_start, llm_username
from modeling.services.reliability import value_annotator_estimates

TEMPLATE = "modeling/annotators.html"
# The reliability axis of the interval bars: adversarial annotators fall below 0, careful ones above 1.
AXIS = (-1.0, 2.0)


def _value_or_404(theory_key: str, value_key: str) -> Value:
    value = value_by_keys(theory_key=theory_key, value_key=value_key)
    if value is None:
        raise Http404(f"No value {theory_key}:{value_key}.")
    return value


def reliability_bar(estimate: float, low: float, high: float, *, width: int = 140) -> SafeString:
    """The reliability (dot) and its 95 % interval (bar) on a −1…2 axis with 0 (random) and 1 (consensus) marked."""

    def x(value: float) -> float:
        clipped = max(AXIS[0], min(AXIS[1], value))
        return round((clipped - AXIS[0]) / (AXIS[1] - AXIS[0]) * width, 2)

    label = f"reliability {estimate:.2f}, 95 % interval {low:.2f} to {high:.2f}"
    return format_html(
        '<svg class="interval-bar" width="{w}" height="14" viewBox="0 0 {w} 14" role="img" aria-label="{label}">'
        "<title>{label}</title>"
        '<line x1="{zero}" y1="1" x2="{zero}" y2="13" style="stroke:var(--line, #dde2e6)" stroke-width="1"/>'
        '<line x1="{one}" y1="1" x2="{one}" y2="13" style="stroke:var(--muted, #66707a)" stroke-width="1" '
        'stroke-dasharray="2 2"/>'
        '<line x1="{lo}" y1="7" x2="{hi}" y2="7" style="stroke:var(--accent, #2357c6)" stroke-width="3" '
        'stroke-linecap="round" opacity=".45"/>'
        '<circle cx="{point}" cy="7" r="3.5" style="fill:var(--accent, #2357c6)"/>'
        "</svg>",
        w=width, label=label, zero=x(0.0), one=x(1.0), lo=x(low), hi=x(high), point=x(estimate),
    )


@researcher_required
def value_annotators(request: HtmxHttpRequest, theory_key: str, value_key: str) -> HttpResponse:
    """GET the page, or (htmx) its live part "annotators-live", refreshed while a campaign on the value runs."""
    value = _value_or_404(theory_key, value_key)
    pointer = value_published_pointer(value=value)
    fit = pointer.fit if pointer else None
    rows = value_annotator_estimates(fit=fit) if fit else []
    metrics = (fit.metrics or {}) if fit else {}
    context: dict[str, Any] = {
        "value": value,
        "fit": fit,
        "live": value_has_running_campaign(value=value),
        "rows": [{"row": row, "bar": reliability_bar(row.reliability, row.reliability_low, row.reliability_high)}
                 for row in rows],
        "metrics": metrics,
        "llm_rows": [row for row in rows if row.is_llm],
        "llm_human": (metrics.get("llm_human") or {}).get("annotators", {}),
        "reliability_summary": ((fit.config or {}).get("engine", {}).get("reliability") if fit else None),
    }
    if request.htmx and request.htmx.target == "annotators-live":
        return render(request, f"{TEMPLATE}#annotators-live", context)
    return render(request, TEMPLATE, context)


class LlmAnnotatorForm(forms.Form):
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.filter(status=Campaign.Status.RUNNING).order_by("name"),
        help_text="A running campaign; the model works through the same comparisons people get.",
    )
    backend = forms.ModelChoiceField(
        queryset=ModelBackend.objects.filter(is_active=True).order_by("name"),
        help_text="It annotates as the account llm-<backend name>.",
    )
    max_judgments = forms.IntegerField(
        min_value=1, max_value=MAX_JUDGMENTS_PER_RUN, initial=200,
        help_text="The run stops after this many judgments, or earlier when the campaign has nothing more for it.",
    )


@admin_required
def llm_annotator_add(request: HttpRequest) -> HttpResponse:
    """Add an LLM backend as an annotator on a campaign and start its annotation job."""
    job = None
    if request.method == "POST":
        form = LlmAnnotatorForm(request.POST)
        if form.is_valid():
            try:
                job = llm_annotator_start(
                    campaign=form.cleaned_data["campaign"],
                    backend=form.cleaned_data["backend"],
                    max_judgments=form.cleaned_data["max_judgments"],
                    started_by=request.user,
                )
            except ApplicationError as exc:
                form.add_error(exc.extra.get("field") if exc.extra.get("field") in form.fields else None, exc.message)
    else:
        form = LlmAnnotatorForm()
    status = 422 if request.method == "POST" and job is None else 200
    context = {
        "form": form,
        "job": job,
        "annotator": llm_username(form.cleaned_data["backend"]) if job is not None else None,
        "campaign": form.cleaned_data.get("campaign") if job is not None else None,
    }
    return render(request, "modeling/annotators_llm.html", context, status=status)
