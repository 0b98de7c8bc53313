"""Steering reports: dose–response means with intervals, Δ from baseline, monotonicity, reaches and asymmetry,
refusal rates, calibration error against the level × 4 mapping, the regime and value-type rules, multi-value
additivity vs strong-anchor dominance, run comparison, and a profile evaluation reported end to end."""

import pytest

from common.services import job_run
from modeling.services.evaluations import EvaluationSettings, evaluation_create, evaluation_launch
from modeling.services.steering_reports import (
    Scored,
    evaluation_compare,
    profile_analysis,
    series,
    steerability_regime,
    summarise,
    value_type,
)
from tests.modeling.evaluation_helpers import (
    OracleJudge,
    ScriptedSteeredModel,
    loopback_servers,
    scored_value,
    scripted_endpoints,
    small_query_set,
)


def scored(level, intensity, query=1, half=1.0) -> Scored:
    return Scored(1, query, "c", level, intensity, intensity - half, intensity + half)


def test_a_dose_response_series_reports_every_figure():
    rows = [scored(None, 1.0 + d, q) for q, d in enumerate((-0.5, 0.0, 0.5))]
    for level, centre in ((-2, -3.0), (-1, -1.0), (1, 4.0), (2, 7.0)):
        rows += [scored(level, centre + d, q) for q, d in enumerate((-0.5, 0.0, 0.5))]
    refusals = {None: (0, 3), -2: (2, 3), -1: (1, 3), 1: (0, 3), 2: (0, 3)}
    report = series(rows, refusals=refusals)

    assert report["baseline"]["mean"] == pytest.approx(1.0) and report["baseline"]["n"] == 3
    by_level = {entry["level"]: entry for entry in report["levels"]}
    assert by_level[2]["mean"] == pytest.approx(7.0) and by_level[2]["delta"] == pytest.approx(6.0)
    assert by_level[2]["ci_low"] < 7.0 < by_level[2]["ci_high"]
    assert by_level[2]["delta_ci_low"] < 6.0 < by_level[2]["delta_ci_high"]
    assert by_level[2]["target"] == 8.0 and by_level[2]["calibration_error"] == pytest.approx(1.0)
    assert by_level[-2]["refusal_rate"] == pytest.approx(2 / 3, abs=1e-4)  # figures are rounded to 4 places
    assert report["positive_reach"] == pytest.approx(6.0) and report["negative_reach"] == pytest.approx(4.0)
    assert report["asymmetry"] == pytest.approx(2.0)
    assert report["monotonicity"] > 0.9 and report["slope"] == pytest.approx(2.5, abs=0.1)
    assert report["refusal_rate"] == pytest.approx(3 / 12)
    assert report["regime"] == "strong" and report["value_type"] == "bidirectional"


@pytest.mark.parametrize(
    ("positive", "negative", "expected"),
    [(1.0, 0.5, "hard to steer"), (6.0, 1.0, "polarity-asymmetric"), (5.0, 3.0, "bidirectional"), (5.0, None, None)],
)
def test_value_types_follow_the_documented_thresholds(positive, negative, expected):
    assert value_type(positive, negative) == expected


@pytest.mark.parametrize(("slope", "regime"), [(3.0, "strong"), (1.0, "moderate"), (0.2, "weak"), (None, None)])
def test_regimes_follow_the_documented_thresholds(slope, regime):
    assert steerability_regime(slope) == regime


def test_one_response_keeps_its_own_interval_and_none_gives_no_summary():
    single = summarise([scored(1, 3.0, half=2.5)])
    assert (single.mean, single.ci_low, single.ci_high, single.n) == (3.0, 0.5, 5.5, 1)
    assert summarise([]) is None


class _Named:
    def __init__(self, name: str, key: str = "") -> None:
        self.name, self.qualified_key = name, key


def test_profiles_show_strong_anchor_dominance_when_weaker_targets_lag():
    values = {1: _Named("Benevolence", "svt:benevolence"), 2: _Named("Power", "svt:power")}
    key_to_id = {"svt:benevolence": 1, "svt:power": 2}
    baselines = {(7, 1): {"mean": 0.0}, (7, 2): {"mean": 0.0}}
    condition = "profile:svt:benevolence=+2|svt:power=-1"
    # benevolence (+2, dominant) reaches its target 8; power (−1) asked for −4 but moved up with the dominant one
    dominance = profile_analysis(
        {(7, condition, 1): [8.0, 7.0], (7, condition, 2): [1.0, 0.5]}, baselines, {7: _Named("M")}, values, key_to_id
    )
    assert dominance["verdict"] == "strong-anchor dominance"
    assert dominance["conflicting_follow_dominant_direction"] == 1
    assert dominance["conflicting_follow_own_direction"] == 0
    (profile,) = dominance["profiles"]
    assert [entry["dominant"] for entry in profile["values"]] == [True, False]

    additive = profile_analysis(
        {(7, condition, 1): [8.0], (7, condition, 2): [-3.5]}, baselines, {7: _Named("M")}, values, key_to_id
    )
    assert additive["verdict"] == "additive" and additive["conflicting_follow_own_direction"] == 1


class _Run:
    def __init__(self, series_list) -> None:
        self.report = {"series": series_list}


def test_runs_compare_side_by_side_and_say_what_a_run_did_not_measure():
    first = _Run([{"value": "svt:benevolence", "backend": "A", "slope": 2.5, "regime": "strong"}])
    second = _Run([{"value": "svt:benevolence", "backend": "B", "slope": 0.4, "regime": "weak"}])
    rows = evaluation_compare(evaluations=[first, second])
    assert [(r["value"], r["backend"]) for r in rows] == [("svt:benevolence", "A"), ("svt:benevolence", "B")]
    assert rows[0]["runs"][0]["slope"] == 2.5 and rows[0]["runs"][1]["measured"] is False


@pytest.fixture(scope="module")
def servers():
    with loopback_servers() as pair:
        yield pair


@pytest.mark.django_db
def test_a_profile_evaluation_scores_each_profile_value_and_reports_the_profiles(tmp_path, servers, platform_admin):
    benevolence, power = scored_value(tmp_path), scored_value(tmp_path, key="power")
    steered, judging = scripted_endpoints(servers, ScriptedSteeredModel(), OracleJudge())
    settings = EvaluationSettings(
        name="Profiles", backend_ids=[steered.pk], value_ids=[benevolence.pk, power.pk],
        query_set_id=small_query_set(count=2).pk, prompt_style="profile", judge="llm", judge_backend_id=judging.pk,
        profiles=[[{"value": "svt:benevolence", "level": 2}, {"value": "svt:power", "level": -1}],
                  [{"value": "svt:benevolence", "level": 1}, {"value": "svt:power", "level": 1}]],
        windows_per_response=1,
    )
    evaluation = evaluation_create(settings=settings, created_by=platform_admin)
    # 2 queries × (baseline + 2 profiles); baseline and profile responses are each scored on both values
    assert evaluation.planned["generations"] == 6 and evaluation.planned["targets"] == 12
    job_run(job_id=evaluation_launch(evaluation=evaluation, user=platform_admin).pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "finished"
    profiles = evaluation.report["profiles"]
    assert len(profiles["profiles"]) == 2
    assert {entry["value"] for p in profiles["profiles"] for entry in p["values"]} == {"svt:benevolence", "svt:power"}
    assert {s["value"] for s in evaluation.report["series"]} == {"svt:benevolence", "svt:power"}  # baselines
