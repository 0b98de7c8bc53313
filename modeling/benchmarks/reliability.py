"""`benchmark reliability`: does reliability weighting protect the intensities from bad annotators, and does the
auto-pause rule find them without flagging honest people?

In-process simulation (modeling/ml/reliability.py's `simulate_crowd_pairs`), per seed:

- a truth (utilities uniform, the moderate noise level's spread) and a crowd of `--annotators` who each get a
  uniformly drawn share of `--judgments-per-item` × items / 2 random pairs shown in random order: honest annotators
  answer by the Bradley–Terry model, `--spammers` (20 %) at random, `--adversarial` (10 %) against the truth; every
  annotator has a side bias drawn from N(0, `--side-bias-sd`²) (a preference for the left-hand text);
- `honest_spearman`: a plain fit of the honest annotators' judgments alone (as if the bad ones had never joined);
- `weighted_spearman`: the mixed crowd fitted as the live refit does, with reliabilities estimated jointly and
  judgments weighted by them; `unweighted_spearman`: the mixed crowd without reliability, for comparison;
- flags: annotators the auto-pause rule would pause — upper 95 % bound of reliability below `--threshold`, with at
  least the rule's minimum number of judgments.

Printed: `spearman_drop` (median over seeds of honest − weighted; target ≤ 0.02), `flag_recall` (share of bad
annotators flagged, pooled over seeds; target ≥ 0.9) and `false_flag_rate` (share of honest annotators flagged;
target ≤ 0.05). Fits use the live refit's prior strength and the O(m) backend (the same optimum as choix).
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from common.arguments import positive_int
from modeling.ml.agreement import data_subset
from modeling.ml.plackett_luce import fit
from modeling.ml.planning import NOISE_SPREADS
from modeling.ml.reliability import fit_with_reliability, simulate_crowd_pairs
from modeling.services.fits import PRIOR_STRENGTH
from modeling.services.reliability import MIN_JUDGMENTS_FOR_PAUSE

HELP = "Mixed crowd with spammers and adversarial annotators: Spearman drop, flag recall and false flags."
TARGETS = {"spearman_drop": 0.02, "flag_recall": 0.9, "false_flag_rate": 0.05}


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1), got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=positive_int, default=1000, help="texts in the pool")
    parser.add_argument("--annotators", type=positive_int, default=50)
    parser.add_argument("--judgments-per-item", type=positive_int, default=15)
    parser.add_argument("--spammers", type=_share, default=0.2, help="share of annotators answering at random")
    parser.add_argument("--adversarial", type=_share, default=0.1, help="share answering against the truth")
    parser.add_argument("--side-bias-sd", type=float, default=0.3, help="spread of the annotators' left-hand bias")
    parser.add_argument("--threshold", type=float, default=0.5, help="the campaigns' reliability threshold")
    parser.add_argument("--noise", choices=sorted(NOISE_SPREADS), default="moderate")
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="first seed")


def run(options: dict[str, Any]) -> dict[str, Any]:
    return reliability_benchmark(
        items=options["items"],
        annotators=options["annotators"],
        judgments_per_item=options["judgments_per_item"],
        spammers=options["spammers"],
        adversarial=options["adversarial"],
        side_bias_sd=options["side_bias_sd"],
        threshold=options["threshold"],
        noise=options["noise"],
        seeds=options["seeds"],
        first_seed=options["seed"],
    )


def reliability_benchmark(
    *,
    items: int = 1000,
    annotators: int = 50,
    judgments_per_item: int = 15,
    spammers: float = 0.2,
    adversarial: float = 0.1,
    side_bias_sd: float = 0.3,
    threshold: float = 0.5,
    noise: str = "moderate",
    seeds: int = 5,
    first_seed: int = 0,
) -> dict[str, Any]:
    if spammers + adversarial >= 1:
        raise ValueError("--spammers + --adversarial must leave some honest annotators.")
    if items < 10:
        raise ValueError(f"--items must be at least 10, got {items}.")
    started = time.perf_counter()
    n_judgments = judgments_per_item * items // 2
    drops, weighted_rhos, honest_rhos, unweighted_rhos, bias_correlations = [], [], [], [], []
    bad_flagged = bad_total = honest_flagged = honest_total = 0
    rounds = []
    for seed in range(first_seed, first_seed + seeds):
        rng = np.random.default_rng(seed)
        half_range = math.sqrt(3.0) * NOISE_SPREADS[noise]
        truth = rng.uniform(-half_range, half_range, size=items)
        crowd = simulate_crowd_pairs(
            truth, n_judgments, n_annotators=annotators, spammer_share=spammers, adversarial_share=adversarial,
            side_bias_sd=side_bias_sd, seed=rng,
        )
        honest = crowd.kinds == "honest"
        honest_judgments = honest[crowd.layout.judgment_annotator]
        settings: dict[str, Any] = {"prior_strength": PRIOR_STRENGTH, "choix_max_items": 0}
        honest_fit = fit(data_subset(crowd.data, honest_judgments), compute_se=False, **settings)
        weighted = fit_with_reliability(crowd.data, crowd.layout, **settings)
        plain = fit(crowd.data, compute_se=False, **settings)
        honest_rho = float(spearmanr(honest_fit.utilities, truth).statistic)
        weighted_rho = float(spearmanr(weighted.result.utilities, truth).statistic)
        honest_rhos.append(honest_rho)
        weighted_rhos.append(weighted_rho)
        unweighted_rhos.append(float(spearmanr(plain.utilities, truth).statistic))
        drops.append(honest_rho - weighted_rho)
        estimates = weighted.estimates
        flagged = estimates.confidently_below(threshold) & (estimates.n_judgments >= MIN_JUDGMENTS_FOR_PAUSE)
        bad_flagged += int((flagged & ~honest).sum())
        bad_total += int((~honest).sum())
        honest_flagged += int((flagged & honest).sum())
        honest_total += int(honest.sum())
        bias_correlations.append(float(np.corrcoef(estimates.side_bias, crowd.true_side_bias)[0, 1]))
        rounds.append(weighted.rounds)
    recall = bad_flagged / bad_total if bad_total else None
    false_flags = honest_flagged / honest_total if honest_total else None
    drop = float(np.median(drops))
    return {
        "benchmark": "reliability",
        "items": items,
        "annotators": annotators,
        "judgments": n_judgments,
        "judgments_per_annotator": round(n_judgments / annotators, 1),
        "spammers": spammers,
        "adversarial": adversarial,
        "threshold": threshold,
        "seeds": seeds,
        "spearman_drop": round(drop, 4),
        "flag_recall": None if recall is None else round(recall, 4),
        "false_flag_rate": None if false_flags is None else round(false_flags, 4),
        "meets_targets": bool(
            drop <= TARGETS["spearman_drop"]
            and recall is not None and recall >= TARGETS["flag_recall"]
            and false_flags is not None and false_flags <= TARGETS["false_flag_rate"]
        ),
        "targets": TARGETS,
        "honest_spearman": round(float(np.median(honest_rhos)), 4),
        "weighted_spearman": round(float(np.median(weighted_rhos)), 4),
        "unweighted_spearman": round(float(np.median(unweighted_rhos)), 4),
        "side_bias_correlation": round(float(np.median(bias_correlations)), 4),
        "bad_flagged": bad_flagged,
        "bad_annotators": bad_total,
        "honest_flagged": honest_flagged,
        "honest_annotators": honest_total,
        "rounds": int(np.median(rounds)),
        "seconds": round(time.perf_counter() - started, 2),
    }
