"""`manage.py benchmark adaptive` and `benchmark reliability` print one JSON line with the figures the issue asks
for (small settings here; docs/benchmarks.md has the full-size numbers)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def _run(*args: str) -> dict:
    out = StringIO()
    call_command("benchmark", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_adaptive_selection_reaches_the_target_with_fewer_judgments_than_random_pairs():
    result = _run("adaptive", "--items", "300", "--seeds", "1")

    assert result["benchmark"] == "adaptive" and result["items"] == 300 and result["target_spearman"] == 0.95
    run = result["runs"][0]
    assert run["random"] is not None and run["adaptive"] is not None
    assert result["saving"] == pytest.approx(1 - run["adaptive"] / run["random"], abs=1e-4)
    assert result["saving"] > 0  # one small seeded pool; the 2,000-text median of 5 seeds is in docs/benchmarks.md
    assert result["random_judgments"] == run["random"] and result["adaptive_judgments"] == run["adaptive"]


def test_the_samplers_precision_floor_starts_from_the_refits_prior():
    """labeling cannot import modeling: the sampler keeps its own copy of the refit's prior strength."""
    from labeling.services.sampling import PRIOR_PRECISION
    from modeling.services.fits import PRIOR_STRENGTH

    assert PRIOR_PRECISION == PRIOR_STRENGTH


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_next_latency_is_measured_through_the_service_on_a_published_pool():
    result = _run(
        "adaptive", "--next-latency", "--next-items", "300", "--next-requests", "20", "--next-annotators", "3",
        "--clone-database",
    )

    figures = result["next_latency"]
    assert result["benchmark"] == "adaptive" and figures["items"] == 300 and figures["requests"] == 20
    assert figures["next_p50_ms"] <= figures["next_p95_ms"] <= figures["next_p99_ms"]
    assert figures["next_cpu_p95_ms"] > 0 and figures["target_next_p95_ms"] == 50.0
    assert figures["adaptive_share"] >= 0.5  # most requests chosen by the sampler, the rest random or QC
    assert figures["sampler_candidates"] == 300  # the pool is smaller than the sample: every text is a candidate


def test_reliability_weighting_keeps_the_honest_accuracy_and_flags_the_bad_annotators():
    result = _run("reliability", "--items", "300", "--annotators", "20", "--seeds", "1")

    assert result["benchmark"] == "reliability"
    assert {"spearman_drop", "flag_recall", "false_flag_rate"} <= result.keys()
    assert result["spearman_drop"] <= 0.02
    assert result["flag_recall"] >= 0.9 and result["false_flag_rate"] <= 0.05
    assert result["bad_annotators"] == 6  # 20 % spammers and 10 % adversarial annotators of 20
    assert result["weighted_spearman"] > result["unweighted_spearman"]


def test_impossible_settings_are_command_errors():
    with pytest.raises(CommandError, match="must leave some honest annotators"):
        _run("reliability", "--spammers", "0.6", "--adversarial", "0.5")
    with pytest.raises(CommandError, match="--target must lie in"):
        _run("adaptive", "--target", "1.5")
