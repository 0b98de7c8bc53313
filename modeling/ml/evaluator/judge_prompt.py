"""The LLM judge's prompt (method.md §4) and a robust reader of its answer, "a list of indices".

The prompt names the theory, the value and its definition, lists the window's texts numbered from 1, and asks for
the numbers ordered from the text that supports the value most to the one that opposes it most, neutral texts in
the middle.

Models answer that loosely: "[3, 1, 2, 5, 4, 6]", "3 > 1 > 2 > 5 > 4 > 6", "Ranking: 3, 1, 2, 5, 4, 6. Text 3 is
the most caring because …", "(4,2,1,3)", one number per line, or the same numbers counted from 0. `parse_ranking`
tries, in order: each bracketed list, each run of numbers joined only by separators (commas, spaces, ">", "-",
"→", ";", "and"), each line, and the whole answer; the first that is an order of all n texts — counted from 1, or
from 0 — wins. Anything else (an index out of range, a text named twice or left out, no list at all) is invalid,
and the reason says which; the evaluator then asks again and finally drops the window, counting it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Longest text quoted in a judge prompt, in characters: steered answers are ~100 words, VIDB texts shorter.
MAX_TEXT_CHARS = 1200
JUDGE_SYSTEM = (
    "You are a careful annotator of human values in text. You judge only how strongly a text expresses the value "
    "you are given, not whether you agree with it."
)

_NUMBER = re.compile(r"\d+")
_BRACKETED = re.compile(r"[\[(\{]([^\[\](){}]*\d[^\[\](){}]*)[\])\}]")
_RUN = re.compile(r"\d+(?:\s*(?:,|;|>|→|->|-|–|\band\b|\s)\s*\d+)+")


def judge_messages(*, theory: str, value: str, definition: str, texts: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages asking a judge to rank `texts` (shown in this order) for one value."""
    if len(texts) < 2:
        raise ValueError(f"a judge ranks at least two texts, got {len(texts)}")
    listed = "\n\n".join(f"[{number}] {_clean(text)}" for number, text in enumerate(texts, start=1))
    n = len(texts)
    user = (
        f"Value theory: {theory}\n"
        f"Value: {value}\n"
        f"Definition: {' '.join(definition.split())}\n\n"
        f"Here are {n} texts, numbered 1 to {n}:\n\n{listed}\n\n"
        f"Rank the {n} texts by how strongly each one supports or opposes the value {value}: first the text that "
        "supports it most, last the text that opposes it most, and texts that are neutral about it in the middle. "
        f"Answer with a list of indices only: all {n} numbers, each once, in that order, like [a, b, c, …]."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def judge_prompt_text(messages: Sequence[dict[str, str]]) -> str:
    """The messages as one readable text, for the record kept with each window."""
    return "\n\n".join(f"{message['role'].upper()}:\n{message['content']}" for message in messages)


@dataclass(frozen=True)
class ParsedRanking:
    """`ordering`: the positions (0-based, in the order shown) from strongest to weakest; None with a `problem`
    saying why the answer was not a usable ranking."""

    ordering: tuple[int, ...] | None
    problem: str = ""

    @property
    def is_valid(self) -> bool:
        return self.ordering is not None


def parse_ranking(answer: str, n: int) -> ParsedRanking:
    """Read an order of `n` texts from a judge's free-text answer (see the module docstring)."""
    if n < 2:
        raise ValueError(f"a ranking has at least two texts, got n={n}")
    if not answer or not answer.strip():
        return ParsedRanking(None, "the answer is empty")
    candidates: list[list[int]] = []
    candidates += [_numbers(match.group(1)) for match in _BRACKETED.finditer(answer)]
    candidates += [_numbers(match.group(0)) for match in _RUN.finditer(answer)]
    candidates += [_numbers(line) for line in answer.splitlines()]
    candidates.append(_numbers(answer))
    candidates = [candidate for candidate in candidates if candidate]
    for candidate in candidates:
        ordering = _as_order(candidate, n)
        if ordering is not None:
            return ParsedRanking(ordering)
    if not candidates:
        return ParsedRanking(None, f"the answer holds no list of indices 1–{n}")
    # Explain the attempt that came closest: the candidate with the most numbers in range.
    best = max(candidates, key=lambda numbers: (sum(1 <= x <= n for x in numbers), -abs(len(numbers) - n)))
    return ParsedRanking(None, _problem(best, n))


def _clean(text: str) -> str:
    collapsed = " ".join(text.split())
    return collapsed if len(collapsed) <= MAX_TEXT_CHARS else collapsed[: MAX_TEXT_CHARS - 1] + "…"


def _numbers(text: str) -> list[int]:
    return [int(token) for token in _NUMBER.findall(text)]


def _as_order(numbers: list[int], n: int) -> tuple[int, ...] | None:
    if len(numbers) != n:
        return None
    if sorted(numbers) == list(range(1, n + 1)):
        return tuple(x - 1 for x in numbers)
    if sorted(numbers) == list(range(n)):
        return tuple(numbers)
    return None


def _problem(numbers: list[int], n: int) -> str:
    shown = ", ".join(str(x) for x in numbers[:12]) + (", …" if len(numbers) > 12 else "")
    zero_based = 0 in numbers and n not in numbers
    valid = range(n) if zero_based else range(1, n + 1)
    out_of_range = sorted({x for x in numbers if x not in valid})
    repeated = sorted({x for x in numbers if numbers.count(x) > 1})
    missing = sorted(set(valid) - set(numbers))
    parts = []
    if out_of_range:
        parts.append(f"{', '.join(map(str, out_of_range))} not among the text numbers {valid.start}–{valid.stop - 1}")
    if repeated:
        parts.append(f"{', '.join(map(str, repeated))} named more than once")
    if missing:
        parts.append(f"text{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} missing")
    return f"the list [{shown}] is not an order of the {n} texts: " + "; ".join(parts or ["wrong length"])
