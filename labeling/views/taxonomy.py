"""The taxonomy pages: the four theories as trees with a value search and the concept map, and one page per value."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from common.http import HtmxHttpRequest
from labeling.selectors import concept_map, theory_tree_list, value_detail, value_search

# Enough to find a value by any word of its definition; a longer query is cut rather than refused.
MAX_QUERY_LENGTH = 100
MAX_SEARCH_RESULTS = 60


@login_required
def taxonomy(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    results = list(value_search(query=query)[:MAX_SEARCH_RESULTS]) if query else []
    context = {"query": query, "results": results, "max_results": MAX_SEARCH_RESULTS}
    # The search box asks htmx for the results alone; every other request (or no JavaScript) gets the whole page.
    if request.htmx and request.htmx.target == "search-results" and not request.htmx.history_restore_request:
        return render(request, "labeling/taxonomy.html#search-results", context)
    trees = theory_tree_list()
    context |= {"trees": trees, "concept_rows": concept_map(theories=[tree.theory for tree in trees])}
    return render(request, "labeling/taxonomy.html", context)


@login_required
def value_detail_page(request: HttpRequest, theory_key: str, value_key: str) -> HttpResponse:
    value = value_detail(theory_key=theory_key, value_key=value_key)
    if value is None:
        raise Http404(f"No value {value_key!r} in theory {theory_key!r}.")
    return render(request, "labeling/value_detail.html", {"value": value})
