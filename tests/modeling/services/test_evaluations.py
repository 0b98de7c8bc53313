"""Steering evaluations end to end through the services: the plan shown before launch, every setting checked, a
run that generates, judges over HTTP and scores, unreadable judge answers retried then dropped and counted, a
crashed run resumed without redoing finished work, and batches shared between workers."""

import random

import numpy as np
import pytest
from django.core.cache import cache

from common.exceptions import ApplicationError
from common.models import Job
from common.services import job_run
from modeling.models import JudgeWindow, ResponseScore, SteeredResponse, SteeringEvaluation
from modeling.services import evaluation_judges, evaluations
from modeling.services.evaluations import (
    EvaluationSettings,
    evaluation_create,
    evaluation_launch,
    evaluation_plan,
    evaluation_work,
)
from tests.modeling.evaluation_helpers import (
    CUE_INTENSITY,
    OracleJudge,
    ScriptedSteeredModel,
    loopback_servers,
    scored_value,
    scripted_endpoints,
    small_query_set,
    stated_intensity,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def servers():
    with loopback_servers() as pair:
        yield pair


@pytest.fixture
def setup(tmp_path, servers):
    model, judge = ScriptedSteeredModel(), OracleJudge()
    steered, judging = scripted_endpoints(servers, model, judge)
    return {
        "value": scored_value(tmp_path),
        "query_set": small_query_set(),
        "model": model,
        "judge": judge,
        "steered": steered,
        "judging": judging,
    }


def settings_for(setup, **changes) -> EvaluationSettings:
    fields = {
        "name": "Benevolence persona",
        "backend_ids": [setup["steered"].pk],
        "value_ids": [setup["value"].pk],
        "query_set_id": setup["query_set"].pk,
        "judge": "llm",
        "judge_backend_id": setup["judging"].pk,
        "window_size": 6,
        "windows_per_response": 3,
        "seed": 7,
    }
    return EvaluationSettings(**{**fields, **changes})


def run(evaluation: SteeringEvaluation, user) -> SteeringEvaluation:
    job = evaluation_launch(evaluation=evaluation, user=user)
    job_run(job_id=job.pk)
    evaluation.refresh_from_db()
    return evaluation


def test_the_plan_counts_generations_and_judge_calls_before_anything_runs(setup, platform_admin):
    plan = evaluation_plan(settings=settings_for(setup))
    # 3 queries × (baseline + 5 levels) = 18 generations; every response is scored on the one value, 3 windows each.
    assert (plan.generations, plan.targets, plan.windows, plan.judge_calls) == (18, 18, 54, 54)
    assert plan.per_backend == {"Scripted model": 18}
    assert any("30 anchors from imported VIDB ratings" in note for note in plan.notes)

    settings = settings_for(setup, levels=[-2, 2], include_baseline=False)
    evaluation = evaluation_create(settings=settings, created_by=platform_admin)
    assert evaluation.status == "draft" and evaluation.planned["generations"] == 6
    assert evaluation.planned["judge_calls"] == 18
    assert not SteeredResponse.objects.exists() and not Job.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"window_size": 9}, "window_size", "between 2 and 8"),
        ({"windows_per_response": 0}, "windows_per_response", "between 1 and 10"),
        ({"levels": [3]}, "levels", "−2, −1, 0, \\+1 and \\+2"),
        ({"levels": []}, "levels", "at least one steering level"),
        ({"judge_backend_id": None}, "judge_backend", "needs a judge model backend"),
        ({"judge": "oracle"}, "judge", "Unknown judge"),
        ({"prompt_style": "activation"}, "backends", "needs local models"),
        ({"prompt_style": "profile"}, "profiles", "at least one profile"),
        ({"backend_ids": []}, "backends", "at least one model backend"),
        ({"seed": -1}, "seed", "between 0 and"),
        ({"name": " "}, "name", "needs a name"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(setup, changes, field, message):
    with pytest.raises(ApplicationError, match=message) as caught:
        evaluation_plan(settings=settings_for(setup, **changes))
    assert caught.value.extra["field"] == field


def test_a_value_without_enough_anchors_is_refused(setup, tmp_path):
    thin = scored_value(tmp_path, key="power", count=3)
    with pytest.raises(ApplicationError, match="has 3 anchor texts .* needs at least 5") as caught:
        evaluation_plan(settings=settings_for(setup, value_ids=[setup["value"].pk, thin.pk]))
    assert caught.value.extra["value"] == "svt:power"


def test_an_evaluation_generates_judges_over_http_scores_and_reports(setup, platform_admin):
    evaluation = evaluation_create(settings=settings_for(setup), created_by=platform_admin)
    evaluation = run(evaluation, platform_admin)

    assert evaluation.status == "finished" and evaluation.finished_at is not None
    assert evaluation.job.status == "succeeded"
    responses = SteeredResponse.objects.filter(evaluation=evaluation)
    assert responses.count() == 18 and not responses.filter(generation_seconds__isnull=True).exists()
    windows = JudgeWindow.objects.filter(response__evaluation=evaluation)
    assert windows.count() == 54 and not windows.filter(is_valid=False).exists()
    window = windows.first()
    # every window records what was shown, where the response stood, the anchors' intensities, prompt and answer
    assert window.shown[window.response_position] is None and len(window.shown) == 6
    assert window.anchor_intensities[window.response_position] is None
    assert "Benevolence" in window.prompt and "[6]" in window.prompt and window.raw_answers[0].startswith("Here is")
    # the response's position is randomised, not always first
    assert len(set(windows.values_list("response_position", flat=True))) >= 4

    scores = {s.response_id: s for s in ResponseScore.objects.filter(response__evaluation=evaluation)}
    assert len(scores) == 18
    for response in responses:
        score = scores[response.pk]
        assert score.ci_low <= stated_intensity(response.response) <= score.ci_high or abs(
            score.intensity - stated_intensity(response.response)
        ) < 1.5
    report = evaluation.report
    (series,) = report["series"]
    assert series["value"] == "svt:benevolence" and series["backend"] == "Scripted model"
    assert [level["level"] for level in series["levels"]] == [-2, -1, 0, 1, 2]
    means = [level["mean"] for level in series["levels"]]
    assert means == sorted(means) and series["monotonicity"] > 0.9
    expected = np.asarray(list(CUE_INTENSITY.values())[::-1])
    assert np.allclose(means, expected, atol=1.5)
    assert series["baseline"]["mean"] == pytest.approx(1.0, abs=1.5)
    assert series["positive_reach"] == pytest.approx(6.0, abs=1.5)
    assert series["negative_reach"] == pytest.approx(5.0, abs=1.5)
    assert series["value_type"] == "bidirectional" and series["regime"] == "strong"
    assert report["counts"]["windows"] == 54 and report["counts"]["invalid_windows"] == 0
    assert report["scales"]["svt:benevolence"]["logits_per_point"] > 1.0  # a noiseless judge is sharp


def test_unreadable_judge_answers_are_retried_then_dropped_and_counted(setup, platform_admin, tmp_path):
    setup["judge"].garble_first = True  # every first (greedy) answer is unreadable; retries answer properly
    setup["judge"].garble_when = "Is it fine to skip a family dinner?"  # windows of this query never parse
    evaluation = run(evaluation_create(settings=settings_for(setup), created_by=platform_admin), platform_admin)

    windows = JudgeWindow.objects.filter(response__evaluation=evaluation)
    dropped = windows.filter(is_valid=False)
    assert dropped.count() == 18  # 6 responses to that query × 3 windows
    assert all(len(w.raw_answers) == 1 + evaluation_judges.JUDGE_RETRIES and w.ordering is None for w in dropped)
    assert all(len(w.raw_answers) == 2 for w in windows.filter(is_valid=True))  # one retry each
    counts = evaluation.report["counts"]
    assert counts["invalid_windows"] == 18 and counts["retried_windows"] == 54
    # the responses whose windows were all dropped get no score; the others do
    assert ResponseScore.objects.filter(response__evaluation=evaluation).count() == 12


def test_a_crashed_run_resumes_without_redoing_finished_work(setup, platform_admin, monkeypatch):
    evaluation = evaluation_create(settings=settings_for(setup), created_by=platform_admin)
    real_rank = evaluation_judges.LlmJudge.rank
    calls = {"n": 0}

    def crash_in_round_two(self, requests):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost")
        return real_rank(self, requests)

    monkeypatch.setattr(evaluation_judges.LlmJudge, "rank", crash_in_round_two)
    evaluations_run = run(evaluation, platform_admin)
    assert evaluations_run.status == "failed" and "worker lost" in evaluations_run.report["error"]
    generated_before = setup["model"].calls
    windows_before = JudgeWindow.objects.filter(response__evaluation=evaluation).count()
    assert windows_before == 18  # the first round finished and stays

    monkeypatch.setattr(evaluation_judges.LlmJudge, "rank", real_rank)
    evaluation = run(evaluation, platform_admin)
    assert evaluation.status == "finished"
    assert setup["model"].calls == generated_before  # no response generated twice
    assert JudgeWindow.objects.filter(response__evaluation=evaluation).count() == 54
    assert setup["judge"].answered == 54  # each window judged once


def test_a_helper_worker_takes_the_batches_nobody_holds(setup, platform_admin):
    evaluation = evaluation_create(settings=settings_for(setup), created_by=platform_admin)
    SteeringEvaluation.objects.filter(pk=evaluation.pk).update(status="running")
    evaluation.refresh_from_db()
    evaluations._responses_plan(evaluation)
    held = evaluations._lease_key(evaluation, "generate", 0)
    cache.add(held, "another worker", 60)
    try:
        processed = evaluation_work(evaluation_id=evaluation.pk, stage="generate")
    finally:
        cache.delete(held)
    batches, pending = evaluations._stage_batches(evaluation, "generate")
    assert processed == len(batches) - 1 and pending() == {0}
    assert evaluation_work(evaluation_id=evaluation.pk, stage="generate") == 1 and pending() == set()


def test_human_judges_rank_probes_in_a_campaign_and_the_evaluation_waits_for_them(setup, platform_admin, annotator):
    from labeling.services.assignment import assignment_next
    from labeling.services.judgments import judgment_submit
    from modeling.services.evaluation_humans import evaluation_human_collect

    settings = settings_for(
        setup, judge="human", judge_backend_id=None, levels=[-2, 2], window_size=4, windows_per_response=2
    )
    evaluation = run(evaluation_create(settings=settings, created_by=platform_admin), platform_admin)
    assert evaluation.status == "waiting" and evaluation.human_campaign is not None
    assert set(evaluation.planned["human_anchors"]) == {str(setup["value"].pk)}
    early = evaluation_human_collect(evaluation=evaluation)
    assert (early.judgments, early.finished) == (0, False) and evaluation.report["progress"]["probes"] == 9

    campaign = evaluation.human_campaign
    rng, sampler = np.random.default_rng(0), random.Random(0)
    for _ in range(200):
        lease = assignment_next(campaign=campaign, annotator=annotator, rng=sampler).assignment
        if lease is None:
            break
        texts = dict(
            campaign.items.filter(pool_item_id__in=lease.item_ids).values_list(
                "pool_item_id", "pool_item__text__content"
            )
        )
        perceived = {i: stated_intensity(texts[i]) + 0.3 * rng.logistic() for i in lease.item_ids}
        ordering = [[i] for i in sorted(lease.item_ids, key=lambda i: -perceived[i])]
        judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=ordering)
    progress = evaluation_human_collect(evaluation=evaluation)
    assert progress.finished and progress.complete and progress.probes_complete == 9
    evaluation.refresh_from_db()
    assert evaluation.status == "finished" and evaluation.human_campaign.status == "finished"
    windows = JudgeWindow.objects.filter(response__evaluation=evaluation, judge="human")
    assert windows.exists() and all("judgment" in w.raw_answers[0] for w in windows)
    scores = ResponseScore.objects.filter(response__evaluation=evaluation, judge="human").select_related("response")
    stated = [stated_intensity(s.response.response) for s in scores]
    # two windows with the anchors the campaign happened to show: wide intervals, but they hold the truth, and the
    # levels come out in their order
    assert len(stated) == 9 and sum(s.ci_low <= t <= s.ci_high for s, t in zip(scores, stated, strict=True)) >= 8
    by_truth = {t: np.mean([s.intensity for s, u in zip(scores, stated, strict=True) if u == t]) for t in set(stated)}
    assert by_truth[-4.0] < by_truth[1.0] < by_truth[7.0]


def test_a_cache_outage_does_not_stall_a_run(setup, platform_admin, monkeypatch):
    """While Redis is down the resilient cache answers every add with False and every get with a miss."""
    monkeypatch.setattr(evaluations.cache, "add", lambda *args, **kwargs: False)
    monkeypatch.setattr(evaluations.cache, "get", lambda *args, **kwargs: None)
    evaluation = evaluation_create(settings=settings_for(setup, levels=[2]), created_by=platform_admin)
    evaluation = run(evaluation, platform_admin)
    assert evaluation.status == "finished"
    assert JudgeWindow.objects.filter(response__evaluation=evaluation).count() == 6 * 3


def test_a_resumed_job_takes_over_at_once_the_batches_its_dead_attempt_held(setup, platform_admin):
    import time

    evaluation = evaluation_create(settings=settings_for(setup, levels=[2]), created_by=platform_admin)
    job = evaluation_launch(evaluation=evaluation, user=platform_admin)
    evaluation.refresh_from_db()
    key = evaluations._lease_key(evaluation, "generate", 0)
    # a helper's lease is respected; so is the lease of a later attempt
    for holder in ("helper:busy", f"job:{job.pk}:2:newer"):
        cache.set(key, holder, 900)
        assert not evaluations._claim(key, "mine", 900, superseded=evaluations._superseded_by(job.pk, 1))
    # the worker of an earlier attempt died holding the first generation batch (leases last 15 minutes)
    cache.set(key, f"job:{job.pk}:0:dead-worker", 900)
    started = time.monotonic()
    job_run(job_id=job.pk)
    evaluation.refresh_from_db()
    assert evaluation.status == "finished" and time.monotonic() - started < 60
    assert not SteeredResponse.objects.filter(evaluation=evaluation, generation_seconds__isnull=True).exists()
