"""Jobs run by a real Celery worker: a researcher's import reaches the worker through Redis and lands in
PostgreSQL; a job whose handler fails says why; a second delivery of a finished job changes nothing."""

import time

import pytest

from common.models import Job
from common.services import job_create, job_run
from labeling.models import PoolItem, Text
from labeling.services.taxonomy import taxonomy_load

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait_for(job: Job, timeout_s: float = 60) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_terminal:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.pk} still {job.status} after {timeout_s} s")


def test_an_import_job_runs_on_a_real_worker_and_a_broken_file_fails_with_its_line(
    celery_worker_process, researcher, tmp_path
):
    taxonomy_load()
    worker = celery_worker_process("default")
    good = tmp_path / "good.jsonl"
    good.write_text(
        '{"text": "I always keep my promises to friends.", "theory": "duties", "value": "fidelity", "intensity": 6}\n'
        '{"text": "Promises are just words to me.", "theory": "duties", "value": "fidelity", "intensity": -6}\n'
    )
    job = job_create(kind="labeling.import_texts", params={"format": "jsonl", "paths": [str(good)]},
                     created_by=researcher)
    job = _wait_for(job)
    assert job.status == Job.Status.SUCCEEDED, worker.log()[-2000:]
    assert job.progress == 1.0
    assert job.result["texts_created"] == 2
    assert PoolItem.objects.filter(value__key="fidelity", prior_intensity=6).count() == 1

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "A fine line.", "theory": "duties", "value": "fidelity"}\n{"text": ""}\n')
    failed = _wait_for(job_create(kind="labeling.import_texts", params={"format": "jsonl", "paths": [str(broken)]},
                                  created_by=researcher))
    assert failed.status == Job.Status.FAILED
    assert "broken.jsonl:2" in failed.error
    assert Text.objects.count() == 2  # nothing of the broken file was stored

    # A second delivery of a finished job is harmless.
    assert job_run(job_id=job.pk).status == Job.Status.SUCCEEDED
    assert Text.objects.count() == 2
