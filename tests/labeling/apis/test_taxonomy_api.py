"""The read-only taxonomy API: theories with nested trees, value search, one value, concepts."""

import pytest
from django.urls import reverse

from labeling.services.taxonomy import taxonomy_load


@pytest.fixture
def taxonomy(db) -> None:
    taxonomy_load()


def _find(nodes: list[dict], key: str) -> dict:
    for node in nodes:
        if node["key"] == key:
            return node
    raise AssertionError(f"{key} not among {[node['key'] for node in nodes]}")


def test_theories_come_with_their_value_trees(taxonomy, annotator_api, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        response = annotator_api.get(reverse("api-theory-list"))

    assert response.status_code == 200
    theories = response.json()
    assert [t["key"] for t in theories] == ["svt", "mft", "duties", "rights"]
    assert [(t["key"], t["target_count"]) for t in theories] == [("svt", 12), ("mft", 6), ("duties", 7), ("rights", 7)]
    svt = theories[0]
    assert [root["key"] for root in svt["values"]] == ["growth", "self-protection"]
    openness = _find(_find(svt["values"], "growth")["children"], "openness-to-change")
    hedonism = _find(openness["children"], "hedonism")
    assert hedonism == {**hedonism, "level": 3, "is_target": True, "children": []}
    assert hedonism["definition"]
    self_direction = _find(openness["children"], "self-direction")
    assert [c["key"] for c in self_direction["children"]] == ["self-direction-thought", "self-direction-action"]
    assert [v["key"] for v in theories[2]["values"]] == [
        "fidelity", "reparation", "gratitude", "justice", "beneficence", "self-improvement", "non-maleficence"]


def test_values_filter_by_theory_alias_target_and_query(taxonomy, annotator_api):
    url = reverse("api-value-list")

    svt_targets = annotator_api.get(url, {"theory": "pvq", "target": "true"}).json()
    assert len(svt_targets) == 12 and {v["theory"] for v in svt_targets} == {"svt"}
    hedonism = next(v for v in svt_targets if v["key"] == "hedonism")
    assert hedonism == {**hedonism, "qualified_key": "svt:hedonism", "level": 3, "is_target": True}
    assert sorted(hedonism["parents"]) == ["openness-to-change", "self-enhancement"]

    assert len(annotator_api.get(url, {"target": "true"}).json()) == 32
    assert all(not v["is_target"] for v in annotator_api.get(url, {"theory": "rights", "target": "false"}).json())
    found = annotator_api.get(url, {"q": "objectivity"}).json()
    assert [v["qualified_key"] for v in found] == ["svt:universalism-objectivity"]
    assert len(annotator_api.get(url).json()) == len(annotator_api.get(url, {"theory": ""}).json()) > 100


@pytest.mark.parametrize(("params", "field"), [({"theory": "plato"}, "theory"), ({"target": "maybe"}, "target")])
def test_bad_value_filters_are_rejected_by_name(taxonomy, annotator_api, params, field):
    response = annotator_api.get(reverse("api-value-list"), params)

    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Validation error."
    assert field in body["extra"]["fields"]
    if field == "theory":
        assert "unknown theory 'plato'" in body["extra"]["fields"]["theory"][0]


def test_one_value_with_parents_children_concepts_and_pool_size(taxonomy, annotator_api):
    response = annotator_api.get(reverse("api-value-detail", args=["svt", "benevolence"]))

    assert response.status_code == 200
    value = response.json()
    assert value["qualified_key"] == "svt:benevolence" and value["level"] == 3 and value["pool_size"] == 0
    assert value["parents"] == [{"theory": "svt", "key": "self-transcendence", "name": "Self-transcendence",
                                 "is_target": False}]
    assert [c["key"] for c in value["children"]] == ["benevolence-caring", "benevolence-dependability"]
    concept = next(c for c in value["concepts"] if c["key"] == "generosity")
    assert {(v["theory"], v["key"]) for v in concept["values"]} >= {("svt", "benevolence"), ("duties", "beneficence")}


def test_an_unknown_value_is_a_clear_404(taxonomy, annotator_api):
    response = annotator_api.get(reverse("api-value-detail", args=["svt", "kindness"]))
    assert response.status_code == 404
    assert "No value 'kindness' in theory 'svt'" in response.json()["message"]


def test_concepts_span_at_least_two_theories(taxonomy, annotator_api):
    concepts = annotator_api.get(reverse("api-concept-list")).json()

    assert len(concepts) >= 45
    assert all(len(c["theories"]) >= 2 for c in concepts)
    freedom_of_thought = next(c for c in concepts if c["key"] == "freedom-of-thought")
    assert freedom_of_thought["theories"] == ["svt", "mft", "rights"]
    assert {f'{v["theory"]}:{v["key"]}' for v in freedom_of_thought["values"]} == {
        "svt:self-direction-thought", "rights:thought-conscience-religion", "mft:autonomy"}


@pytest.mark.parametrize("name", ["api-theory-list", "api-value-list", "api-concept-list"])
def test_the_taxonomy_api_needs_a_login(db, anonymous_api, name):
    assert anonymous_api.get(reverse(name)).status_code == 403
