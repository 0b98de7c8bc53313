"""A Celery worker killed (SIGKILL) in the middle of a HiVES training run: the job stays running without a
heartbeat, the reaper hands it out again, a fresh worker resumes from the last checkpoint instead of step 0, and the
run finishes. Judgments in equal judgments stored throughout.

The encoder is the tiny randomly initialised BERT of the HiVES tests; the worker runs with settings that point it at
this test's artefact folder (a settings module written for the test).
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
from labeling.services.taxonomy import taxonomy_load
from modeling.models import EmbeddingModel
from modeling.services.hives import hives_training_start, version_dir
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool
from tests.integration.conftest import ROOT, _purge_broker, _worker_env
from tests.modeling.hives_helpers import import_platform_texts, tiny_model_dir

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Long enough to kill the worker between checkpoints, short enough for the test suite.
HYPERPARAMETERS = {"stage1_steps": 80, "batch_size": 8, "n_positives": 2, "checkpoint_every": 5, "max_length": 24,
                   "seed": 1}


class Worker:
    def __init__(self, log: Path, settings_folder: Path) -> None:
        environment = _worker_env(connection.settings_dict["NAME"])
        environment.update(
            DJANGO_SETTINGS_MODULE="fault_settings",
            PYTHONPATH=f"{settings_folder}:{ROOT}",
            VALUEFLOW_JOB_STALE_AFTER_S="2",
        )
        self.log = log
        handle = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", "default,gpu",
             "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for(lambda: b"ready." in log.read_bytes(), timeout_s=90, what=f"the worker:\n{log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            import os

            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)


def wait_for(predicate, *, timeout_s: float, what: str, poll_s: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def workers(tmp_path, settings):
    """Start workers whose settings share this test's artefact folder and tiny encoder; all killed at the end."""
    artifacts = tmp_path / "artifacts"
    settings.MODELING_ARTIFACTS_DIR = artifacts
    model = tiny_model_dir(tmp_path / "tiny-bert")
    settings.VALUEFLOW_HIVES_BASE_MODEL = str(model)
    settings.VALUEFLOW_HIVES_MAX_LENGTH = 24
    settings.VALUEFLOW_GPU_WORKER = False
    folder = tmp_path / "settings"
    folder.mkdir()
    (folder / "fault_settings.py").write_text(
        "from pathlib import Path\n"
        "from config.settings.test import *  # noqa: F403\n"
        f"MODELING_ARTIFACTS_DIR = Path({str(artifacts)!r})\n"
        f"VALUEFLOW_HIVES_BASE_MODEL = {str(model)!r}\n"
        "VALUEFLOW_HIVES_MAX_LENGTH = 24\n"
        "VALUEFLOW_GPU_WORKER = False\n"
    )
    _purge_broker()
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(tmp_path / f"worker-{len(started)}.log", folder)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill(signal.SIGTERM)
        worker.kill()


def test_a_training_run_resumes_from_its_checkpoint_after_the_worker_is_killed(
    workers, researcher, annotator, tmp_path
):
    taxonomy_load()
    import_platform_texts(tmp_path / "imports", user=researcher)
    value = value_with_pool(n_items=8, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    truth = {item_id: float(item_id) for item_id in value.pool_items.values_list("id", flat=True)}
    judged = [j.pk for j in judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=5)]

    first = workers()
    version = hives_training_start(hyperparameters=dict(HYPERPARAMETERS), created_by=researcher)
    checkpoint = version_dir(version) / "checkpoints" / "checkpoint.pt"
    wait_for(checkpoint.is_file, timeout_s=180, poll_s=0.05, what="the first checkpoint")
    first.kill()

    job = Job.objects.get(pk=version.job_id)
    assert job.status == Job.Status.RUNNING, "the run finished before the worker was killed"
    assert EmbeddingModel.objects.get(pk=version.pk).status == EmbeddingModel.Status.TRAINING

    workers()
    time.sleep(2.5)  # the dead run's heartbeat goes stale
    app.send_task("common.tasks.jobs_reap_stale", queue="default")
    wait_for(lambda: Job.objects.get(pk=job.pk).is_terminal, timeout_s=240, poll_s=0.5, what="the resumed run")

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.result["resumed_from_step"] > 0, "the second attempt started again from step 0"
    assert EmbeddingModel.objects.get(pk=version.pk).status != EmbeddingModel.Status.TRAINING
    assert sorted(Judgment.objects.values_list("id", flat=True)) == sorted(judged)
