"""The import page: researchers upload files, watch the import job's progress bar, and see recent imports."""

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse

from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from common.selectors import job_list_visible_to
from labeling.selectors import import_record_list
from labeling.services.imports import FORMATS, import_upload_start


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files at once (Django's FileField takes one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        clean_one = super().clean
        files = data if isinstance(data, list | tuple) else [data]
        cleaned = [clean_one(item, initial) for item in files if item]
        if not cleaned:
            raise forms.ValidationError("Choose at least one file.", code="required")
        return cleaned


class ImportUploadForm(forms.Form):
    format = forms.ChoiceField(
        choices=[(key, key) for key in FORMATS],
        help_text=" · ".join(f"{key}: {description}" for key, description in FORMATS.items()),
    )
    # named like BaseForm.files (the request's files): the form metaclass moves declared fields into base_fields,
    # so the field does not replace that attribute
    files = MultipleFileField(  # type: ignore[assignment]
        help_text=f"One or more files of the chosen format, each at most "
        f"{filesizeformat(settings.VALUEFLOW_MAX_IMPORT_BYTES)}. Touché23: upload arguments-… and labels-… together."
    )


@researcher_required
def import_upload(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the form, the progress of `?job=<id>` and recent imports. POST: store the files and start the job."""
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                started = import_upload_start(
                    format=form.cleaned_data["format"], files=form.cleaned_data["files"], user=request.user
                )
            except ApplicationError as exc:
                for problem in exc.extra.get("problems") or [exc.message]:
                    form.add_error(None, problem)
            else:
                return redirect(f"{reverse('labeling:import_upload')}?job={started.pk}")
    else:
        form = ImportUploadForm()

    job = None
    job_id = request.GET.get("job", "")
    if job_id.isdigit():
        job = job_list_visible_to(user=request.user).filter(pk=int(job_id)).first()
    context = {
        "form": form,
        "job": job,
        "records": import_record_list()[:20],
        "formats": FORMATS,
        "max_bytes": settings.VALUEFLOW_MAX_IMPORT_BYTES,
    }
    # The records table polls this page while the job runs (htmx GET): answer with the table alone.
    template = "labeling/import_upload.html#import-records" if request.htmx and request.method == "GET" else (
        "labeling/import_upload.html"
    )
    return render(request, template, context)
