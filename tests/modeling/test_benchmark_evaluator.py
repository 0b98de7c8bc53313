"""`manage.py benchmark evaluator` prints one JSON line with the evaluator's accuracy figures (estimated and fixed
1:1 scale); `benchmark steering` refuses to run without --offline, and its end-to-end run — demo corpus, simulated
crowd publishing anchors, HiVES judge, evaluation job, report — works in the test database with tiny models."""

import json
from io import StringIO

import pytest
import torch
from django.core.management import CommandError, call_command

from modeling.benchmarks.steering import steering_benchmark
from modeling.ml.llm.tiny import TINY_MODEL_ID
from tests.modeling.hives_helpers import tiny_model_dir

torch.set_num_threads(1)


def _run(*args: str) -> dict:
    out = StringIO()
    call_command("benchmark", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_the_evaluator_benchmark_prints_its_figures_on_one_line():
    result = _run("evaluator", "--responses", "120", "--seed", "2")
    assert {"mae", "coverage", "mae_fixed_scale", "coverage_fixed_scale", "ms_per_response"} <= result.keys()
    assert result["mae"] < 1.3 and result["coverage"] > 0.85 and result["ms_per_response"] < 5
    assert result["noisier_judge"]["coverage"] > result["noisier_judge"]["coverage_fixed_scale"]
    assert result["settings"]["window_size"] == 6 and result["settings"]["windows_per_response"] == 3


def test_the_steering_benchmark_runs_offline_only():
    with pytest.raises(CommandError, match="pass --offline"):
        _run("steering")


@pytest.mark.slow
@pytest.mark.django_db
def test_the_steering_benchmark_runs_end_to_end_with_tiny_models(tmp_path, settings):
    settings.VALUEFLOW_HIVES_MAX_LENGTH = 32
    result = steering_benchmark(
        model=TINY_MODEL_ID, value_keys=["svt:benevolence"], queries=2, levels=[-2, 2], max_new_tokens=8,
        hives_base_model=str(tiny_model_dir(tmp_path / "encoder")),
    )
    assert result["generations"] == 6 and result["windows"] == 18 and result["scores"] == 6
    assert result["anchors"]["svt:benevolence"]["published"] and result["anchors"]["svt:benevolence"]["judgments"] >= 40
    assert result["seconds"] > 0 and result["headline"]["series"] == 1
    (series,) = result["series"]
    assert series["value"] == "svt:benevolence" and set(series["means"]) == {"-2", "2"}
