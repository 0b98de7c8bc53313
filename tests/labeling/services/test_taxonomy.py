"""The taxonomy file and its loader: the shipped data, idempotent loading, validation that writes nothing, and the
resolver that imports use."""

from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from common.exceptions import ApplicationError
from labeling.models import Concept, Theory, Value, ValueEdge
from labeling.services.taxonomy import DEFAULT_TAXONOMY_PATH, taxonomy_load, value_resolve

TARGETS = {
    "svt": {"self-direction", "stimulation", "hedonism", "achievement", "power", "face", "security", "tradition",
            "conformity", "humility", "benevolence", "universalism"},
    "mft": {"care-harm", "fairness-cheating", "loyalty-betrayal", "authority-subversion", "sanctity-degradation",
            "liberty-oppression"},
    "duties": {"fidelity", "reparation", "gratitude", "justice", "beneficence", "self-improvement", "non-maleficence"},
    "rights": {"civil-rights", "political-rights", "economic-rights", "social-rights", "cultural-rights",
               "national-solidarity-rights", "social-group-solidarity-rights"},
}


@pytest.fixture
def loaded(db) -> dict[str, int]:
    return taxonomy_load()


def _parents(theory: str, key: str) -> set[str]:
    edges = ValueEdge.objects.filter(child__theory__key=theory, child__key=key)
    return set(edges.values_list("parent__key", flat=True))


# --- the shipped taxonomy -------------------------------------------------------------------------------------------


def test_loading_twice_creates_everything_once_and_then_changes_nothing(loaded):
    assert loaded["theories_created"] == 4
    assert loaded["values_created"] == Value.objects.count() == loaded["values"]
    assert loaded["concepts_created"] == Concept.objects.count() >= 45
    assert loaded["edges_created"] == ValueEdge.objects.count()

    again = taxonomy_load()

    changes = {name: count for name, count in again.items() if name not in {"theories", "values", "concepts"}}
    assert changes == dict.fromkeys(changes, 0)
    totals = (Theory.objects.count(), Value.objects.count(), Concept.objects.count())
    assert totals == (4, loaded["values"], loaded["concepts"])


def test_the_four_theories_have_exactly_the_32_canonical_target_values(loaded):
    assert list(Theory.objects.values_list("key", flat=True)) == ["svt", "mft", "duties", "rights"]
    targets = defaultdict(set)
    for theory, key in Value.objects.filter(is_target=True).values_list("theory__key", "key"):
        targets[theory].add(key)
    assert targets == TARGETS
    assert sum(len(keys) for keys in targets.values()) == 32


def test_every_value_and_concept_has_a_definition(loaded):
    assert not Value.objects.filter(definition__regex=r"^\s*$").exists()
    assert not Concept.objects.filter(definition__regex=r"^\s*$").exists()
    assert all(len(definition) > 40 for definition in Value.objects.values_list("definition", flat=True))


def test_hedonism_humility_and_face_sit_under_two_higher_order_values(loaded):
    assert _parents("svt", "hedonism") == {"openness-to-change", "self-enhancement"}
    assert _parents("svt", "humility") == {"self-transcendence", "conservation"}
    assert _parents("svt", "face") == {"self-enhancement", "conservation"}
    two_parents = {key for key in Value.objects.filter(theory__key="svt").values_list("key", flat=True)
                   if len(_parents("svt", key)) == 2}
    assert two_parents == {"hedonism", "humility", "face"}


def test_levels_count_from_the_top_of_each_theory(loaded):
    levels = {(v.theory.key, v.key): v.level for v in Value.objects.select_related("theory")}
    assert levels["svt", "growth"] == 1
    assert levels["svt", "conservation"] == 2
    assert levels["svt", "hedonism"] == levels["svt", "benevolence"] == 3
    assert levels["svt", "benevolence-caring"] == levels["svt", "universalism-objectivity"] == 4
    assert levels["mft", "care-harm"] == 1 and levels["mft", "tradition"] == 2
    assert {levels["duties", key] for key in TARGETS["duties"]} == {1}
    assert levels["rights", "third-generation"] == 1
    assert levels["rights", "civil-rights"] == 2 and levels["rights", "thought-conscience-religion"] == 3


def test_the_refined_schwartz_values_and_specific_rights_hang_under_their_parents(loaded):
    refined = Value.objects.filter(parent_edges__parent__key="universalism").values_list("key", flat=True)
    assert set(refined) == {
        "universalism-concern", "universalism-nature", "universalism-tolerance", "universalism-objectivity"}
    assert _parents("mft", "tradition") == {"authority-subversion"}
    assert _parents("mft", "justice") == {"fairness-cheating"}
    assert _parents("rights", "democracy") == {"social-group-solidarity-rights"}
    assert Value.objects.filter(theory__key="rights", level=3).count() == 30
    assert Value.objects.get(theory__key="svt", key="benevolence-caring").name == "Benevolence: caring"


def test_the_value_graph_has_no_cycle_and_edges_stay_within_a_theory(loaded):
    graph = defaultdict(set)
    for parent_id, child_id, parent_theory, child_theory in ValueEdge.objects.values_list(
        "parent_id", "child_id", "parent__theory_id", "child__theory_id"
    ):
        assert parent_theory == child_theory
        graph[child_id].add(parent_id)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"the value graph has a cycle: {exc.args[1]}")
    assert len(order) == len(set(graph) | {p for parents in graph.values() for p in parents})


def test_every_concept_links_values_of_at_least_two_theories(loaded):
    concepts = Concept.objects.prefetch_related("values__theory")
    assert concepts.count() >= 45
    for concept in concepts:
        assert len({value.theory.key for value in concept.values.all()}) >= 2, concept.key
    honesty = {v.qualified_key for v in Concept.objects.get(key="honesty").values.select_related("theory")}
    assert {"duties:fidelity", "mft:trustworthiness"} <= honesty
    care = {v.qualified_key for v in Concept.objects.get(key="care-for-others").values.select_related("theory")}
    assert care == {"svt:benevolence-caring", "mft:care-harm", "mft:caring", "duties:beneficence"}


# --- editing and rejecting files ------------------------------------------------------------------------------------

SMALL = """\
theories:
  - key: alpha
    name: Alpha
    values:
      - {key: root, name: Root, definition: The root value.}
      - {key: leaf, name: Leaf, definition: A leaf value., parents: [root]}
  - key: beta
    name: Beta
    values:
      - {key: one, name: One, definition: The only value.}
concepts:
  - {key: shared, name: Shared, definition: An idea both theories hold., values: [alpha:leaf, beta:one]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_edits_to_the_file_update_definitions_edges_and_concept_links(db, tmp_path):
    taxonomy_load(path=_write(tmp_path, SMALL))
    edited = (
        SMALL.replace("A leaf value.", "A leaf value that is now better explained.")
        .replace("parents: [root]", "parents: []")
        .replace("values: [alpha:leaf, beta:one]", "values: [alpha:root, beta:one]")
    )

    counts = taxonomy_load(path=_write(tmp_path, edited))

    assert counts["values_updated"] == 1 and counts["values_created"] == 0
    assert counts["edges_removed"] == 1 and counts["edges_created"] == 0
    assert counts["concepts_updated"] == 1 and counts["concepts_created"] == 0
    leaf = Value.objects.get(theory__key="alpha", key="leaf")
    assert leaf.definition == "A leaf value that is now better explained."
    assert leaf.level == 1
    assert {v.key for v in Concept.objects.get(key="shared").values.all()} == {"root", "one"}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("parents: [root]", "parents: [rooot]", "theory 'alpha', value 'leaf': unknown parent 'rooot'"),
        ("      - {key: leaf,", "      - {key: root, name: Again, definition: Twice.}\n      - {key: leaf,",
         "theory 'alpha', value 'root': duplicate key"),
        ("{key: root, name: Root, definition: The root value.}",
         "{key: root, name: Root, definition: The root value., parents: [leaf]}",
         "theory 'alpha', value 'root': the value is its own ancestor: root → leaf → root"),
        ("values: [alpha:leaf, beta:one]", "values: [alpha:leaf, alpha:root]",
         "concept 'shared': links values of 1 theory (alpha); a concept must link values of at least two theories"),
        ("values: [alpha:leaf, beta:one]", "values: [alpha:leaf, beta:two]", "concept 'shared': links 'beta:two'"),
        (", definition: A leaf value.", "", "theory 'alpha', value 'leaf': missing definition"),
        ("definition: The only value.", "definition: '   '", "theory 'beta', value 'one': missing definition"),
        ("{key: one,", "{key: One Value,", "theory 'beta', value #1: key 'One Value' is not a lower-case"),
        ("parents: [root]", "parent: [root]", "theory 'alpha', value 'leaf': unknown field(s) parent"),
        ("  - key: beta\n    name: Beta", "  - key: alpha\n    name: Beta", "theory 'alpha': duplicate theory key"),
        ("    name: Beta", "    name: [Beta", "taxonomy.yaml: line 9: not valid YAML"),
    ],
    ids=["unknown-parent", "duplicate-key", "cycle", "one-theory-concept", "unknown-concept-value",
         "missing-definition", "blank-definition", "bad-key", "misspelt-field", "duplicate-theory", "yaml-syntax"],
)
def test_a_broken_file_is_rejected_naming_the_node_and_writes_nothing(db, tmp_path, old, new, expected):
    assert old in SMALL
    path = _write(tmp_path, SMALL.replace(old, new, 1))

    with pytest.raises(ApplicationError) as error:
        taxonomy_load(path=path)

    assert error.value.message.startswith("taxonomy.yaml: ")
    assert expected in error.value.message
    assert (Theory.objects.count(), Value.objects.count(), Concept.objects.count()) == (0, 0, 0)


def test_a_broken_file_leaves_a_loaded_taxonomy_untouched(db, tmp_path):
    taxonomy_load(path=_write(tmp_path, SMALL))
    broken = SMALL.replace("A leaf value.", "Changed.").replace("parents: [root]", "parents: [nowhere]")

    with pytest.raises(ApplicationError, match="unknown parent 'nowhere'"):
        taxonomy_load(path=_write(tmp_path, broken))

    assert Value.objects.get(key="leaf").definition == "A leaf value."
    assert _parents("alpha", "leaf") == {"root"}


def test_a_missing_file_is_named(db, tmp_path):
    with pytest.raises(ApplicationError, match="does-not-exist.yaml does not exist"):
        taxonomy_load(path=tmp_path / "does-not-exist.yaml")


# --- the command ----------------------------------------------------------------------------------------------------


def test_the_command_prints_a_one_line_summary(db, capsys):
    call_command("load_taxonomy")
    first = capsys.readouterr().out.strip().splitlines()
    call_command("load_taxonomy", "--path", str(DEFAULT_TAXONOMY_PATH))
    second = capsys.readouterr().out.strip().splitlines()

    assert len(first) == len(second) == 1
    assert "4 theories (4 new, 0 updated)" in first[0]
    assert "4 theories (0 new, 0 updated)" in second[0] and "0 edges added" in second[0]


def test_the_command_reports_a_broken_file_as_an_error(db, tmp_path):
    path = _write(tmp_path, SMALL.replace("parents: [root]", "parents: [rooot]"))
    with pytest.raises(CommandError, match="unknown parent 'rooot'"):
        call_command("load_taxonomy", "--path", str(path))


# --- resolving spellings used by imports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("theory", "value", "expected"),
    [
        ("mft", "care/harm", "mft:care-harm"),
        ("mft", "care_harm", "mft:care-harm"),
        ("mft", "Care-Harm", "mft:care-harm"),
        ("pvq", "self-direction", "svt:self-direction"),
        ("right", "civil_rights", "rights:civil-rights"),
        ("rights", "civil", "rights:civil-rights"),
        ("svt", "Benevolence: caring", "svt:benevolence-caring"),
        ("svt", "Universalism: objectivity", "svt:universalism-objectivity"),
        ("duty", "non-maleficence", "duties:non-maleficence"),
        ("duties", "justice", "duties:justice"),
        ("mft", "justice", "mft:justice"),
    ],
)
def test_the_resolver_accepts_the_spellings_imports_use(loaded, theory, value, expected):
    assert value_resolve(theory=theory, value=value).qualified_key == expected


def test_every_touche23_value_name_resolves(loaded):
    names = ["Self-direction: thought", "Self-direction: action", "Stimulation", "Hedonism", "Achievement",
             "Power: dominance", "Power: resources", "Face", "Security: personal", "Security: societal", "Tradition",
             "Conformity: rules", "Conformity: interpersonal", "Humility", "Benevolence: caring",
             "Benevolence: dependability", "Universalism: concern", "Universalism: nature", "Universalism: tolerance",
             "Universalism: objectivity"]
    assert [value_resolve(theory="svt", value=name).name for name in names] == names


def test_the_resolver_names_what_it_could_not_find(loaded):
    with pytest.raises(LookupError, match="unknown value 'kindnes' in theory 'mft'"):
        value_resolve(theory="mft", value="kindnes")
