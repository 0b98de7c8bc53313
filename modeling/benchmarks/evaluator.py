"""`benchmark evaluator`: how accurately does the anchor-based evaluator score texts of known intensity?

The targets (issue 6): with windows of k = 6 texts and m = 3 windows per text, against a simulated judge that ranks
by true intensity with logistic noise, the mean absolute error is at most 1 intensity point and the 95 % intervals
cover the truth for at least 90 % of texts; scoring one text from its windows takes under 5 ms. The same windows
are also scored with the reference's fixed 1:1 logit-to-point scale (`mae_fixed_scale`, `coverage_fixed_scale`).

The default judge perceives each text at its true intensity plus logistic noise of scale 1/√2 points: its pairwise
preferences then have the spread the reference's own 1:1 model assumes (a logistic of scale 1 point in the
difference), and it agrees with the truth on ~93 % of random text pairs. Anchors' known intensities carry a normal
error of 0.5 points (published intensities are estimates). `noisier_judge` repeats the run with a judge
about twice as noisy (logistic scale 1.5 points, ~87 % agreement): there the fixed 1:1 scale's intervals lose
their coverage, which is why the evaluator estimates the scale. modeling/ml/evaluator/simulate.py runs it.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from common.arguments import positive_int
from modeling.ml.evaluator.simulate import SimulationSettings, simulate_evaluator

HELP = "Simulated noisy judge: evaluator MAE, 95 % coverage and ms per text, with the scale estimated vs fixed 1:1."
DEFAULT_NOISE = 1 / math.sqrt(2)
NOISIER_NOISE = 1.5
TARGET = {"mae": 1.0, "coverage": 0.9, "ms_per_response": 5.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--responses", type=positive_int, default=1000, help="texts scored")
    parser.add_argument("--window-size", type=positive_int, default=6, help="k: the text and k − 1 anchors")
    parser.add_argument("--windows", type=positive_int, default=3, help="m: windows per text")
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="judge's logistic noise scale (points)")
    parser.add_argument("--noisier", type=float, default=NOISIER_NOISE, help="noise of the second, noisier judge")
    parser.add_argument("--anchor-error", type=float, default=0.5, help="error sd of the anchors' known intensities")
    parser.add_argument("--anchors", type=positive_int, default=200, help="anchor panel size")
    parser.add_argument("--static", action="store_true", help="bucketed anchors in every window (no adaptive choice)")
    parser.add_argument("--seed", type=int, default=0)


def run(options: dict[str, Any]) -> dict[str, Any]:
    base = {
        "responses": options["responses"],
        "window_size": options["window_size"],
        "windows_per_response": options["windows"],
        "anchors": options["anchors"],
        "anchor_error": options["anchor_error"],
        "adaptive": not options["static"],
        "seed": options["seed"],
    }
    outcome = simulate_evaluator(SimulationSettings(noise=options["noise"], **base))
    noisier = simulate_evaluator(SimulationSettings(noise=options["noisier"], **base))
    figures = outcome.to_dict()
    return {
        "benchmark": "evaluator",
        "mae": figures["mae"],
        "coverage": figures["coverage"],
        "mae_fixed_scale": figures["mae_fixed_scale"],
        "coverage_fixed_scale": figures["coverage_fixed_scale"],
        "ms_per_response": figures["ms_per_response"],
        "targets_met": outcome.mae <= TARGET["mae"]
        and outcome.coverage >= TARGET["coverage"]
        and outcome.ms_per_response < TARGET["ms_per_response"],
        "settings": {**base, "noise": round(options["noise"], 4)},
        "judge_pairwise_agreement": figures["judge_pairwise_agreement"],
        "scale_logits_per_point": figures["scale"],
        "scale_se": figures["scale_se"],
        "mean_ci_width": figures["mean_ci_width"],
        "mean_ci_width_fixed_scale": figures["mean_ci_width_fixed_scale"],
        "beyond_anchors": figures["beyond_anchors"],
        "noisier_judge": {
            key: noisier.to_dict()[key]
            for key in (
                "mae", "coverage", "mae_fixed_scale", "coverage_fixed_scale", "judge_pairwise_agreement", "scale",
            )
        }
        | {"noise": options["noisier"]},
    }
