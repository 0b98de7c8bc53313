"""The framework's floor: what the simplest authenticated API request costs on the machine at hand.

`benchmark annotate --floor` runs this after its judging run, against the same gunicorn server, with the same
annotator accounts, think time and duration: every client logs in like a bot and then asks `GET /api/v1/me/` over
and over (the request every bot's login ends with). That request passes through everything a judgment passes
through — gunicorn, every middleware, the session read from Redis, the user read from PostgreSQL, DRF's
authentication and JSON rendering — and does nothing else. Its throughput and latency bound what any annotation
code could reach on this machine: a judgment cannot cost less than the floor, so when the floor alone cannot meet a
throughput or latency target, no change to the annotation path can either, and the next lever is the hardware.

Like the bots, nothing here imports Django.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from modeling.simulation.annotators import ApiClient, ApiError, StartingLine

FLOOR_PATH = "/api/v1/me/"
MAX_ERROR_EXAMPLES = 5


@dataclass
class FloorResult:
    clients: int
    seconds: float  # after every client has logged in
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)


def framework_floor(
    *,
    base_url: str,
    accounts: Sequence[tuple[str, str]],
    seconds: float,
    think_ms: float = 0.0,
    seed: int = 0,
    on_clock_start: Callable[[], None] | None = None,
) -> FloorResult:
    """One client per account, each in its own thread: log in with the login form, wait for the others, then ask
    FLOOR_PATH for `seconds`, reading an exponentially distributed `think_ms` on average before each request (0: back
    to back, as the bots do). A request that does not answer 200 counts as an error, not as a latency.
    `on_clock_start` runs just before the clock starts (the benchmark reads CPU counters there)."""
    if not accounts:
        raise ValueError("the floor needs at least one account")
    seed_rng = random.Random(seed)
    result = FloorResult(clients=len(accounts), seconds=0.0)
    lock = threading.Lock()
    starting_line = StartingLine(len(accounts), on_clock_start=on_clock_start)

    def record_error(message: str) -> None:
        with lock:
            result.errors += 1
            if len(result.error_examples) < MAX_ERROR_EXAMPLES and message not in result.error_examples:
                result.error_examples.append(message)

    def run(username: str, password: str, rng: random.Random) -> None:
        client = ApiClient(base_url)
        latencies: list[float] = []
        try:
            try:
                client.login(username, password)
            finally:
                starting_line.wait()  # also after a failed login: the others must not wait for this client forever
            while starting_line.elapsed_s() < seconds:
                if think_ms:
                    time.sleep(rng.expovariate(1000 / think_ms))
                started = time.perf_counter()
                response = client.request("GET", FLOOR_PATH)
                elapsed_ms = (time.perf_counter() - started) * 1000
                if response.status == 200:
                    latencies.append(elapsed_ms)
                else:
                    record_error(f"GET {FLOOR_PATH} answered {response.status}")
        except (ApiError, threading.BrokenBarrierError) as exc:
            record_error(f"{username}: {exc}")
        finally:
            client.close()
            with lock:
                result.latencies_ms.extend(latencies)

    threads = [
        threading.Thread(target=run, args=(username, password, random.Random(seed_rng.getrandbits(64))), daemon=True)
        for username, password in accounts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = starting_line.elapsed_s()
    return result
