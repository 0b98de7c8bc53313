"""How close the published intensities of a simulated campaign came to the truth the bots answered from.

Two numbers (docs/benchmarks.md explains them):

- `spearman`: rank correlation between the published intensity and the true intensity, over the campaign's texts
  that received at least one judgment. Any monotone map of utilities leaves it unchanged.
- `ci_coverage`: the share of those texts whose 95 % interval covers the truth *on the utility scale*. A bot with
  noise σ and scale s answers exactly by Plackett–Luce with utilities t / (s·σ), so that is the quantity the fitted
  utilities estimate, in the same logit unit. Utilities are only defined up to an additive constant (the fit fixes
  its own with a prior centred on 0), so the fitted utilities are first shifted by their mean difference to the
  generating ones (`utility_offset`, reported); a text is covered when |û − offset − t/(s·σ)| ≤ 1.96·se.
- `ci_coverage_intensity`: the share whose published [ci_low, ci_high] contains the true intensity itself. That
  also tests the utility → intensity map, which without anchor texts is only the quantile map; it is reported for
  information, not as the coverage target.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Max
from scipy.stats import spearmanr

from labeling.models import CampaignItem, Judgment
from modeling.models import PublishedFit
from modeling.simulation.annotators import truth_key

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class ScoredText:
    content: str
    intensity: float | None
    ci_low: float | None
    ci_high: float | None
    utility: float | None
    utility_se: float | None
    judgments: int  # in this campaign


def campaign_scored_texts(*, campaign_id: int) -> list[ScoredText]:
    """Every text of the campaign with its published score (None before any fit) and its judgments there."""
    rows = CampaignItem.objects.filter(campaign_id=campaign_id).values_list(
        "pool_item__text__content",
        "pool_item__intensity",
        "pool_item__ci_low",
        "pool_item__ci_high",
        "pool_item__utility",
        "pool_item__utility_se",
        "judgments_count",
    )
    return [ScoredText(*row) for row in rows.iterator(chunk_size=5000)]


def campaign_value_ids(*, campaign_id: int) -> list[int]:
    return sorted(set(CampaignItem.objects.filter(campaign_id=campaign_id).values_list("value_id", flat=True)))


def refit_caught_up(*, value_ids: Sequence[int]) -> bool:
    """Whether every value's published fit includes its newest judgment."""
    latest = dict(
        Judgment.objects.filter(value_id__in=value_ids)
        .order_by()
        .values("value_id")
        .annotate(top=Max("id"))
        .values_list("value_id", "top")
    )
    published = dict(PublishedFit.objects.filter(value_id__in=value_ids).values_list("value_id", "fit__watermark"))
    return all(published.get(value_id, -1) >= top for value_id, top in latest.items())


def refit_wait(*, value_ids: Sequence[int], timeout_s: float, poll_s: float = 1.0) -> bool:
    """Wait until the live refit (the Celery refit queue) has published fits covering every judgment; False when
    it has not within `timeout_s` (no worker listening on the refit queue, typically)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if refit_caught_up(value_ids=value_ids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def refit_in_process(*, value_ids: Sequence[int]) -> list[int]:
    """Run the real refit service here, value by value (what a refit worker would do); returns the fit ids."""
    from modeling.services.fits import fit_value

    return [fit_value(value_id=value_id).pk for value_id in value_ids]


def accuracy_against_truth(
    *, texts: Sequence[ScoredText], truth: Mapping[str, float], generating_scale: float | None
) -> dict[str, Any]:
    """Spearman and interval coverage of the published scores of judged texts against the truth (module
    docstring). `generating_scale` = scale × noise of the bots (logit unit of the truth); None or 0 skips the
    utility-scale coverage."""
    judged = [t for t in texts if t.judgments > 0 and t.intensity is not None and truth_key(t.content) in truth]
    result: dict[str, Any] = {
        "items": len(texts),
        "judged_items": len(judged),
        "spearman": None,
        "ci_coverage": None,
        "ci_coverage_intensity": None,
        "utility_offset": None,
        "median_ci_width": None,
    }
    if len(judged) < 3:
        return result
    true_intensity = np.array([truth[truth_key(t.content)] for t in judged])
    intensity = np.array([t.intensity for t in judged], dtype=float)
    ci_low = np.array([t.ci_low for t in judged], dtype=float)
    ci_high = np.array([t.ci_high for t in judged], dtype=float)
    rho = spearmanr(intensity, true_intensity).statistic
    result["spearman"] = round(float(rho), 4) if np.isfinite(rho) else None
    result["ci_coverage_intensity"] = round(float(np.mean((ci_low <= true_intensity) & (true_intensity <= ci_high))), 4)
    result["median_ci_width"] = round(float(np.median(ci_high - ci_low)), 3)
    if generating_scale:
        utility = np.array([t.utility for t in judged], dtype=float)
        se = np.array([t.utility_se for t in judged], dtype=float)
        true_utility = true_intensity / generating_scale
        offset = float(np.mean(utility - true_utility))
        covered = np.abs(utility - offset - true_utility) <= Z_95 * se
        result["ci_coverage"] = round(float(np.mean(covered)), 4)
        result["utility_offset"] = round(offset, 4)
    return result
