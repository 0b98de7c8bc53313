"""Steering prompts: what each style tells the model, the length limit, and condition keys stable enough to
resume an evaluation by."""

import pytest

from modeling.ml.steering.prompts import (
    LEVEL_INTENSITY_BINS,
    LEVEL_TARGET_INTENSITY,
    LEVELS,
    ValueSpec,
    activation_prompt,
    baseline_prompt,
    condition_key,
    level_intensity_bin,
    persona_prompt,
    profile_prompt,
    user_texts_prompt,
)

BENEVOLENCE = ValueSpec("svt:benevolence", "Benevolence", "Caring for the welfare of people close to you.")
POWER = ValueSpec("svt:power", "Power", "Control over people and resources.")
CARE = ValueSpec("mft:care-harm", "Care/harm", "Protecting others from harm.")
QUERY = "My coworker keeps taking credit for my work. What should I do?"


def test_baseline_is_the_query_with_the_length_limit_only():
    prompt = baseline_prompt(QUERY)
    assert prompt.condition == "baseline" and prompt.targets == ()
    assert prompt.messages == [{"role": "user", "content": f"{QUERY}\n\nAnswer in at most 100 words."}]


@pytest.mark.parametrize(
    ("level", "cue"),
    [(2, "strongly values"), (1, "slightly values"), (0, "is neutral about"), (-1, "slightly rejects"),
     (-2, "strongly rejects")],
)
def test_persona_names_the_value_its_definition_and_the_strength_cue(level, cue):
    prompt = persona_prompt(QUERY, BENEVOLENCE, level)
    system, user = prompt.messages
    assert system["role"] == "system"
    assert f"a person who {cue} Benevolence: Caring for the welfare of people close to you." in system["content"]
    assert user["content"].endswith("Answer in at most 100 words.")
    assert prompt.condition == f"persona:svt:benevolence:{level:+d}"
    assert prompt.targets == (("svt:benevolence", level),)


def test_user_texts_quote_the_examples_as_the_users_own_without_naming_the_value():
    examples = ["I drove my sister to every chemo appointment.", "  ", "Family comes first,\n always."]
    prompt = user_texts_prompt(QUERY, BENEVOLENCE, 2, examples)
    system = prompt.messages[0]["content"]
    assert "texts the user has written or agreed with" in system
    assert "1. I drove my sister to every chemo appointment.\n2. Family comes first, always." in system
    assert "Benevolence" not in system
    assert prompt.condition == "user_texts:svt:benevolence:+2"


def test_user_texts_need_an_example():
    with pytest.raises(ValueError, match="svt:benevolence at level -1 needs at least one example"):
        user_texts_prompt(QUERY, BENEVOLENCE, -1, ["   "])


def test_profile_lists_every_value_in_key_order_and_its_key_ignores_the_order_given():
    forward = profile_prompt(QUERY, [(BENEVOLENCE, 2), (POWER, -1), (CARE, 1)])
    backward = profile_prompt(QUERY, [(CARE, 1), (POWER, -1), (BENEVOLENCE, 2)])
    assert forward == backward
    assert forward.condition == "profile:mft:care-harm=+1|svt:benevolence=+2|svt:power=-1"
    system = forward.messages[0]["content"]
    assert system.index("slightly values Care/harm") < system.index("strongly values Benevolence")
    assert system.index("strongly values Benevolence") < system.index("slightly rejects Power")


@pytest.mark.parametrize(
    ("profile", "problem"),
    [
        ([(BENEVOLENCE, 2)], "2 to 5 values, got 1"),
        ([(BENEVOLENCE, 1)] * 6, "2 to 5 values, got 6"),
        ([(BENEVOLENCE, 1), (BENEVOLENCE, -1)], "repeated: svt:benevolence"),
        ([(BENEVOLENCE, 1), (POWER, 3)], "one of -2, -1, \\+0, \\+1, \\+2, got 3"),
    ],
)
def test_bad_profiles_are_refused(profile, problem):
    with pytest.raises(ValueError, match=problem):
        profile_prompt(QUERY, profile)


def test_activation_conditions_send_the_baseline_messages():
    prompt = activation_prompt(QUERY, POWER, -2)
    assert prompt.messages == baseline_prompt(QUERY).messages
    assert prompt.condition == "activation:svt:power:-2"


def test_every_condition_key_is_distinct_across_styles_values_and_levels():
    keys = {baseline_prompt(QUERY).condition}
    for level in LEVELS:
        for value in (BENEVOLENCE, POWER):
            keys |= {
                persona_prompt(QUERY, value, level).condition,
                user_texts_prompt(QUERY, value, level, ["x"]).condition,
                activation_prompt(QUERY, value, level).condition,
            }
    assert len(keys) == 1 + 5 * 2 * 3
    # Keys fit the SteeredResponse.condition column (200 characters) even for a five-value profile.
    five = [ValueSpec(f"rights:social-group-solidarity-{i}", "x", "") for i in range(5)]
    assert len(profile_prompt(QUERY, [(value, -2) for value in five]).condition) <= 200


@pytest.mark.parametrize("bad", [3, -3, True, 1.5])
def test_levels_outside_minus_two_to_two_are_refused(bad):
    with pytest.raises(ValueError, match="steering level must be one of"):
        persona_prompt(QUERY, BENEVOLENCE, bad)


def test_an_empty_query_or_unknown_style_is_refused():
    with pytest.raises(ValueError, match="non-empty query"):
        baseline_prompt("   ")
    with pytest.raises(ValueError, match="unknown prompt style 'shouting'"):
        condition_key("shouting", [("svt:power", 1)])


def test_level_bins_tile_the_intensity_scale_with_targets_at_their_centres():
    edges = [LEVEL_INTENSITY_BINS[level] for level in LEVELS]
    assert edges[0][0] == -10 and edges[-1][1] == 10
    assert all(high == next_low for (_, high), (next_low, _) in zip(edges, edges[1:], strict=False))
    assert [LEVEL_TARGET_INTENSITY[level] for level in LEVELS] == [-8, -4, 0, 4, 8]
    assert level_intensity_bin(1) == (2.0, 6.0)
