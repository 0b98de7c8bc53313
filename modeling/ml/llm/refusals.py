"""Refusal detection by simple patterns: does an answer decline the request instead of answering it?

Reports count refusals per level because steering toward strong negative targets makes models refuse more often
(method.md §5). The rule, kept simple so anyone can check a flagged answer by eye:

- an answer is a refusal when one of REFUSAL_PATTERNS matches within its first REFUSAL_WINDOW characters — the
  phrases models use to decline ("I can't help with that", "I'm sorry, but I cannot", "As an AI language model, I
  don't have personal opinions", "I must decline", …);
- an empty answer counts as a refusal too (a model that stops at once has declined in effect);
- phrases later in an answer do not count: "I can't stress enough how important sleep is" opens no refusal, and a
  refusal comes first in practice.

Case, curly apostrophes and repeated spaces are ignored. False positives and misses are expected at the margins;
the flag is a rate, not a verdict on one answer.
"""

from __future__ import annotations

import re

REFUSAL_WINDOW = 200

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bi(?: am|'m)? (?:sorry|afraid),? but i (?:can ?not|can't|won't|am unable|'m unable|am not able)",
    r"\bi (?:can ?not|can't|won't|will not|am unable to|'m unable to|am not able to|'m not able to) "
    r"(?:help|assist|provide|comply|fulfil|fulfill|answer|engage|support|write|do that|give|create|generate|"
    r"continue|respond|share|offer)",
    r"\bi (?:must|have to|need to) (?:decline|refuse|respectfully decline)",
    r"\bi(?:'d| would) (?:rather|prefer) not (?:to )?(?:answer|respond|say|share|discuss|comment)",
    r"\bas an ai(?: language model| assistant| model)?,? i (?:do not|don't|cannot|can't|am not able to)",
    r"\bi(?:'m| am) (?:just )?an ai(?: language model| assistant)?,?(?: and| so)? i (?:do not|don't|cannot|can't)",
    r"\b(?:it|this) (?:would(?: not|n't) be|is not|isn't) appropriate for me to",
    r"\bi(?:'m| am) not (?:comfortable|in a position) (?:with |to )",
    r"\bi apologi[sz]e,? but\b",
    r"\bsorry,? (?:but )?(?:i|that's|that is) (?:can ?not|can't|not something)",
)
_COMPILED = re.compile("|".join(f"(?:{pattern})" for pattern in REFUSAL_PATTERNS))


def is_refusal(answer: str) -> bool:
    """True when the answer declines instead of answering (see the module docstring for the rule)."""
    text = " ".join(answer.replace("\u2019", "'").replace("\u2018", "'").lower().split())
    if not text:
        return True
    return _COMPILED.search(text[:REFUSAL_WINDOW]) is not None
