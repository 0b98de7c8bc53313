"""The budget planner page: a researcher enters pool size, protocol, expected noise and a target (or picks a
campaign), a simulation job finds the judgments needed, and the page shows the answer — for a running campaign also
its projected completion and the judgments adaptive selection saved."""

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from common.selectors import job_list_visible_to
from labeling.models import Campaign
from modeling.ml.planning import NOISE_SPREADS, PROTOCOL_SIZES
from modeling.services.planner import (
    BUDGET_PLAN_JOB_KIND,
    budget_plan_start,
    campaign_plan_defaults,
    plan_settings_build,
)

TEMPLATE = "modeling/planner.html"
NOISE_CHOICES = [
    ("low", "Low — annotators agree with the true order on ~92 % of random pairs"),
    ("moderate", "Moderate — ~85 % (the VALUEFLOW paper's LLM–human agreement)"),
    ("high", "High — ~75 %"),
]


class PlannerForm(forms.Form):
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.exclude(status=Campaign.Status.FINISHED).order_by("name"),
        required=False,
        help_text="Optional: plan for a campaign's pool and protocol; a running one also gets its projection.",
    )
    n_items = forms.IntegerField(min_value=3, required=False, label="Texts in the pool")
    protocol = forms.ChoiceField(choices=Campaign.Protocol.choices, initial=Campaign.Protocol.PAIRWISE)
    k = forms.IntegerField(min_value=2, max_value=8, initial=2, label="Texts per comparison",
                           help_text="2 for pairs, 3–8 for lists, 4–6 for best–worst.")
    noise = forms.ChoiceField(choices=NOISE_CHOICES, initial="moderate", label="Expected noise")
    target_ci_width = forms.FloatField(min_value=0.1, max_value=20, required=False,
                                       label="Target median 95 % interval (intensity points)")
    target_spearman = forms.FloatField(min_value=0.01, max_value=0.999, required=False,
                                       label="Target Spearman with the truth")
    spam_share = forms.FloatField(min_value=0, max_value=0.9, initial=0.0, required=False,
                                  label="Share of spam answers")
    seeds = forms.IntegerField(min_value=1, max_value=10, initial=3, label="Simulations per budget")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        campaign = data.get("campaign")
        if campaign is not None:
            defaults = campaign_plan_defaults(campaign=campaign)
            data.update(n_items=defaults["n_items"], protocol=defaults["protocol"], k=defaults["k"])
            if data.get("target_ci_width") is None and data.get("target_spearman") is None:
                data["target_ci_width"] = defaults["target_ci_width"]
        elif data.get("n_items") is None:
            self.add_error("n_items", "Give the number of texts, or choose a campaign.")
        if data.get("target_ci_width") is None and data.get("target_spearman") is None:
            self.add_error(None, "Give a target: an interval width, a Spearman correlation, or both.")
        protocol, k = data.get("protocol"), data.get("k")
        if protocol in PROTOCOL_SIZES and k is not None and k not in PROTOCOL_SIZES[protocol]:
            sizes = PROTOCOL_SIZES[protocol]
            self.add_error("k", f"{Campaign.Protocol(protocol).label} compares {sizes.start}–{sizes.stop - 1} texts.")
        return data


def _plan_job(request: HttpRequest) -> Any:
    job_id = request.GET.get("job", "")
    if not job_id.isdigit():
        return None
    return job_list_visible_to(user=request.user).filter(pk=int(job_id), kind=BUDGET_PLAN_JOB_KIND).first()


@researcher_required
def planner(request: HtmxHttpRequest) -> HttpResponse:
    """GET the form (and, with ?job=<id>, that plan's progress or result); POST starts a plan."""
    if request.method == "POST":
        form = PlannerForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                settings = plan_settings_build(
                    n_items=data["n_items"], protocol=data["protocol"], k=data["k"], noise=data["noise"],
                    target_ci_width=data.get("target_ci_width"), target_spearman=data.get("target_spearman"),
                    spam_share=data.get("spam_share") or 0.0, seeds=data["seeds"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                job = budget_plan_start(settings=settings, requested_by=request.user, campaign=data.get("campaign"))
                return redirect(f"{reverse('modeling:planner')}?job={job.pk}")
        return render(request, TEMPLATE, {"form": form, "noise_spreads": NOISE_SPREADS}, status=422)
    job = _plan_job(request)
    initial: dict[str, Any] = {}
    if job is not None:
        settings = job.params.get("settings", {})
        initial = {key: settings.get(key) for key in ("n_items", "protocol", "k", "target_ci_width", "target_spearman",
                                                      "spam_share", "seeds")}
        initial["campaign"] = job.params.get("campaign_id")
        initial["noise"] = next((name for name, spread in NOISE_SPREADS.items() if spread == settings.get("spread")),
                                "moderate")
    elif request.GET.get("campaign", "").isdigit():
        initial["campaign"] = int(request.GET["campaign"])
    context = {"form": PlannerForm(initial=initial or None), "job": job, "result": job.result if job else None}
    if request.htmx and request.htmx.target == "plan-result":
        return render(request, f"{TEMPLATE}#plan-result", context)
    return render(request, TEMPLATE, context)
