"""HiVES training data: the three-level path cut, padding, directions, collapsing implied labels, text-wise splits,
and Touché23-ValueEval folders read into examples."""

from pathlib import Path

import numpy as np
import pytest

from modeling.ml.hives.data import (
    NEUTRAL,
    OPPOSES,
    SUPPORTS,
    HivesExample,
    LabelArrays,
    ValueNode,
    collapse_labels,
    direction_from,
    split_by_text,
    value_paths,
)
from modeling.ml.hives.metrics import TextLabels
from modeling.ml.hives.touche import category_path, parse_location, read_touche

SVT = [
    ValueNode("svt:growth", "svt"),
    ValueNode("svt:self-protection", "svt"),
    ValueNode("svt:self-transcendence", "svt", ("svt:growth",)),
    ValueNode("svt:conservation", "svt", ("svt:self-protection",)),
    ValueNode("svt:benevolence", "svt", ("svt:self-transcendence",)),
    ValueNode("svt:humility", "svt", ("svt:self-transcendence", "svt:conservation")),
    ValueNode("svt:benevolence-caring", "svt", ("svt:benevolence",)),
]
MFT = [ValueNode("mft:care-harm", "mft"), ValueNode("mft:kindness", "mft", ("mft:care-harm",))]


def test_a_four_level_theory_loses_its_top_level_and_short_paths_are_padded():
    paths = value_paths(SVT + MFT)
    assert paths["svt:benevolence-caring"] == ("svt:self-transcendence", "svt:benevolence", "svt:benevolence-caring")
    assert paths["svt:benevolence"] == ("svt:self-transcendence", "svt:benevolence", "svt:benevolence")
    assert "svt:growth" not in paths, "a value on the dropped top level has no path"
    assert paths["svt:humility"][:2] == ("svt:self-transcendence", "svt:humility"), "the first parent is followed"
    assert paths["mft:care-harm"] == ("mft:care-harm",) * 3
    assert paths["mft:kindness"] == ("mft:care-harm", "mft:kindness", "mft:kindness")


def test_direction_comes_from_the_label_or_the_sign_of_the_intensity():
    assert direction_from(-1, 8.0) == OPPOSES
    assert direction_from(None, 4.0) == SUPPORTS
    assert direction_from(None, -0.5) == NEUTRAL
    assert direction_from(None, -3.0) == OPPOSES
    assert direction_from(None, None) is None


def example(text_id, path, direction=SUPPORTS, theory="svt"):
    return HivesExample(text_id=text_id, text=f"text {text_id}", theory=theory, path=path, direction=direction)


def test_a_label_implied_by_a_deeper_label_of_the_same_text_is_dropped():
    refined = ("svt:self-transcendence", "svt:benevolence", "svt:benevolence-caring")
    basic = ("svt:self-transcendence", "svt:benevolence", "svt:benevolence")
    other = ("svt:conservation", "svt:tradition", "svt:tradition")
    kept = collapse_labels([example(1, refined), example(1, basic), example(1, other), example(2, basic)])
    assert sorted((e.text_id, e.path[-1]) for e in kept) == [
        (1, "svt:benevolence-caring"), (1, "svt:tradition"), (2, "svt:benevolence")
    ]
    # An opposing label is not implied by a supporting one.
    assert len(collapse_labels([example(1, refined), example(1, basic, OPPOSES)])) == 2


def test_the_split_keeps_every_label_of_a_text_on_one_side():
    path = ("svt:a", "svt:b", "svt:c")
    examples = [example(i // 2, path) for i in range(40)]  # two labels per text
    train, held_out = split_by_text(examples, held_out_fraction=0.25, seed=3)
    assert {e.text_id for e in train}.isdisjoint({e.text_id for e in held_out})
    assert len({e.text_id for e in held_out}) == 5
    assert split_by_text(examples, held_out_fraction=0.25, seed=3) == (train, held_out)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_by_text(examples, held_out_fraction=1.5, seed=0)


def test_level_ids_name_prefixes_so_equal_ids_mean_a_shared_prefix():
    labels = LabelArrays.from_examples(
        [
            example(1, ("svt:a", "svt:b", "svt:c")),
            example(2, ("svt:a", "svt:b", "svt:d")),
            example(3, ("svt:x", "svt:b", "svt:c")),  # same keys below a different top: a different prefix
            example(4, ("svt:a", "svt:b", "svt:c"), theory="mft"),
        ]
    )
    ids = labels.level_ids
    assert ids[0, 1] == ids[1, 1] and ids[0, 2] != ids[1, 2]
    assert ids[0, 1] != ids[2, 1]
    assert ids[0, 0] != ids[3, 0], "theories never share a prefix"


def test_text_similarity_is_the_evaluations_relation_of_two_texts_through_their_closest_labels():
    path_a, path_b = ("t:A", "t:A1", "t:A1x"), ("t:A", "t:A1", "t:A1y")
    examples = [
        HivesExample(text_id=1, text="one", theory="t", path=path_a, direction=SUPPORTS),
        HivesExample(text_id=2, text="two", theory="t", path=path_b, direction=SUPPORTS),
        HivesExample(text_id=2, text="two", theory="t", path=path_a, direction=OPPOSES),
        HivesExample(text_id=3, text="three", theory="t", path=("t:B", "t:B1", "t:B1x"), direction=SUPPORTS),
        HivesExample(text_id=4, text="four", theory="u", path=("u:A",) * 3, direction=SUPPORTS),
        HivesExample(text_id=5, text="five", theory="t", path=("t:A", "t:A2", "t:A2x"), direction=OPPOSES),
    ]
    labels = LabelArrays.from_examples(examples)
    rows = np.arange(len(examples))
    similarity = labels.text_similarity(rows)
    # Text 1 against texts 2 (same path, opposite direction beats levels 1–2 agreeing), 3 (same theory), 4 (another
    # theory), 5 (level 1, opposite direction).
    assert similarity[0].tolist() == [0.0, 3.0, 3.0, 0.5, 0.0, 1.0]
    assert similarity[1, 2] == 0.0, "two labels of one text are not a pair"
    assert (similarity == similarity.T).all()
    # The same numbers the evaluation scores pairs by (metrics.TextLabels.relations), text by text.
    _, target = TextLabels(examples).relations(np.arange(5))
    texts = labels.text_index
    for i in rows:
        for j in rows:
            if texts[i] != texts[j]:
                assert similarity[i, j] == target[texts[i], texts[j]]


TOUCHE = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "touche23-valueeval"


def test_touche_categories_map_onto_the_schwartz_cut():
    assert category_path("Power: dominance") == ("svt:self-enhancement", "svt:power", "svt:power-dominance")
    assert category_path("Face") == ("svt:self-enhancement", "svt:face", "svt:face")
    assert category_path("Universalism: objectivity")[2] == "svt:universalism-objectivity"
    with pytest.raises(ValueError, match="names no Schwartz basic value"):
        category_path("Courage")


def _write_touche(folder: Path) -> None:
    folder.mkdir()
    (folder / "arguments-training.tsv").write_text(
        "Argument ID\tConclusion\tStance\tPremise\n"
        'A1\tWe should ban x\tin favor of\tx harms "people" and nature\n'
        "A2\tWe should ban y\tagainst\ty gives people freedom\n"
        "A3\tWe should ban z\tagainst\tz is fine\n"
    )
    (folder / "labels-training.tsv").write_text(
        "Argument ID\tSelf-direction: action\tUniversalism: nature\tSecurity: personal\n"
        "A1\t0\t1\t1\nA2\t1\t0\t0\nA3\t0\t0\t0\n"
    )


def test_a_touche_folder_becomes_one_example_per_label(tmp_path):
    folder = tmp_path / "touche"
    _write_touche(folder)
    examples = read_touche(f"{folder}:training")
    assert [(e.text_id, e.path[-1]) for e in examples] == [
        ("touche:A1", "svt:universalism-nature"),
        ("touche:A1", "svt:security-personal"),
        ("touche:A2", "svt:self-direction-action"),
    ], "an argument without labels is left out"
    assert examples[0].text == 'x harms "people" and nature', "quotes are kept as they are"
    assert all(e.direction == SUPPORTS for e in examples)
    assert parse_location(str(folder)) == (folder, "training"), "a folder with one split needs no split name"
    assert parse_location(str(folder / "arguments-training.tsv")) == (folder, "training")


def test_touche_locations_that_do_not_exist_are_refused_clearly(tmp_path):
    folder = tmp_path / "touche"
    _write_touche(folder)
    with pytest.raises(ValueError, match="no arguments-test.tsv"):
        parse_location(f"{folder}:test")
    with pytest.raises(ValueError, match="no such Touché folder"):
        parse_location(str(tmp_path / "missing"))
    (folder / "labels-training.tsv").write_text("Argument ID\tStimulation\nA1\t2\nA2\t0\nA3\t0\n")
    with pytest.raises(ValueError, match=r"labels-training.tsv:2: labels must be 0 or 1, got '2'"):
        read_touche(f"{folder}:training")


@pytest.mark.skipif(not TOUCHE.is_dir(), reason="the shared Touché23-ValueEval copy is not here")
def test_the_shipped_touche_folder_reads_with_a_split_name():
    examples = read_touche(f"{TOUCHE}:validation", limit=50)
    assert len({e.text_id for e in examples}) == 50
    assert all(len(e.path) == 3 and e.path[0].startswith("svt:") for e in examples)
