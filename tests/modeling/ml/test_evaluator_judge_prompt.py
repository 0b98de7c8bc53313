"""The judge prompt of method.md §4 and the reader of "a list of indices": prose, brackets, arrows, one per line,
0- or 1-based are read; duplicates, gaps and out-of-range numbers are invalid with a reason."""

import pytest

from modeling.ml.evaluator.judge_prompt import judge_messages, judge_prompt_text, parse_ranking


def test_the_prompt_names_theory_value_definition_and_numbers_the_texts():
    messages = judge_messages(
        theory="Schwartz", value="Benevolence", definition="Caring for  the welfare of close others.",
        texts=["I help my sister.", "I ignore\nmy friends."],
    )
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    for part in ("Value theory: Schwartz", "Value: Benevolence", "Caring for the welfare", "[1] I help my sister.",
                 "[2] I ignore my friends.", "neutral about it in the middle", "list of indices"):
        assert part in user
    assert judge_prompt_text(messages).startswith("SYSTEM:\n")


@pytest.mark.parametrize(
    ("answer", "ordering"),
    [
        ("[3, 1, 2, 4]", (2, 0, 1, 3)),
        ("Ranking: 3, 1, 2, 4. Text 3 is the most caring.", (2, 0, 1, 3)),
        ("The order is 4 > 2 > 1 > 3", (3, 1, 0, 2)),
        ("1\n2\n4\n3", (0, 1, 3, 2)),
        ("Sure! Considering all four texts, here it is: (2,1,4,3)", (1, 0, 3, 2)),
        ("[0, 3, 2, 1]", (0, 3, 2, 1)),
        ("Text 2, Text 4, Text 1, Text 3", (1, 3, 0, 2)),
    ],
)
def test_loose_answers_are_read(answer, ordering):
    parsed = parse_ranking(answer, 4)
    assert parsed.is_valid and parsed.ordering == ordering


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("[1, 1, 2, 3]", "1 named more than once; text 4 missing"),
        ("[1, 2, 3]", "text 4 missing"),
        ("[1, 2, 3, 7]", "7 not among the text numbers 1–4"),
        ("I cannot rank these.", "holds no list of indices 1–4"),
        ("   ", "the answer is empty"),
    ],
)
def test_unusable_answers_are_invalid_with_a_reason(answer, problem):
    parsed = parse_ranking(answer, 4)
    assert not parsed.is_valid and problem in parsed.problem


def test_long_texts_are_shortened_in_the_prompt():
    messages = judge_messages(theory="T", value="V", definition="d", texts=["x" * 5000, "short"])
    assert "x" * 1199 + "…" in messages[-1]["content"] and "x" * 1201 not in messages[-1]["content"]
