"""The text browser: researchers search texts, filter them by value pool, and open one to see its pools."""

import json

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import researcher_required
from common.http import HtmxHttpRequest
from labeling.models import Text
from labeling.selectors import pooled_value_list, text_get, text_list, value_get_by_qualified_key

TEXTS_PER_PAGE = 25


@researcher_required
def text_list_view(request: HtmxHttpRequest) -> HttpResponse:
    """`?q=` searches the content, `?value=theory:key` keeps one pool, `?page=` pages; htmx gets the results only."""
    q = request.GET.get("q", "").strip()
    value_key = request.GET.get("value", "").strip()
    value, value_error = None, ""
    if value_key:
        try:
            value = value_get_by_qualified_key(qualified_key=value_key)
        except LookupError as exc:
            value_error = f"No such value filter: {exc.args[0] if exc.args else exc}."
    texts = text_list(q=q, value=value) if not value_error else Text.objects.none()
    page = Paginator(texts, TEXTS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "value": value,
        "value_key": value.qualified_key if value else value_key,
        "value_error": value_error,
        "values": pooled_value_list(),
    }
    template = "labeling/text_list.html#text-results" if request.htmx else "labeling/text_list.html"
    return render(request, template, context)


@researcher_required
def text_detail(request: HttpRequest, text_id: int) -> HttpResponse:
    try:
        text = text_get(text_id=text_id)
    except Text.DoesNotExist:
        raise Http404(f"No text has id {text_id}.") from None
    # Metadata comes from many sources; nested values (e.g. Touché's other arguments) are shown as JSON.
    metadata = [
        (key, item, False) if isinstance(item, str) else (key, json.dumps(item, indent=2, ensure_ascii=False), True)
        for key, item in text.metadata.items()
    ]
    return render(request, "labeling/text_detail.html", {"text": text, "metadata": metadata})
