"""The researcher's intensity dashboard: every value's fit at a glance, and one value's ranked intensities with
their intervals, the distribution, convergence over the fit history, annotator agreement and a "Refit now" button.

Pages refresh their live parts every 5 s through htmx while a campaign on the value is running; each part is a
partial of the page template, rendered alone when htmx asks for it by its element id.
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import researcher_required
from common.http import HtmxHttpRequest
from labeling.models import Value
from modeling.selectors import (
    fit_median_ci_width,
    value_active_refit_job,
    value_annotator_agreement,
    value_by_keys,
    value_fit_history,
    value_fit_overview,
    value_has_running_campaign,
    value_intensity_histogram,
    value_published_pointer,
    value_ranked_items,
)
from modeling.services.fits import refit_now
from modeling.views import plots

ITEMS_PER_PAGE = 50
TEMPLATE = "modeling/value_intensities.html"


@researcher_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    rows = value_fit_overview()
    context = {"rows": rows, "live": any(row.campaign_running for row in rows)}
    template = "modeling/dashboard.html#value-table" if request.htmx else "modeling/dashboard.html"
    return render(request, template, context)


def _value_or_404(theory_key: str, value_key: str) -> Value:
    value = value_by_keys(theory_key=theory_key, value_key=value_key)
    if value is None:
        raise Http404(f"No value {theory_key}:{value_key}.")
    return value


@researcher_required
def value_intensities(request: HtmxHttpRequest, theory_key: str, value_key: str) -> HttpResponse:
    """GET the whole page, or (htmx) one of its parts: "ranked-items" (search, pages) or "value-live"."""
    value = _value_or_404(theory_key, value_key)
    context: dict[str, Any] = {"value": value, "live": value_has_running_campaign(value=value)}
    target = request.htmx.target if request.htmx else None
    if target is None:
        context["job"] = value_active_refit_job(value=value)
    if target in (None, "ranked-items"):
        context.update(_ranked_items_context(request, value))
    if target in (None, "value-live"):
        context.update(_live_context(value))
    if target == "ranked-items":
        return render(request, f"{TEMPLATE}#ranked-items", context)
    if target == "value-live":
        return render(request, f"{TEMPLATE}#value-live", context)
    return render(request, TEMPLATE, context)


def _ranked_items_context(request: HttpRequest, value: Value) -> dict[str, Any]:
    query = request.GET.get("q", "").strip()[:200]
    page = Paginator(value_ranked_items(value=value, query=query), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "rank": page.start_index() + offset,
            "item": item,
            "excerpt": plots.excerpt(item.text.content),
            "bar": plots.interval_bar(item.intensity, item.ci_low, item.ci_high),
            # value_ranked_items annotates n_judgments; django-stubs loses the annotation through the Paginator
            "unjudged": not item.n_judgments,  # type: ignore[attr-defined]
        }
        for offset, item in enumerate(page.object_list)
    ]
    return {"query": query, "page": page, "item_rows": rows}


def _live_context(value: Value) -> dict[str, Any]:
    pointer = value_published_pointer(value=value)
    history = value_fit_history(value=value)
    succeeded = [fit for fit in history if fit.status == fit.Status.SUCCEEDED and fit.finished_at]
    counts, edges = value_intensity_histogram(value=value)
    return {
        "pointer": pointer,
        "fit": pointer.fit if pointer else None,
        "median_ci_width": fit_median_ci_width(pointer.fit) if pointer else None,
        "recent_fits": list(reversed(history))[:10],
        "histogram": plots.histogram(counts, edges),
        "ci_width_chart": plots.line_chart(
            [(fit.finished_at, fit_median_ci_width(fit)) for fit in succeeded],
            title="Median 95 % interval width (intensity points)",
        ),
        "judgments_chart": plots.line_chart(
            [(fit.finished_at, float(fit.n_judgments)) for fit in succeeded], title="Judgments in the fit"
        ),
        "annotators": value_annotator_agreement(value=value),
    }


@require_POST
@researcher_required
def value_refit(request: HtmxHttpRequest, theory_key: str, value_key: str) -> HttpResponse:
    """"Refit now": start the value's refit job (or hurry the one already waiting) and show its progress."""
    value = _value_or_404(theory_key, value_key)
    job = refit_now(value=value, requested_by=request.user)
    if request.htmx:
        return render(request, f"{TEMPLATE}#refit-status", {"value": value, "job": job})
    messages.success(request, f"Refit of {value.name} started (job #{job.pk}).")
    return redirect("modeling:value_intensities", theory_key=value.theory.key, value_key=value.key)
