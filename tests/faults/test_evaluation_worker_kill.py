"""A Celery worker killed (SIGKILL) in the middle of a steering evaluation: the job is reaped and handed out again, a
fresh worker resumes where the database says the work stands — no response generated twice, every finished judge
window kept — and the evaluation finishes with its report. Judgments in equal judgments stored throughout.

The steered model and the judge are the scripted loopback OpenAI-compatible servers of the evaluation tests,
running in this process; the worker reaches them over HTTP. The judge answers slowly so the worker can be killed
between two judging rounds' windows. The worker's batch lease is 3 s (production: 15 minutes): a resumed run waits
that long for the batch the dead worker held.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from common.models import Job
from config.celery_app import app
from labeling.models import Judgment
from modeling.models import JudgeWindow, SteeredResponse, SteeringEvaluation
from modeling.services.evaluations import EvaluationSettings, evaluation_create, evaluation_launch
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool
from tests.integration.conftest import ROOT, _purge_broker, _worker_env
from tests.modeling.evaluation_helpers import (
    OracleJudge,
    ScriptedSteeredModel,
    loopback_servers,
    scored_value,
    scripted_endpoints,
    small_query_set,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WINDOWS = 54  # 3 queries × 6 conditions × 3 windows


class SlowJudge(OracleJudge):
    """The oracle judge, a fraction of a second per window: long enough to kill the worker mid-round."""

    def chat(self, conversations, **options):  # type: ignore[no-untyped-def]
        time.sleep(0.25 * len(conversations))
        return super().chat(conversations, **options)


def wait_for(predicate, *, timeout_s: float, what: str, poll_s: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class Worker:
    def __init__(self, log: Path) -> None:
        environment = _worker_env(connection.settings_dict["NAME"])
        environment.update(VALUEFLOW_JOB_STALE_AFTER_S="2", VALUEFLOW_EVALUATION_BATCH_LEASE_S="3")
        handle = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", "default",
             "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(lambda: b"ready." in log.read_bytes(), timeout_s=90, what=f"the worker:\n{log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        import os

        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)


@pytest.fixture
def workers(tmp_path):
    _purge_broker()
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill(signal.SIGTERM)
        worker.kill()


def test_an_evaluation_resumes_after_its_worker_is_killed_without_redoing_finished_work(
    workers, platform_admin, researcher, annotator, tmp_path
):
    value = value_with_pool(n_items=8, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    truth = {item_id: float(item_id) for item_id in value.pool_items.values_list("id", flat=True)}
    judged = [j.pk for j in judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=5)]

    with loopback_servers() as servers:
        model, judge = ScriptedSteeredModel(), SlowJudge()
        steered, judging = scripted_endpoints(servers, model, judge)
        benevolence = scored_value(tmp_path)
        evaluation = evaluation_create(
            settings=EvaluationSettings(
                name="Killed mid-way", backend_ids=[steered.pk], value_ids=[benevolence.pk],
                query_set_id=small_query_set().pk, judge="llm", judge_backend_id=judging.pk, window_size=6,
                windows_per_response=3, seed=7,
            ),
            created_by=platform_admin,
        )
        first = workers()
        job = evaluation_launch(evaluation=evaluation, user=platform_admin)
        windows = JudgeWindow.objects.filter(response__evaluation=evaluation)
        wait_for(lambda: windows.count() >= 18, timeout_s=240, what="the first judging round")
        first.kill()

        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING, "the evaluation finished before the worker was killed"
        kept = set(windows.values_list("id", flat=True))
        assert 18 <= len(kept) < WINDOWS
        generated = model.calls

        workers()
        time.sleep(2.5)  # the dead run's heartbeat goes stale
        app.send_task("common.tasks.jobs_reap_stale", queue="default")
        wait_for(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout_s=300, poll_s=0.5, what="the resumed run")

    job.refresh_from_db()
    evaluation.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert evaluation.status == SteeringEvaluation.Status.FINISHED
    assert model.calls == generated  # no response generated again
    assert SteeredResponse.objects.filter(evaluation=evaluation, response="").count() == 0
    assert windows.count() == WINDOWS
    assert kept <= set(windows.values_list("id", flat=True))  # every window finished before the kill was kept
    # Each window was judged once, save those in flight when the worker died (at most one batch's requests).
    assert WINDOWS <= judge.answered <= WINDOWS + 24
    assert sorted(Judgment.objects.values_list("id", flat=True)) == sorted(judged)
