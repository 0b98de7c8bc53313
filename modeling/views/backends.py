"""Admin pages for model backends: the list (with each backend's key variable shown as set or missing, never its
value), the create and edit forms, and a "test connection" action that runs as a job with a live progress bar."""

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import admin_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from common.selectors import job_list_visible_to
from modeling.ml.llm.smollm import SMOLLM2_MODEL_ID
from modeling.models import ModelBackend
from modeling.services.backends import (
    GENERATION_KEYS,
    backend_api_key_is_set,
    backend_create,
    backend_get,
    backend_list,
    backend_test_start,
    backend_update,
)


class BackendForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=ModelBackend.Kind.choices, initial=ModelBackend.Kind.LOCAL)
    model = forms.CharField(
        max_length=300,
        initial=SMOLLM2_MODEL_ID,
        help_text=f"Local: a model folder, a cached model id, or {SMOLLM2_MODEL_ID} (the packaged offline default). "
        "Endpoint: the model name the server serves.",
    )
    gguf_file = forms.CharField(
        max_length=300, required=False, label="GGUF file", help_text="Local only: a .gguf file inside the model folder."
    )
    endpoint_url = forms.CharField(
        max_length=200, required=False, label="Endpoint URL",
        help_text="Endpoint only, e.g. http://gpu-box:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama).",
    )
    api_key_env = forms.CharField(
        max_length=100, required=False, label="API key variable",
        help_text="The NAME of the environment variable that holds the key on the workers, e.g. OPENAI_API_KEY. "
        "The key itself is never stored or shown.",
    )
    max_concurrency = forms.IntegerField(min_value=1, max_value=256, initial=4, help_text="Requests in flight at once.")
    timeout_s = forms.FloatField(min_value=0.1, max_value=3600, initial=60, label="Timeout (s)")
    max_retries = forms.IntegerField(min_value=0, max_value=20, initial=3, help_text="After timeouts and 5xx answers.")
    generation = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Generation settings (JSON)",
        help_text="Optional: " + ", ".join(f"{key} ({meaning})" for key, (_, _, _, meaning) in GENERATION_KEYS.items()),
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_generation(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("generation") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Write a JSON object, e.g. {"temperature": 0.7}.')
        return value

    def apply_error(self, error: ApplicationError) -> None:
        """Show a service's refusal next to the field it names."""
        field = error.extra.get("field")
        self.add_error(field if field in self.fields else None, error.message)


def _initial(backend: ModelBackend) -> dict[str, Any]:
    initial = {field: getattr(backend, field) for field in BackendForm.base_fields if field != "generation"}
    initial["generation"] = json.dumps(backend.generation) if backend.generation else ""
    return initial


@admin_required
def backend_list_view(request: HttpRequest) -> HttpResponse:
    """The backends; with `?job=<id>` (a connection test started without htmx) that test's progress bar too."""
    rows = [{"backend": backend, "key_set": backend_api_key_is_set(backend)} for backend in backend_list()]
    job = None
    job_id = request.GET.get("job", "")
    if job_id.isdigit():
        job = job_list_visible_to(user=request.user).filter(pk=int(job_id)).first()
    return render(request, "modeling/backend_list.html", {"rows": rows, "job": job})


@admin_required
def backend_create_view(request: HttpRequest) -> HttpResponse:
    form = BackendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            backend = backend_create(**form.cleaned_data, created_by=request.user)
        except ApplicationError as exc:
            form.apply_error(exc)
        else:
            messages.success(request, f"Backend “{backend.name}” is saved. Test its connection before using it.")
            return redirect("modeling:backend_list")
    status = 422 if request.method == "POST" else 200
    return render(request, "modeling/backend_form.html", {"form": form, "backend": None}, status=status)


@admin_required
def backend_edit_view(request: HttpRequest, backend_id: int) -> HttpResponse:
    backend = _get_backend(backend_id)
    form = BackendForm(request.POST or None, initial=_initial(backend))
    if request.method == "POST" and form.is_valid():
        try:
            backend_update(backend=backend, **form.cleaned_data)
        except ApplicationError as exc:
            form.apply_error(exc)
        else:
            messages.success(request, f"Backend “{backend.name}” is updated.")
            return redirect("modeling:backend_list")
    status = 422 if request.method == "POST" else 200
    context = {"form": form, "backend": backend, "key_set": backend_api_key_is_set(backend)}
    return render(request, "modeling/backend_form.html", context, status=status)


@admin_required
@require_POST
def backend_test_view(request: HtmxHttpRequest, backend_id: int) -> HttpResponse:
    """Start a connection test; htmx gets the job's progress bar in place, other browsers the list with it."""
    backend = _get_backend(backend_id)
    job = backend_test_start(backend=backend, user=request.user)
    if request.htmx:
        return render(request, "components/_job_progress.html", {"job": job})
    return redirect(f"{reverse('modeling:backend_list')}?job={job.pk}#backend-{backend.pk}")


def _get_backend(backend_id: int) -> ModelBackend:
    try:
        return backend_get(backend_id=backend_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from None
