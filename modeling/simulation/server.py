"""A platform to benchmark against: a throwaway PostgreSQL database migrated from scratch, and the real WSGI
application under gunicorn on a free loopback port.

`throwaway_database()` points this process's default connection at a new database `valueflow_bench_<pid>` on the
same PostgreSQL server as the current settings, migrates it, and drops it on exit, so a benchmark never touches the
data of the database it was started against. `gunicorn_server()` runs gunicorn against a database URL and waits
until /health/ answers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connections

SERVER_SETTINGS = "config.settings.benchmark"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def _require_postgresql() -> dict:
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        raise ValueError(
            f"benchmarks run against PostgreSQL, but DATABASE_URL points at {database['ENGINE']}; "
            "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/valueflow (see docs/benchmarks.md)."
        )
    return database


def database_url(database: dict, name: str | None = None) -> str:
    """A postgres:// URL for Django's settings dict of a PostgreSQL database (optionally another database name)."""
    user = urllib.parse.quote(database.get("USER") or "", safe="")
    password = urllib.parse.quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{urllib.parse.quote(name or database['NAME'], safe='')}"


def _admin_connection(database: dict):  # type: ignore[no-untyped-def]
    """An autocommit psycopg connection to the server's maintenance database (CREATE/DROP DATABASE cannot run in a
    transaction)."""
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or "127.0.0.1",
        port=database.get("PORT") or 5432,
        autocommit=True,
    )


@contextmanager
def throwaway_database(*, name: str | None = None, clone_current: bool = False) -> Iterator[str]:
    """Create and migrate an empty database, make it this process's default database, yield its URL; restore the
    original database and drop the throwaway one on exit, whatever happened inside.

    `clone_current` copies the current database instead of migrating from scratch (seconds faster; the test suite
    uses it on its empty test database). PostgreSQL copies only a database nobody else is connected to."""
    import psycopg
    from psycopg import sql

    database = _require_postgresql()
    name = name or f"valueflow_bench_{os.getpid()}"
    original_name = database["NAME"]
    connection = connections["default"]
    connection.close()
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if clone_current:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(original_name))
    try:
        admin_connection = _admin_connection(database)
    except psycopg.OperationalError as exc:
        raise ValueError(
            f"cannot connect to PostgreSQL at {database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432} "
            f"to create the benchmark database: {exc}"
        ) from exc
    with admin_connection as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        try:
            admin.execute(create)
        except psycopg.errors.ObjectInUse as exc:
            raise ValueError(
                f"cannot copy database {original_name!r}: other sessions are connected to it; run without "
                "cloning (the benchmark then migrates a new database) or stop them."
            ) from exc
        except psycopg.errors.InvalidCatalogName as exc:
            raise ValueError(f"cannot copy database {original_name!r}: it does not exist.") from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ValueError(
                f"the PostgreSQL role {database.get('USER')!r} may not create databases (it needs CREATEDB) — "
                "the benchmark runs in a throwaway database of its own."
            ) from exc
    try:
        connection.settings_dict["NAME"] = name
        settings.DATABASES["default"]["NAME"] = name
        if not clone_current:
            call_command("migrate", verbosity=0, interactive=False)
        yield database_url(database, name)
    finally:
        connections.close_all()
        connection.settings_dict["NAME"] = original_name
        settings.DATABASES["default"]["NAME"] = original_name
        with _admin_connection(database) as admin:
            # FORCE ends the sessions gunicorn may have left behind.
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def current_database_url() -> str:
    return database_url(_require_postgresql())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base_url: str
    command: str  # how gunicorn was started, for the benchmark's output
    log: Any = field(repr=False)  # the server's combined stdout and stderr (a temporary file)
    pid: int = 0  # gunicorn's master; it leads its own process group, which holds the workers too

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server logged (tracebacks of 500s go there)."""
        return _tail(self.log, lines)

    def cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's master and workers."""
        return process_group_cpu_s(self.pid)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process on this machine (clock-tick resolution); 0 when /proc cannot tell."""
    stat = _proc_stat(pid)
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK") if stat else 0.0


def process_group_cpu_s(pgid: int) -> float:
    """CPU seconds of every live process in a process group."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat and int(stat[2]) == pgid:
                total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (so index 0 is the state, 2 the process group)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def database_cpu_seconds(name: str) -> float:
    """CPU seconds of the PostgreSQL backends now connected to database `name` (the server runs on this machine
    in the benchmark setup; 0 when it does not)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
        return sum(process_cpu_s(pid) for (pid,) in cursor.fetchall())


@contextmanager
def gunicorn_server(
    *, database_url: str, workers: int = 2, threads: int = 4, environment: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run `gunicorn config.wsgi` (gthread workers) on a free loopback port against `database_url`; stop it on
    exit. Raises RuntimeError with the server's last log lines when it does not come up."""
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        raise RuntimeError("gunicorn is not installed in this virtualenv (it is in requirements/base.txt).")
    port = free_port()
    arguments = [
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        "--keep-alive=5",
        "--log-level=warning",
    ]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS,
        "DATABASE_URL": database_url,
        **(environment or {}),
    }
    root = Path(settings.BASE_DIR)
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *arguments],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its workers too
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(process, base_url, log)
            yield Server(base_url=base_url, command="gunicorn " + " ".join(arguments), log=log, pid=process.pid)
        finally:
            _stop(process)


def _wait_until_healthy(process: subprocess.Popen, base_url: str, log) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode} at start:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{base_url}/health/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"gunicorn did not answer {base_url}/health/ within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _tail(log, lines: int = 30) -> str:  # type: ignore[no-untyped-def]
    log.flush()
    log.seek(0)
    text = "\n".join(log.read().splitlines()[-lines:])
    log.seek(0, os.SEEK_END)  # the server goes on appending
    return text


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the group started for this server only
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
