"""`benchmark load`: annotators at a human pace against the whole production stack on loopback — gunicorn,
PostgreSQL, Redis (cache and broker) and a real Celery worker that refits — stepping concurrency, with the refit lag.

In a throwaway PostgreSQL database it imports a synthetic pool, starts a campaign and creates the accounts, starts a
`celery worker -Q default,refit` and gunicorn against it, and then, for each concurrency step, lets that many
annotators log in (through the login form) and work for `--seconds`: each one thinks (exponentially distributed,
mean `--think-ms`), answers a comparison from the truth and submits it with `"next": true`, whose response carries
the next comparison (`next` itself is asked only for the first one, and after a "busy"), again and again. Every
answer's judgment id and submit time are kept; a poller reads the value's published-fit watermark every 0.2 s, and
the refit lag of a judgment is the time from its submit to the first poll at which a published fit includes it.
After the last step the run waits (up to `--refit-timeout`) until the published fit holds every judgment.

It prints one JSON line: `judgments_per_s`, `p50_ms`, `p95_ms`, `p99_ms`, `errors`, `refit_lag_s` (the largest lag
seen in the last step) of the last — largest — step, with `endpoints` (percentiles of log-in, next and submit — a
submit brings the next comparison with it), and under `steps` the same figures for every step. Latencies are
client-side round trips (next and submit together for p50/p95/p99; log-ins are reported apart, they hash a password
on purpose).

Why think time: a person needs seconds to read two texts and decide. Annotators that fire requests back to back
measure the server's saturation throughput, not 200 people: by Little's law 200 requests always in flight at
500 requests/s means 400 ms each, whatever the code does. `--think-ms 0` runs that saturation test.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from common.arguments import non_negative_float, positive_int
from modeling.simulation.annotators import AnswerModel, ApiClient, ApiError, percentile, truth_key
from modeling.simulation.server import gunicorn_server, throwaway_database
from modeling.simulation.synthetic import synthetic_campaign_create

HELP = "Annotators at a human pace against gunicorn + PostgreSQL + Redis + a Celery refit worker; steps and refit lag."
# The campaign never runs dry during a run: the load test measures the steady state.
JUDGMENTS_PER_ITEM = 100_000
WATERMARK_POLL_S = 0.2
WORKER_START_TIMEOUT_S = 90.0
ENDPOINTS = ("login", "next", "submit")
# A quick human: two texts of ~150 characters read and weighed in five seconds (docs/benchmarks.md, "Load").
DEFAULT_THINK_MS = 5000.0


def _steps(raw: str) -> list[int]:
    try:
        steps = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--steps takes annotator counts separated by commas, got {raw!r}") from None
    if not steps or any(step < 1 for step in steps):
        raise argparse.ArgumentTypeError(f"--steps needs positive annotator counts, got {raw!r}")
    return steps


def _default_broker_url() -> str:
    configured = os.environ.get("CELERY_BROKER_URL", "")
    return configured if configured.startswith("redis://") else "redis://127.0.0.1:6379/12"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotators", type=positive_int, required=True, help="concurrent annotators (last step)")
    parser.add_argument("--seconds", type=non_negative_float, required=True, help="how long each step runs")
    parser.add_argument("--steps", type=_steps, default=None, help="concurrency steps, e.g. 10,50,200")
    parser.add_argument("--think-ms", type=non_negative_float, default=DEFAULT_THINK_MS,
                        help="mean think time before each answer (exponential); 0 = back to back (saturation)")
    parser.add_argument("--items", type=positive_int, default=1000, help="texts in the synthetic pool")
    parser.add_argument("--workers", type=positive_int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=positive_int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--broker-url", default=_default_broker_url(),
                        help="Redis database for the Celery broker; its queues are purged at start, so give it a "
                        "database nobody else uses (default: CELERY_BROKER_URL when it names Redis)")
    parser.add_argument("--refit-timeout", type=non_negative_float, default=120.0,
                        help="seconds to wait after the last step for a fit holding every judgment")
    parser.add_argument("--seed", type=int, default=0)


def run(options: dict[str, Any]) -> dict[str, Any]:
    steps = options["steps"] or [options["annotators"]]
    if steps != sorted(steps):
        raise ValueError(f"--steps must grow from step to step, got {','.join(map(str, steps))}.")
    if steps[-1] != options["annotators"]:
        raise ValueError(f"the last of --steps ({steps[-1]}) must equal --annotators ({options['annotators']}).")
    return load_benchmark(
        steps=steps,
        seconds=options["seconds"],
        think_ms=options["think_ms"],
        items=options["items"],
        workers=options["workers"],
        threads=options["threads"],
        broker_url=options["broker_url"],
        refit_timeout_s=options["refit_timeout"],
        seed=options["seed"],
    )


# --- what one step records ------------------------------------------------------------------------------------------


@dataclass
class StepRecord:
    annotators: int
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_examples: list[str] = field(default_factory=list)
    judgments: list[tuple[int, float]] = field(default_factory=list)  # (judgment id, monotonic submit time)
    seconds: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds spent during the step, per part
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def error(self, endpoint: str, message: str) -> None:
        with self.lock:
            self.errors[endpoint] += 1
            if len(self.error_examples) < 5 and message not in self.error_examples:
                self.error_examples.append(message)


class WatermarkPoller:
    """Reads the value's published-fit watermark every WATERMARK_POLL_S in a thread: (monotonic time, watermark)."""

    def __init__(self, value_id: int) -> None:
        self.value_id = value_id
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watermark-poller", daemon=True)

    def _run(self) -> None:
        from django.db import connection

        from modeling.models import PublishedFit

        try:
            while not self._stop.is_set():
                watermark = (
                    PublishedFit.objects.filter(value_id=self.value_id).values_list("fit__watermark", flat=True).first()
                )
                self.samples.append((time.monotonic(), int(watermark or 0)))
                self._stop.wait(WATERMARK_POLL_S)
        finally:
            connection.close()

    def start(self) -> WatermarkPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def lag_s(self, judgment_id: int, submitted_at: float) -> float | None:
        """Seconds from the submit to the first poll that saw a published fit including the judgment."""
        for at, watermark in self.samples:
            if at >= submitted_at and watermark >= judgment_id:
                return at - submitted_at
        return None


# --- CPU accounting -------------------------------------------------------------------------------------------------
# Wall-clock latencies depend on everything else the machine runs; CPU seconds per judgment hardly do. Each step
# reports the CPU time spent per judgment by the annotators (this process), gunicorn, PostgreSQL and the worker.


def _proc_stat(pid: str) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_cpu_s(process_group: int) -> float:
    """User + system CPU seconds of every live process in a process group (0 where /proc cannot tell)."""
    total = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit() and (fields := _proc_stat(entry.name)) and int(fields[2]) == process_group:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_group_listening_on(port: int) -> int | None:
    """The process group of the gunicorn serving `port` (found by its --bind argument)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if f"--bind=127.0.0.1:{port}".encode() in command and (fields := _proc_stat(entry.name)):
            return int(fields[2])
    return None


def database_cpu_by_backend(database_name: str) -> dict[str, float]:
    """CPU seconds of each PostgreSQL backend connected to the database (the server runs on this machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database_name]
        )
        pids = [str(row[0]) for row in cursor.fetchall()]
    ticks = os.sysconf("SC_CLK_TCK")
    return {pid: (int(fields[11]) + int(fields[12])) / ticks for pid in pids if (fields := _proc_stat(pid))}


@dataclass
class CpuMeter:
    server_group: int | None
    worker_group: int | None
    database_name: str

    def read(self) -> dict[str, Any]:
        return {
            "client": time.process_time(),
            "server": group_cpu_s(self.server_group) if self.server_group else 0.0,
            "database": database_cpu_by_backend(self.database_name),
            "worker": group_cpu_s(self.worker_group) if self.worker_group else 0.0,
        }

    @staticmethod
    def spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        """CPU seconds per part between two reads. Database backends are counted one by one: gunicorn's
        connections are replaced after CONN_MAX_AGE, and a backend that started during the step counts in full
        (one that ended during it is missed: the database figure is a lower bound)."""
        spent = {part: max(0.0, after[part] - before[part]) for part in ("client", "server", "worker")}
        spent["database"] = sum(
            max(0.0, seconds - before["database"].get(pid, 0.0)) for pid, seconds in after["database"].items()
        )
        return spent


# --- the worker -----------------------------------------------------------------------------------------------------


def _purge(broker_url: str) -> None:
    from kombu import Connection, Queue

    with Connection(broker_url, connect_timeout=5) as connection:
        channel = connection.default_channel
        for queue in ("default", "refit", "gpu"):
            try:
                Queue(queue, channel=channel).purge()
            except Exception:  # noqa: BLE001 - a queue that was never declared holds nothing to purge
                pass


@contextmanager
def celery_worker(*, database_url: str, broker_url: str) -> Iterator[int]:
    """A `celery worker -Q default,refit --concurrency 1` against the throwaway database; yields its process group
    and stops it on exit."""
    _purge(broker_url)
    log_path = Path(tempfile.mkstemp(prefix="valueflow-load-worker-", suffix=".log")[1])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.benchmark",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "OMP_NUM_THREADS": "1",
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", "default,refit",
             "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while b"ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process.pid  # its own session: the process group of the worker and its children
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log_path.unlink(missing_ok=True)


# --- the annotators -------------------------------------------------------------------------------------------------


def _annotate(
    *,
    client: ApiClient,
    campaign_id: int,
    truth: dict[str, float],
    protocol: str,
    allow_ties: bool,
    think_ms: float,
    rng: random.Random,
    record: StepRecord,
    stop_at: float,
) -> None:
    model = AnswerModel(noise=1.0)
    # A random first think spreads the annotators out instead of starting them in lockstep.
    pause = rng.uniform(0, think_ms / 1000) if think_ms else 0.0
    upcoming: dict[str, Any] | None = None  # the comparison the last submit's response carried
    while True:
        if pause and time.monotonic() + pause >= stop_at:
            return
        time.sleep(pause)
        if time.monotonic() >= stop_at:
            return
        data, upcoming = upcoming, None
        if data is None:
            started = time.perf_counter()
            try:
                data = client.campaign_next(campaign_id)
            except ApiError as exc:
                record.error("next", str(exc))
                pause = max(think_ms / 1000, 0.5)
                continue
            next_ms = (time.perf_counter() - started) * 1000
            with record.lock:
                record.latencies_ms["next"].append(next_ms)
        assignment = (data or {}).get("assignment")
        if not assignment:
            record.error("next", f"no comparison: {(data or {}).get('reason')}")
            pause = 1.0
            continue
        items = assignment["items"]
        answer = model.answer(
            item_ids=[int(item["id"]) for item in items],
            truths=[truth.get(truth_key(item["text"]), 0.0) for item in items],
            protocol=protocol,
            allow_ties=allow_ties,
            rng=rng,
        )
        started = time.perf_counter()
        try:
            status, body = client.assignment_submit(
                int(assignment["id"]),
                ordering=answer.ordering,
                kind=answer.kind,
                latency_ms=int(think_ms),
                then_next=True,  # the response carries the next comparison: one round trip per judgment
            )
        except ApiError as exc:
            record.error("submit", str(exc))
            pause = max(think_ms / 1000, 0.5)
            continue
        submitted_at = time.monotonic()
        with record.lock:
            record.latencies_ms["submit"].append((time.perf_counter() - started) * 1000)
            if status == 201:
                record.judgments.append((int(body["id"]), submitted_at))
        following = body.get("next") if isinstance(body, dict) else None
        upcoming = following if isinstance(following, dict) and following.get("assignment") else None
        pause = rng.expovariate(1000 / think_ms) if think_ms else 0.0


def _log_in_all(clients: list[ApiClient], accounts: list[tuple[str, str]], record: StepRecord) -> None:
    """Log every client in through the login form, in parallel; latencies go to the step's "login" figures."""

    def log_in(client: ApiClient, username: str, password: str) -> None:
        started = time.perf_counter()
        try:
            client.login(username, password)
        except ApiError as exc:
            record.error("login", str(exc))
            return
        with record.lock:
            record.latencies_ms["login"].append((time.perf_counter() - started) * 1000)

    threads = [
        threading.Thread(target=log_in, args=(client, username, password), daemon=True)
        for client, (username, password) in zip(clients, accounts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _run_step(
    *,
    clients: list[ApiClient],
    campaign_id: int,
    truth: dict[str, float],
    protocol: str,
    allow_ties: bool,
    think_ms: float,
    seconds: float,
    seed: int,
    record: StepRecord,
    meter: CpuMeter,
) -> StepRecord:
    """Let the (logged-in) clients annotate for `seconds`."""
    cpu_before = meter.read()
    rngs = [random.Random(seed * 1_000_003 + index) for index in range(len(clients))]
    started = time.monotonic()
    stop_at = started + seconds
    threads = [
        threading.Thread(
            target=_annotate,
            kwargs={
                "client": client, "campaign_id": campaign_id, "truth": truth, "protocol": protocol,
                "allow_ties": allow_ties, "think_ms": think_ms, "rng": rng, "record": record, "stop_at": stop_at,
            },
            daemon=True,
        )
        for client, rng in zip(clients, rngs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record.seconds = time.monotonic() - started
    cpu_after = meter.read()
    record.cpu_s = CpuMeter.spent(cpu_before, cpu_after)
    return record


def _summary(record: StepRecord, poller: WatermarkPoller) -> dict[str, Any]:
    requests = np.asarray(record.latencies_ms["next"] + record.latencies_ms["submit"], dtype=float)
    lags = [lag for jid, at in record.judgments if (lag := poller.lag_s(jid, at)) is not None]
    uncovered = len(record.judgments) - len(lags)
    return {
        "annotators": record.annotators,
        "seconds": round(record.seconds, 2),
        "judgments": len(record.judgments),
        "judgments_per_s": round(len(record.judgments) / record.seconds, 2) if record.seconds else 0.0,
        "requests_per_s": round(requests.size / record.seconds, 2) if record.seconds else 0.0,
        "p50_ms": percentile(requests, 50),
        "p95_ms": percentile(requests, 95),
        "p99_ms": percentile(requests, 99),
        "errors": sum(record.errors.values()),
        "errors_by_endpoint": dict(record.errors),
        "error_examples": record.error_examples,
        "refit_lag_s": round(max(lags), 2) if lags and not uncovered else None,
        "cpu_ms_per_judgment": {
            part: round(seconds * 1000 / len(record.judgments), 2) for part, seconds in record.cpu_s.items()
        } if record.judgments else {},
        "refit_lag_p50_s": round(float(np.median(lags)), 2) if lags else None,
        "judgments_never_fit": uncovered,
        "endpoints": {
            endpoint: {
                "n": len(record.latencies_ms[endpoint]),
                "p50_ms": percentile(np.asarray(record.latencies_ms[endpoint]), 50),
                "p95_ms": percentile(np.asarray(record.latencies_ms[endpoint]), 95),
                "p99_ms": percentile(np.asarray(record.latencies_ms[endpoint]), 99),
            }
            for endpoint in ENDPOINTS
        },
    }


def load_benchmark(
    *,
    steps: list[int],
    seconds: float,
    think_ms: float = DEFAULT_THINK_MS,
    items: int = 1000,
    workers: int = 2,
    threads: int = 4,
    broker_url: str = "redis://127.0.0.1:6379/12",
    refit_timeout_s: float = 120.0,
    seed: int = 0,
) -> dict[str, Any]:
    with throwaway_database() as database_url:
        synthetic = synthetic_campaign_create(
            items=items, annotators=max(steps), judgments_per_item=JUDGMENTS_PER_ITEM, seed=seed
        )
        campaign = synthetic.campaign
        value_id = campaign.values.get().pk
        records: list[StepRecord] = []
        poller = WatermarkPoller(value_id).start()
        try:
            with celery_worker(database_url=database_url, broker_url=broker_url) as worker_group, gunicorn_server(
                database_url=database_url,
                workers=workers,
                threads=threads,
                environment={"CELERY_BROKER_URL": broker_url, "DJANGO_LOG_LEVEL": "WARNING"},
            ) as server:
                meter = CpuMeter(
                    server_group=process_group_listening_on(int(server.base_url.rsplit(":", 1)[1])),
                    worker_group=worker_group,
                    database_name=settings.DATABASES["default"]["NAME"],
                )
                clients: list[ApiClient] = []
                for index, annotators in enumerate(steps):
                    record = StepRecord(annotators=annotators)
                    # Annotators of the previous step stay logged in; only the new ones log in (outside the clock:
                    # a log-in hashes a password on purpose).
                    new_clients = [ApiClient(server.base_url, timeout_s=60) for _ in range(annotators - len(clients))]
                    _log_in_all(new_clients, synthetic.accounts[len(clients):annotators], record)
                    clients.extend(new_clients)
                    records.append(
                        _run_step(
                            clients=clients[:annotators],
                            campaign_id=campaign.pk,
                            truth=synthetic.truth,
                            protocol=campaign.protocol,
                            allow_ties=campaign.allow_ties,
                            think_ms=think_ms,
                            seconds=seconds,
                            seed=seed + index,
                            record=record,
                            meter=meter,
                        )
                    )
                for client in clients:
                    client.close()
                server_log = server.log_tail() if any(sum(r.errors.values()) for r in records) else ""
                newest = max((jid for record in records for jid, _ in record.judgments), default=0)
                deadline = time.monotonic() + refit_timeout_s
                while poller.latest < newest and time.monotonic() < deadline:
                    time.sleep(WATERMARK_POLL_S)
        finally:
            poller.stop()
        stored = campaign.judgments.count()
    steps_out = [_summary(record, poller) for record in records]
    last = steps_out[-1]
    result: dict[str, Any] = {
        "benchmark": "load",
        "annotators": last["annotators"],
        "think_ms": think_ms,
        "judgments_per_s": last["judgments_per_s"],
        "p50_ms": last["p50_ms"],
        "p95_ms": last["p95_ms"],
        "p99_ms": last["p99_ms"],
        "errors": last["errors"],
        "refit_lag_s": last["refit_lag_s"],
        "endpoints": last["endpoints"],
        "cpu_ms_per_judgment": last["cpu_ms_per_judgment"],
        "steps": steps_out,
        "judgments_sent": sum(len(record.judgments) for record in records),
        "stored_judgments": stored,
        "items": items,
        "server": f"gunicorn gthread --workers {workers} --threads {threads}",
        "cores": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if server_log:
        result["server_log_tail"] = server_log
    return result
