"""The anchor-based evaluator (method.md §4): score a text's intensity for one value by having a judge rank it in
windows of anchors with known intensities.

Modules: anchors.py (which anchors a window shows: bucketed across the value's range, then adaptive near the
current estimate), windows.py (randomised, recorded position of the scored text; human rankings as windows),
judge_prompt.py (the LLM judge's prompt and a robust reader of its "list of indices"), scoring.py (Plackett–Luce
with anchors held fixed and the logit-to-intensity scale estimated from the anchor-vs-anchor orderings; an
intensity and a 95 % interval per text), simulate.py (a noisy simulated judge, for the benchmark and tests).
Pure numpy; no Django.
"""

from .anchors import AnchorPanel
from .judge_prompt import ParsedRanking, judge_messages, judge_prompt_text, parse_ranking
from .scoring import (
    JudgedWindow,
    ResponseEstimate,
    Scale,
    response_score,
    scale_estimate,
    scale_estimate_from_rankings,
)
from .windows import WindowLayout, judged_window, window_from_ranking, window_layout

__all__ = [
    "AnchorPanel",
    "JudgedWindow",
    "ParsedRanking",
    "ResponseEstimate",
    "Scale",
    "WindowLayout",
    "judge_messages",
    "judge_prompt_text",
    "judged_window",
    "parse_ranking",
    "response_score",
    "scale_estimate",
    "scale_estimate_from_rankings",
    "window_from_ranking",
    "window_layout",
]
