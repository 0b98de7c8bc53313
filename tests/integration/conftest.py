"""A real Celery worker process for the few integration tests that need one.

The worker talks to the same PostgreSQL test database and a Redis broker, so tests using it must be transactional
(`@pytest.mark.django_db(transaction=True)`): the worker cannot see uncommitted rows.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _worker_env(database_name: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database_name}"
        ),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        REDIS_URL=settings.REDIS_URL,
        OMP_NUM_THREADS="1",
    )
    return env


def _purge_broker() -> None:
    from kombu import Queue

    from config.celery_app import app

    with app.connection_for_write() as conn:
        for queue in ("default", "refit", "gpu"):
            try:
                Queue(queue, channel=conn.default_channel).purge()
            except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                pass


class WorkerProcess:
    """Start, wait for, and kill (gracefully or with SIGKILL) a `celery worker` subprocess."""

    def __init__(self, queues: str, log_path: Path) -> None:
        self.queues = queues
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", self.queues,
             "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            cwd=ROOT, env=_worker_env(connection.settings_dict["NAME"]), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def celery_worker_process(tmp_path):
    """Factory: `celery_worker_process("default,refit")` starts a worker; all are killed at teardown."""
    _purge_broker()
    started: list[WorkerProcess] = []

    def start(queues: str = "default,refit,gpu") -> WorkerProcess:
        worker = WorkerProcess(queues, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill(signal.SIGTERM)
        worker.kill()
