"""Refusal detection: the phrases models decline with count, the same words used while answering do not."""

import pytest

from modeling.ml.llm.refusals import REFUSAL_WINDOW, is_refusal


@pytest.mark.parametrize(
    "answer",
    [
        "I can't help with that.",
        "I’m sorry, but I cannot provide advice on this.",
        "I am sorry, but I won't write that.",
        "As an AI language model, I don't have personal opinions.",
        "I'm just an AI, so I don't have feelings about it.",
        "I must decline to answer this question.",
        "I apologize, but that request goes against my guidelines.",
        "It would not be appropriate for me to take a side here.",
        "I'd rather not answer that.",
        "Sorry, that's not something I can do.",
        "   ",
        "",
    ],
)
def test_refusals_are_flagged(answer):
    assert is_refusal(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Talk to your coworker first, calmly and in private.",
        "I can't stress enough how much sleep matters.",
        "I'm sorry to hear that. Here is what I would do: speak to your manager.",
        "Honestly, I cannot imagine a life without my family; call them tonight.",
        "You can't help everyone, but you can help one person today.",
    ],
)
def test_answers_that_merely_use_the_words_are_not_flagged(answer):
    assert not is_refusal(answer)


def test_a_refusal_phrase_late_in_a_long_answer_does_not_count():
    answer = "Start by listing what matters to you. " * 8 + "I can't help with the rest."
    assert len(answer) > REFUSAL_WINDOW
    assert not is_refusal(answer)
