"""`manage.py benchmark refit` prints one JSON line with the measurements the README quotes."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

KEYS = {
    "benchmark", "items", "judgments", "listwise", "backend", "seconds", "warm_seconds", "iterations",
    "warm_iterations", "peak_mb", "spearman", "ci_coverage",
}


def _run(*args: str) -> dict:
    out = StringIO()
    call_command("benchmark", "refit", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_refit_on_pairs_prints_one_json_line_with_every_measurement():
    result = _run("--items", "300", "--judgments", "6000", "--seed", "1")
    assert KEYS <= result.keys()
    assert result["benchmark"] == "refit" and result["items"] == 300 and result["listwise"] == 2
    assert result["backend"] == "choix"
    assert result["seconds"] > 0 and result["warm_seconds"] > 0 and result["peak_mb"] > 0
    assert result["spearman"] > 0.9 and 0.85 <= result["ci_coverage"] <= 1.0


def test_refit_on_lists_above_choix_size_uses_lbfgs():
    result = _run("--items", "300", "--judgments", "1500", "--listwise", "4", "--backend", "lbfgs")
    assert result["backend"] == "lbfgs" and result["listwise"] == 4
    assert result["warm_iterations"] < result["iterations"]


def test_an_impossible_setting_is_a_command_error():
    with pytest.raises(CommandError, match="--listwise 8 needs at least 8 items"):
        _run("--items", "5", "--judgments", "10", "--listwise", "8")
