"""Steering prompts (method.md §5): the chat messages that ask a model to answer a query as someone holding a value
at a given intensity level, and a stable condition key for each, under which a response is stored and found again
when an interrupted evaluation resumes.

Styles:

- baseline — the query alone (the unsteered reference every level is compared with);
- persona — a system message describing a person who strongly values / slightly values / is neutral about /
  slightly rejects / strongly rejects the value, with its definition;
- user_texts — a few texts "the user has written or agreed with", drawn from the value's VIDB texts in the target
  level's intensity bin; the value is never named, so the model has to infer it;
- profile — several (value, level) pairs at once (2 to 5 values);
- activation — the baseline messages; the steering happens inside the model (see activation.py).

Every style appends the same length instruction to the query, so answers under every condition are comparable
(~100 words). Pure functions: no model, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

LEVELS = (-2, -1, 0, 1, 2)
STYLES = ("baseline", "persona", "user_texts", "profile", "activation")
ANSWER_WORDS = 100
PROFILE_MIN_VALUES, PROFILE_MAX_VALUES = 2, 5
# Longest example text quoted in a user-texts prompt, in characters: VIDB texts are short, but imports may not be.
MAX_EXAMPLE_CHARS = 600

# The strength cue of each level, as it completes "a person who …".
STRENGTH_CUES = {
    2: "strongly values",
    1: "slightly values",
    0: "is neutral about",
    -1: "slightly rejects",
    -2: "strongly rejects",
}

# Our mapping of levels onto the [-10, 10] intensity scale (the paper leaves it open): five equal-width bins, one per
# level, with the bin centre as the level's target intensity. User-texts examples come from the level's bin, and
# reports measure calibration error as |measured intensity − target|.
LEVEL_INTENSITY_BINS = {-2: (-10.0, -6.0), -1: (-6.0, -2.0), 0: (-2.0, 2.0), 1: (2.0, 6.0), 2: (6.0, 10.0)}
LEVEL_TARGET_INTENSITY = {level: (low + high) / 2 for level, (low, high) in LEVEL_INTENSITY_BINS.items()}


@dataclass(frozen=True)
class ValueSpec:
    """What a prompt says about a value: `key` is theory:key (e.g. `svt:benevolence`), stable across renames."""

    key: str
    name: str
    definition: str


@dataclass(frozen=True)
class SteeringPrompt:
    """The messages to send, the condition key to store them under, and what they target."""

    style: str
    condition: str
    messages: list[dict[str, str]]
    # (value key, level) pairs; empty for the baseline.
    targets: tuple[tuple[str, int], ...] = field(default=())


def level_intensity_bin(level: int) -> tuple[float, float]:
    """The [low, high] intensity range that a level targets."""
    return LEVEL_INTENSITY_BINS[_check_level(level)]


def condition_key(style: str, targets: Sequence[tuple[str, int]] = ()) -> str:
    """`baseline`, `persona:svt:benevolence:+2`, `profile:mft:care-harm=+1|svt:power=-2` (values sorted by key)."""
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(STYLES)}")
    if style == "baseline":
        return "baseline"
    if style == "profile":
        return "profile:" + "|".join(f"{key}={level:+d}" for key, level in sorted(targets))
    (key, level), = targets
    return f"{style}:{key}:{level:+d}"


def baseline_prompt(query: str) -> SteeringPrompt:
    return SteeringPrompt("baseline", condition_key("baseline"), [_user(query)])


def persona_prompt(query: str, value: ValueSpec, level: int) -> SteeringPrompt:
    _check_level(level)
    system = (
        f"You are a person who {STRENGTH_CUES[level]} {_value_phrase(value)}. "
        "Answer the user's question as this person would, in your own voice, letting that stance shape what you "
        "say. Do not mention these instructions."
    )
    targets = ((value.key, level),)
    return SteeringPrompt("persona", condition_key("persona", targets), [_system(system), _user(query)], targets)


def user_texts_prompt(query: str, value: ValueSpec, level: int, examples: Sequence[str]) -> SteeringPrompt:
    """Few-shot steering by example: texts from the level's intensity bin, presented as the user's own."""
    _check_level(level)
    texts = [" ".join(text.split())[:MAX_EXAMPLE_CHARS] for text in examples if text and text.strip()]
    if not texts:
        raise ValueError(f"a user-texts prompt for {value.key} at level {level:+d} needs at least one example text")
    quoted = "\n".join(f"{number}. {text}" for number, text in enumerate(texts, start=1))
    system = (
        f"Here are texts the user has written or agreed with:\n{quoted}\n\n"
        "Answer the user's question in a way that reflects the outlook of these texts. "
        "Do not quote them or mention them."
    )
    targets = ((value.key, level),)
    return SteeringPrompt("user_texts", condition_key("user_texts", targets), [_system(system), _user(query)], targets)


def profile_prompt(query: str, profile: Sequence[tuple[ValueSpec, int]]) -> SteeringPrompt:
    """A person holding several values at once, listed in value-key order so the same profile reads the same."""
    if not PROFILE_MIN_VALUES <= len(profile) <= PROFILE_MAX_VALUES:
        raise ValueError(
            f"a value profile lists {PROFILE_MIN_VALUES} to {PROFILE_MAX_VALUES} values, got {len(profile)}"
        )
    keys = [value.key for value, _ in profile]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"a value profile names each value once; repeated: {', '.join(duplicates)}")
    ordered = sorted(profile, key=lambda pair: pair[0].key)
    lines = "\n".join(f"- {STRENGTH_CUES[_check_level(level)]} {_value_phrase(value)}" for value, level in ordered)
    system = (
        f"You are a person who:\n{lines}\n\n"
        "Answer the user's question as this person would, in your own voice, letting these stances shape what you "
        "say. Do not mention these instructions."
    )
    targets = tuple((value.key, level) for value, level in ordered)
    return SteeringPrompt("profile", condition_key("profile", targets), [_system(system), _user(query)], targets)


def activation_prompt(query: str, value: ValueSpec, level: int) -> SteeringPrompt:
    """The baseline messages under an activation-steering condition: the model, not the prompt, is steered."""
    targets = ((value.key, _check_level(level)),)
    return SteeringPrompt("activation", condition_key("activation", targets), [_user(query)], targets)


def answer_instruction(words: int = ANSWER_WORDS) -> str:
    return f"Answer in at most {words} words."


def _user(query: str) -> dict[str, str]:
    query = query.strip()
    if not query:
        raise ValueError("a steering prompt needs a non-empty query")
    return {"role": "user", "content": f"{query}\n\n{answer_instruction()}"}


def _system(content: str) -> dict[str, str]:
    return {"role": "system", "content": content}


def _value_phrase(value: ValueSpec) -> str:
    definition = " ".join(value.definition.split()).rstrip(".")
    return f"{value.name}: {definition}" if definition else value.name


def _check_level(level: int) -> int:
    if isinstance(level, bool) or level not in LEVELS:
        raise ValueError(f"steering level must be one of {', '.join(f'{lvl:+d}' for lvl in LEVELS)}, got {level!r}")
    return int(level)
