"""HiVES pages for researchers: the versions with their held-out metrics beside the base model and a form to start
training; one version with its live progress and loss curve and the pin switch; and the profile page, which draws
the value profile of one text or a group of texts."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from modeling.models import EmbeddingModel
from modeling.services.hives import (
    METRIC_NAMES,
    hives_base_version_create,
    hives_training_defaults,
    hives_training_start,
    hives_version_get,
    hives_version_list,
    hives_version_pin,
    primary_metric,
)
from modeling.services.profiling import DEFAULT_TOP, MAX_TEXT_CHARS, MAX_TEXTS, profile_texts

# Width and height of the loss-curve and profile drawings, in SVG user units.
CURVE_WIDTH, CURVE_HEIGHT = 600, 180
BAR_WIDTH = 260


class TrainForm(forms.Form):
    stage1_epochs = forms.FloatField(
        min_value=0.05, max_value=50, label="Stage 1 epochs",
        help_text="Passes over the labelled texts with the hierarchical contrastive loss.",
    )
    stage2_steps = forms.IntegerField(
        min_value=0, max_value=100000, label="Stage 2 steps",
        help_text="Cross-theory alignment steps (individual anchors and concepts) after Stage 1; 0 skips Stage 2.",
    )
    tau = forms.FloatField(
        min_value=0.01, max_value=2.0, label="Temperature τ",
        help_text="Stage 1 temperature (the paper's 0.1). On Touché23 with the small default encoder, 0.3 learned "
        "more than 0.1 or 0.5 in the same epochs (docs/benchmarks.md).",
    )
    train_layers = forms.IntegerField(
        min_value=0, max_value=64, label="Layers to train",
        help_text="Train only the top N transformer layers (0: all). Fewer layers train faster on a CPU.",
    )
    held_out_fraction = forms.FloatField(
        min_value=0.05, max_value=0.5, label="Held-out share",
        help_text="Texts kept out of training to measure the new version, the base model and the version in use.",
    )
    seed = forms.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="Leave empty for a random seed (it is recorded)."
    )
    base_model = forms.CharField(
        max_length=300, required=False, label="Base model",
        help_text="A local model folder or a cached model name; empty: the platform's default (all-MiniLM-L6-v2).",
    )

    # The settings the form sends with each run; they start at the training jobs' defaults.
    SETTINGS = ("stage1_epochs", "stage2_steps", "tau", "train_layers", "held_out_fraction")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        defaults = hives_training_defaults()
        for name in self.SETTINGS:
            self.fields[name].initial = defaults[name]

    def hyperparameters(self) -> dict[str, Any]:
        data = self.cleaned_data
        chosen = {key: data[key] for key in self.SETTINGS}
        if data.get("seed") is not None:
            chosen["seed"] = data["seed"]
        return chosen


class ProfileForm(forms.Form):
    texts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=f"One text per line (at most {MAX_TEXTS}). Two or more texts also give a group profile.",
    )
    top = forms.IntegerField(min_value=1, max_value=20, initial=DEFAULT_TOP, label="Values per theory")

    def clean_texts(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["texts"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError("Write at least one text.")
        if len(lines) > MAX_TEXTS:
            raise forms.ValidationError(f"At most {MAX_TEXTS} texts at once; you gave {len(lines)}.")
        too_long = [i for i, line in enumerate(lines, start=1) if len(line) > MAX_TEXT_CHARS]
        if too_long:
            raise forms.ValidationError(f"Line {too_long[0]} is longer than {MAX_TEXT_CHARS:,} characters.")
        return lines


def _version_or_404(version_id: int) -> EmbeddingModel:
    try:
        return hives_version_get(version_id=version_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from None


def _metric_rows(version: EmbeddingModel) -> list[dict[str, Any]]:
    """Rows of the metrics table: the version, the base model, and their difference."""
    rows = []
    names = [*METRIC_NAMES, "knn_acc.level_1", "knn_acc.level_2", "knn_acc.level_3"]
    for name in names:
        tuned, base = _lookup(version.metrics, name), _lookup(version.base_metrics, name)
        delta = tuned - base if isinstance(tuned, float) and isinstance(base, float) else None
        rows.append({"name": name, "tuned": tuned, "base": base, "delta": delta})
    return rows


def _lookup(metrics: dict[str, Any], dotted: str) -> float | None:
    value: Any = metrics
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _loss_curve_points(curve: list[list[float]]) -> dict[str, Any] | None:
    """The loss curve as an SVG polyline (points string) with its axis labels; None before the first step."""
    if not curve:
        return None
    # Thin long curves to about 300 points: the drawing is 600 units wide.
    stride = max(1, len(curve) // 300)
    points = curve[::stride] + ([curve[-1]] if (len(curve) - 1) % stride else [])
    steps = [p[0] for p in points]
    losses = [p[1] for p in points]
    low, high = min(losses), max(losses)
    span = (high - low) or 1.0
    last_step = max(steps[-1], 1)
    coords = " ".join(
        f"{CURVE_WIDTH * step / last_step:.1f},{CURVE_HEIGHT - 10 - (CURVE_HEIGHT - 20) * (loss - low) / span:.1f}"
        for step, loss in zip(steps, losses, strict=True)
    )
    return {"points": coords, "low": low, "high": high, "last_step": curve[-1][0], "last_loss": curve[-1][1]}


@researcher_required
def hives_version_list_view(request: HtmxHttpRequest) -> HttpResponse:
    """GET: versions and the train form. POST: start a training run (or, with `use_base`, embed with the untuned
    base model so profiling works before any training)."""
    status = 200
    form = TrainForm()
    if request.method == "POST":
        if request.POST.get("use_base"):
            try:
                version, _job = hives_base_version_create(created_by=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return redirect("modeling:hives_version_list")
            messages.success(request, f"{version.name} is being embedded; it is used until a trained version exists.")
            return redirect("modeling:hives_version_detail", version_id=version.pk)
        form = TrainForm(request.POST)
        if form.is_valid():
            try:
                version = hives_training_start(
                    created_by=request.user,
                    hyperparameters=form.hyperparameters(),
                    base_model=form.cleaned_data["base_model"],
                    reason=f"started from the HiVES page by {request.user.get_username()}",
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{version.name} is training.")
                url = reverse("modeling:hives_version_detail", args=[version.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        status = 422
        if request.htmx:
            return render(request, "modeling/hives_versions.html#train-form", {"form": form}, status=status)
    metric = primary_metric()
    versions = list(hives_version_list()[:200])
    for version in versions:  # the table shows the primary metric, whichever it is
        version.primary_value = _lookup(version.metrics, metric)  # type: ignore[attr-defined]
        version.base_primary_value = _lookup(version.base_metrics, metric)  # type: ignore[attr-defined]
    context = {"form": form, "versions": versions, "primary_metric": metric}
    return render(request, "modeling/hives_versions.html", context, status=status)


@researcher_required
def hives_version_detail(request: HtmxHttpRequest, version_id: int) -> HttpResponse:
    version = _version_or_404(version_id)
    context = {
        "version": version,
        "metric_rows": _metric_rows(version),
        "curve": _loss_curve_points(version.loss_curve),
        "curve_width": CURVE_WIDTH,
        "curve_height": CURVE_HEIGHT,
        "promotion": version.metrics.get("promotion"),
        "judge": sorted(version.metrics.get("judge", {}).items()),
        "primary_metric": primary_metric(),
    }
    if request.htmx:  # the live part polls itself while the version trains
        return render(request, "modeling/hives_version.html#live", context)
    return render(request, "modeling/hives_version.html", context)


@researcher_required
@require_POST
def hives_version_pin_view(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version_or_404(version_id)
    pinned = request.POST.get("pinned", "1") not in {"0", "false"}
    try:
        job = hives_version_pin(version=version, pinned=pinned, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if not pinned:
            messages.success(request, f"{version.name} is no longer pinned; a better version may replace it.")
        elif job is not None:
            messages.info(request, f"{version.name} is pinned; it is used once every text is embedded with it.")
        else:
            messages.success(request, f"{version.name} is pinned and in use.")
    return redirect("modeling:hives_version_detail", version_id=version.pk)


ROW_HEIGHT, LABEL_WIDTH = 28, 220


def _theory_drawing(key: str, name: str, scores: list[Any], *, prefix: str) -> dict[str, Any]:
    """Geometry of one theory's profile drawing: per value a bar from the centre of a [−10, 10] axis, or — for a
    value without an intensity estimate — a similarity bar from the left edge."""
    half = BAR_WIDTH / 2
    bars = []
    for row, score in enumerate(scores):
        if score.intensity is not None:
            length = half * min(abs(score.intensity), 10.0) / 10.0
            x = half if score.intensity >= 0 else half - length
        else:
            length, x = BAR_WIDTH * max(0.0, score.similarity), 0.0
        bars.append(
            {"score": score, "x": round(x, 1), "width": round(max(length, 1.0), 1), "y": row * ROW_HEIGHT + 7,
             "text_y": row * ROW_HEIGHT + 19}
        )
    return {
        "key": key,
        "name": name,
        "id": f"{prefix}-{key}",
        "bars": bars,
        "height": max(1, len(scores)) * ROW_HEIGHT,
        "width": BAR_WIDTH + LABEL_WIDTH,
        "axis_x": half,
        "label_x": BAR_WIDTH + 10,
    }


@researcher_required
def profile_view(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the form. POST: the profile of the texts, drawn per theory (htmx: only the result is swapped in)."""
    form = ProfileForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                profile = profile_texts(texts=form.cleaned_data["texts"], top=form.cleaned_data["top"])
            except ApplicationError as exc:  # e.g. no HiVES version in use yet
                form.add_error(None, exc.message)
                status = 422
            else:
                context["profile"] = profile
                names = profile.theory_names
                context["text_drawings"] = [
                    {
                        "text": text.text,
                        "theories": [
                            _theory_drawing(key, names.get(key, key), scores, prefix=f"text{number}")
                            for key, scores in text.theories.items()
                        ],
                    }
                    for number, text in enumerate(profile.texts, start=1)
                ]
                if profile.group is not None:
                    context["group_drawing"] = [
                        _theory_drawing(key, names.get(key, key), scores, prefix="group")
                        for key, scores in profile.group.items()
                    ]
        else:
            status = 422
        if request.htmx:
            return render(request, "modeling/profile.html#result", context, status=status)
    return render(request, "modeling/profile.html", context, status=status)
