"""Query set pages: researchers and admins read the sets and their questions; admins import a CSV file, load the
default set and delete sets no evaluation uses."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import admin_required, researcher_required
from common.exceptions import ApplicationError
from modeling.models import QuerySet
from modeling.services.query_sets import (
    DEFAULT_QUERY_SET_NAME,
    MAX_QUERY_CHARS,
    MAX_QUERY_FILE_BYTES,
    query_set_delete,
    query_set_get,
    query_set_import,
    query_set_list,
    query_set_load_default,
)


class QuerySetImportForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8 CSV with a 'query' column, one question per row (at most {MAX_QUERY_CHARS} characters). "
        "Other columns are ignored. Any problem rejects the whole file.",
    )

    def clean_file(self):  # type: ignore[no-untyped-def]
        upload = self.cleaned_data["file"]
        if upload.size > MAX_QUERY_FILE_BYTES:
            raise forms.ValidationError(f"The file is {upload.size:,} bytes; the limit is {MAX_QUERY_FILE_BYTES:,}.")
        return upload


@researcher_required
def query_set_list_view(request: HttpRequest) -> HttpResponse:
    """GET: the sets, with the import form for admins. POST (admins): import a CSV file."""
    form = QuerySetImportForm()
    status = 200
    if request.method == "POST":
        if not (request.user.is_authenticated and request.user.is_platform_admin):
            raise PermissionDenied("Only admins may import query sets.")
        form = QuerySetImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                query_set = query_set_import(
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    data=upload.read(),
                    file_name=upload.name,
                    created_by=request.user,
                )
            except ApplicationError as exc:
                if exc.extra.get("field") == "name":
                    form.add_error("name", exc.message)
                else:  # one line per problem, so a long list stays readable
                    lines = exc.message.split("\n")
                    form.add_error("file", forms.ValidationError(lines))
            else:
                messages.success(request, f"Imported {query_set.queries.count()} queries into “{query_set.name}”.")
                return redirect("modeling:query_set_detail", query_set_id=query_set.pk)
        status = 422
    context = {
        "form": form,
        "query_sets": query_set_list(),
        "default_name": DEFAULT_QUERY_SET_NAME,
        "default_loaded": QuerySet.objects.filter(name=DEFAULT_QUERY_SET_NAME).exists(),
    }
    return render(request, "modeling/query_set_list.html", context, status=status)


@researcher_required
def query_set_detail_view(request: HttpRequest, query_set_id: int) -> HttpResponse:
    query_set = _get_query_set(query_set_id)
    return render(
        request, "modeling/query_set_detail.html", {"query_set": query_set, "queries": query_set.queries.all()}
    )


@admin_required
@require_POST
def query_set_load_default_view(request: HttpRequest) -> HttpResponse:
    query_set, created = query_set_load_default(created_by=request.user)
    if created:
        messages.success(request, f"Loaded the default set “{query_set.name}”.")
    else:
        messages.info(request, f"The default set “{query_set.name}” was already loaded.")
    return redirect("modeling:query_set_detail", query_set_id=query_set.pk)


@admin_required
@require_POST
def query_set_delete_view(request: HttpRequest, query_set_id: int) -> HttpResponse:
    query_set = _get_query_set(query_set_id)
    try:
        query_set_delete(query_set=query_set)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("modeling:query_set_detail", query_set_id=query_set.pk)
    messages.success(request, f"Deleted query set “{query_set.name}”.")
    return redirect("modeling:query_set_list")


def _get_query_set(query_set_id: int) -> QuerySet:
    try:
        return query_set_get(query_set_id=query_set_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from None
