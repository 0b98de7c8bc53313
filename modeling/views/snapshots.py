"""Snapshot pages for researchers: the list with a form to freeze values, one snapshot's manifest with its
downloads (single files or a zip, every download audit-logged), and the comparison of two snapshots."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from accounts.permissions import researcher_required
from common.exceptions import ApplicationError
from common.http import HtmxHttpRequest
from labeling.models import Value
from modeling.models import Snapshot
from modeling.services.snapshots import (
    actor_label,
    snapshot_candidate_values,
    snapshot_create,
    snapshot_diff,
    snapshot_file_open,
    snapshot_get,
    snapshot_list,
    snapshot_zip_build,
    snapshot_zip_name,
)


class PublishedValueChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Value) -> str:
        fit = obj.published_fit.fit
        return f"{obj.name} ({obj.qualified_key}) — fit #{fit.pk}, {fit.n_items:,} items, {fit.n_judgments:,} judgments"


class SnapshotCreateForm(forms.Form):
    values = PublishedValueChoiceField(
        queryset=Value.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Each value's published fit is frozen as it is now. Only values with a published fit are listed.",
    )
    name = forms.CharField(max_length=200, help_text="For people; the content hash identifies the snapshot.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["values"].queryset = snapshot_candidate_values()  # type: ignore[attr-defined]


def _get_snapshot(snapshot_id: int) -> Snapshot:
    snapshot = Snapshot.objects.select_related("created_by", "parent").filter(pk=snapshot_id).first()
    if snapshot is None:
        raise Http404(f"No snapshot has id {snapshot_id}.")
    return snapshot


@researcher_required
def snapshot_list_view(request: HtmxHttpRequest) -> HttpResponse:
    """GET: snapshots, newest first, with the create form. POST: freeze the chosen values (htmx: the form comes
    back with its errors, status 422, or the browser is sent to the new snapshot)."""
    status = 200
    if request.method == "POST":
        form = SnapshotCreateForm(request.POST)
        if form.is_valid():
            started = timezone.now()
            try:
                snapshot = snapshot_create(
                    value_ids=[value.pk for value in form.cleaned_data["values"]],
                    name=form.cleaned_data["name"],
                    created_by=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if snapshot.created_at < started:
                    messages.info(
                        request,
                        f"Nothing changed since snapshot “{snapshot.name}”: the same content has the same hash, so "
                        "here it is.",
                    )
                else:
                    messages.success(request, f"Snapshot “{snapshot.name}” is frozen.")
                url = reverse("modeling:snapshot_detail", args=[snapshot.pk])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        status = 422
        if request.htmx:
            return render(request, "modeling/snapshot_list.html#create-form", {"form": form}, status=status)
    else:
        form = SnapshotCreateForm()
    snapshots = list(snapshot_list()[:200])
    return render(request, "modeling/snapshot_list.html", {"form": form, "snapshots": snapshots}, status=status)


@researcher_required
def snapshot_detail(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    snapshot = _get_snapshot(snapshot_id)
    manifest = snapshot.manifest
    context = {
        "snapshot": snapshot,
        "manifest": manifest,
        "values": manifest.get("values", []),
        "files": manifest.get("files", []),
        "children": snapshot.children.order_by("-created_at"),
    }
    return render(request, "modeling/snapshot_detail.html", context)


@researcher_required
def snapshot_download(request: HttpRequest, snapshot_id: int, filename: str) -> HttpResponse | FileResponse:
    snapshot = _get_snapshot(snapshot_id)
    try:
        path = snapshot_file_open(snapshot=snapshot, filename=filename, actor=actor_label(request.user))
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from None
        return HttpResponseBadRequest(exc.message, content_type="text/plain; charset=utf-8")
    # FileResponse closes the file when the response is done.
    return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)  # noqa: SIM115


@researcher_required
def snapshot_download_zip(request: HttpRequest, snapshot_id: int) -> FileResponse:
    snapshot = _get_snapshot(snapshot_id)
    try:
        archive = snapshot_zip_build(snapshot=snapshot, actor=actor_label(request.user))
    except ApplicationError as exc:
        raise Http404(exc.message) from None
    return FileResponse(archive, as_attachment=True, filename=f"{snapshot_zip_name(snapshot)}.zip")


@researcher_required
def snapshot_diff_view(request: HttpRequest) -> HttpResponse:
    """`?a=<old>&b=<new>`, each an id or a content hash (prefix); without both, the form alone."""
    refs = {side: request.GET.get(side, "").strip() for side in ("a", "b")}
    chosen: dict[str, Snapshot] = {}
    errors = []
    for side, ref in refs.items():
        if not ref:
            continue
        try:
            chosen[side] = snapshot_get(ref=ref)
        except ApplicationError as exc:
            errors.append(f"{'Old' if side == 'a' else 'New'} snapshot: {exc.message}")
    diff = None
    if len(chosen) == 2:
        try:
            diff = snapshot_diff(old=chosen["a"], new=chosen["b"])
        except ApplicationError as exc:  # a snapshot whose files went missing from the media folder
            errors.append(exc.message)
    context = {"snapshots": snapshot_list()[:200], "refs": refs, "chosen": chosen, "errors": errors, "diff": diff}
    return render(request, "modeling/snapshot_diff.html", context, status=400 if errors else 200)
