"""The taxonomy page (trees, search with and without htmx, concept map) and the value page, as annotators see them."""

import re

import pytest
from django.urls import reverse

from labeling.models import PoolItem, Text, Value
from labeling.services.taxonomy import taxonomy_load


@pytest.fixture
def taxonomy(db) -> None:
    taxonomy_load()


def _search_results(html: str) -> list[str]:
    """Links of the search results, in order."""
    return re.findall(r'data-testid="search-result">\s*<a href="([^"]+)"', html)


def test_the_taxonomy_page_shows_the_four_theories_with_their_targets_marked(taxonomy, annotator_client,
                                                                             django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        response = annotator_client.get(reverse("labeling:taxonomy"))

    assert response.status_code == 200
    html = response.content.decode()
    for key in ("svt", "mft", "duties", "rights"):
        assert f'id="theory-{key}"' in html
    marked = set(re.findall(r'<li class="is-target">\s*<a href="([^"]+)"', html))
    targets = {reverse("labeling:value_detail", args=[v.theory.key, v.key])
               for v in Value.objects.filter(is_target=True).select_related("theory")}
    assert marked == targets and len(targets) == 32
    # A value with two parents is listed under both.
    assert html.count(f'href="{reverse("labeling:value_detail", args=["svt", "hedonism"])}"') >= 2
    assert html.count('data-testid="concept-row"') >= 45


def test_searching_without_javascript_lists_matching_values(taxonomy, annotator_client):
    response = annotator_client.get(reverse("labeling:taxonomy"), {"q": "environment"})

    results = _search_results(response.content.decode())
    assert "/taxonomy/svt/universalism-nature/" in results
    assert "/taxonomy/rights/environment/" in results
    assert "/taxonomy/duties/fidelity/" not in results
    assert 'id="theory-svt"' in response.content.decode()  # the whole page, with the search filled in
    assert 'value="environment"' in response.content.decode()


def test_the_search_box_gets_only_the_results_over_htmx(taxonomy, annotator_client):
    response = annotator_client.get(
        reverse("labeling:taxonomy"), {"q": "Objectivity"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="search-results"
    )

    html = response.content.decode()
    assert "<html" not in html and 'id="theory-svt"' not in html
    assert html.lstrip().startswith('<div id="search-results"')
    assert _search_results(html) == ["/taxonomy/svt/universalism-objectivity/"]


def test_a_search_without_matches_says_so(taxonomy, annotator_client):
    response = annotator_client.get(reverse("labeling:taxonomy"), {"q": "zzzz-no-such-value"})
    assert _search_results(response.content.decode()) == []
    assert "0 values match" in response.content.decode()


def test_the_value_page_shows_definition_level_parents_children_concepts_and_pool_size(taxonomy, annotator_client):
    hedonism = Value.objects.get(theory__key="svt", key="hedonism")
    text = Text.objects.create(content="A day at the beach, just for fun.", content_hash="h1")
    PoolItem.objects.create(value=hedonism, text=text)

    response = annotator_client.get(reverse("labeling:value_detail", args=["svt", "hedonism"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert hedonism.definition.replace("'", "&#x27;") in html
    assert re.search(r'data-testid="value-level">3\b', html)
    assert 'data-testid="pool-size">1 text<' in html
    parents = re.search(r'data-testid="parents">(.*?)</ul>', html, re.S).group(1)
    assert "/taxonomy/svt/openness-to-change/" in parents and "/taxonomy/svt/self-enhancement/" in parents
    assert "Enjoyment of life" in html and "/taxonomy/rights/cultural-life/" in html
    assert 'data-testid="target-badge"' in html


def test_a_parent_value_lists_its_children(taxonomy, annotator_client):
    html = annotator_client.get(reverse("labeling:value_detail", args=["mft", "care-harm"])).content.decode()
    children = re.search(r'data-testid="children">(.*?)</ul>', html, re.S).group(1)
    assert re.findall(r'href="/taxonomy/mft/([^/]+)/"', children) == ["caring", "kindness", "compassion", "gentleness"]


@pytest.mark.parametrize(("theory", "value"), [("svt", "no-such-value"), ("nope", "hedonism"), ("mft", "hedonism")])
def test_an_unknown_value_is_not_found(taxonomy, annotator_client, theory, value):
    assert annotator_client.get(reverse("labeling:value_detail", args=[theory, value])).status_code == 404


@pytest.mark.parametrize("url", [reverse("labeling:taxonomy"), reverse("labeling:value_detail", args=["svt", "power"])])
def test_anonymous_visitors_are_sent_to_log_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
