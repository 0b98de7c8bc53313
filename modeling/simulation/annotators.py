"""Simulated annotators that work a campaign through the real HTTP API, answering from a known truth.

Each bot is one thread with its own HTTP connection and session: it logs in (the Django login form, like a browser,
or HTTP basic auth), asks POST /api/v1/campaigns/<id>/next/ for a comparison, then repeats answer → POST
/api/v1/assignments/<id>/submit/ with `"next": true` (the response carries the next comparison: one round trip per
judgment) until it has given its share of judgments, its time is up, or the campaign says there is no more work.
The server cannot tell a bot from a person.

How a bot answers (the noise model, see docs/benchmarks.md):

- Every shown text has a true intensity t in [−10, 10] (from the truth file). For each comparison the bot draws a
  noisy utility u = t / scale + noise · G with G a standard Gumbel variable, independently per text. Ordering the
  texts by u is an exact draw from the Plackett–Luce model with utilities t / (scale · noise); for a pair,
  P(a above b) = logistic((t_a − t_b) / (scale · noise)). `noise` = 0 answers by the truth itself.
- Pairs and lists are ordered by u, strongest first. Where the campaign allows ties, neighbours whose u differ by
  less than `tie_epsilon` share a place. Best–worst answers name the highest and the lowest u.
- A spammer ignores the texts and answers uniformly at random.
- `side_bias` is the probability that the bot, whatever it perceived, puts the first text shown on top (for
  best–worst: names it best). It models annotators who favour the left-hand text.

Nothing here imports Django: the bots could run on another machine against any ValueFlow deployment.
"""

from __future__ import annotations

import base64
import csv
import http.client
import io
import json
import math
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import numpy as np

# Campaign protocols as the API and Campaign.Protocol spell them.
PAIRWISE, LISTWISE, BEST_WORST = "pairwise", "listwise", "best_worst"
PROTOCOLS = (PAIRWISE, LISTWISE, BEST_WORST)
# Judgment kinds the submit API accepts.
KIND_RANKING, KIND_BEST_WORST = "ranking", "best_worst"

INTENSITY_LIMIT = 10.0
MAX_LISTED_PROBLEMS = 20


# --- the truth file -----------------------------------------------------------------------------------------------


class TruthFileError(ValueError):
    """The truth file cannot be used; the message lists every problem as `file:line: reason`."""


def truth_key(text: str) -> str:
    """The identity of a text when matching shown texts to the truth: its content with runs of whitespace collapsed,
    the same normalisation the platform uses to deduplicate texts on import."""
    return " ".join(text.split())


def truth_load(path: str | Path) -> dict[str, float]:
    """Read `text` → `intensity` from a CSV (header with `text` and `intensity` columns) or JSON Lines file (one
    object per line with those keys), e.g. the demo corpus. Every row is checked; any problem rejects the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TruthFileError(f"{path}: cannot read the truth file: {exc.strerror or exc}") from exc
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TruthFileError(f"{path}: the truth file is not UTF-8 (byte {exc.start}).") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _truth_csv_rows(content, path.name)
    elif suffix in {".jsonl", ".json"}:
        rows = _truth_jsonl_rows(content, path.name)
    else:
        raise TruthFileError(f"{path}: a truth file is .csv or .jsonl, not {suffix or 'a file without a suffix'}.")
    truth: dict[str, float] = {}
    first_line: dict[str, int] = {}
    problems: list[str] = []
    for line, text, intensity, problem in rows:
        if problem:
            problems.append(f"{path.name}:{line}: {problem}")
            continue
        key = truth_key(text)
        if key in truth and truth[key] != intensity:
            problems.append(
                f"{path.name}:{line}: the same text is on line {first_line[key]} with intensity {truth[key]:g}, "
                f"here with {intensity:g}; a text has one true intensity."
            )
            continue
        truth.setdefault(key, intensity)
        first_line.setdefault(key, line)
    if problems:
        listed = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(listed)
        raise TruthFileError("\n".join(listed + ([f"… and {more} more problems."] if more else [])))
    if not truth:
        raise TruthFileError(f"{path.name}: the truth file has no rows.")
    return truth


Row = tuple[int, str, float, str]  # (line, text, intensity, problem or "")


def _check_row(line: int, text: Any, intensity: Any) -> Row:
    if not isinstance(text, str) or not text.strip():
        return line, "", 0.0, "`text` is missing or empty."
    if isinstance(intensity, bool) or intensity is None or intensity == "":
        return line, text, 0.0, "`intensity` is missing."
    try:
        value = float(intensity)
    except (TypeError, ValueError):
        return line, text, 0.0, f"`intensity` {intensity!r} is not a number."
    if not math.isfinite(value) or abs(value) > INTENSITY_LIMIT:
        return line, text, 0.0, f"`intensity` {value:g} is outside [−10, 10]."
    return line, text, value, ""


def _truth_csv_rows(content: str, name: str) -> list[Row]:
    reader = csv.reader(io.StringIO(content))
    header = next(reader, None)
    if header is None:
        raise TruthFileError(f"{name}: the truth file is empty.")
    columns = {column.strip().lower(): position for position, column in enumerate(header)}
    missing = [column for column in ("text", "intensity") if column not in columns]
    if missing:
        raise TruthFileError(
            f"{name}:1: the header needs the columns text and intensity; missing: {', '.join(missing)} "
            f"(found: {', '.join(header) or 'nothing'})."
        )
    rows = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            rows.append((line, "", 0.0, f"{len(record)} columns where the header has {len(header)}."))
            continue
        rows.append(_check_row(line, record[columns["text"]], record[columns["intensity"]].strip()))
    return rows


def _truth_jsonl_rows(content: str, name: str) -> list[Row]:
    rows = []
    for line, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            rows.append((line, "", 0.0, f"not valid JSON ({exc.msg} at column {exc.colno})."))
            continue
        if not isinstance(record, dict):
            rows.append((line, "", 0.0, "each line must be a JSON object with `text` and `intensity`."))
            continue
        rows.append(_check_row(line, record.get("text"), record.get("intensity")))
    return rows


# --- the answer model ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    ordering: list[list[int]]  # groups of item ids, strongest first; a group of several is a tie
    kind: str


@dataclass(frozen=True)
class AnswerModel:
    """How one bot turns the true intensities of the shown texts into an answer (module docstring)."""

    noise: float = 1.0  # multiplies the standard Gumbel noise; 0 answers by the truth
    scale: float = 2.5  # intensity points per logit of the generating Plackett–Luce model
    side_bias: float = 0.0  # probability of putting the first text shown on top regardless
    tie_epsilon: float = 0.05  # noisy utilities closer than this tie, where the campaign allows ties
    spammer: bool = False  # answers at random

    def __post_init__(self) -> None:
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise must be a number ≥ 0, got {self.noise!r}.")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive number of intensity points per logit, got {self.scale!r}.")
        if not 0 <= self.side_bias <= 1:
            raise ValueError(f"side_bias is a probability in [0, 1], got {self.side_bias!r}.")
        if not (math.isfinite(self.tie_epsilon) and self.tie_epsilon >= 0):
            raise ValueError(f"tie_epsilon must be a number ≥ 0, got {self.tie_epsilon!r}.")

    def answer(
        self, *, item_ids: Sequence[int], truths: Sequence[float], protocol: str, allow_ties: bool, rng: random.Random
    ) -> Answer:
        """The bot's answer to items shown in this order, whose true intensities are `truths`."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}.")
        if len(item_ids) != len(truths) or len(item_ids) < 2:
            raise ValueError(f"a comparison shows at least two texts, each with a truth; got {len(item_ids)} items.")
        if self.spammer:
            # Uniform random keys: every order equally likely, and never a tie.
            utilities = [rng.random() for _ in item_ids]
            tie_epsilon = 0.0
        else:
            utilities = [t / self.scale + self.noise * _gumbel(rng) for t in truths]
            tie_epsilon = self.tie_epsilon if allow_ties else 0.0
        first_on_top = self.side_bias > 0 and rng.random() < self.side_bias
        if protocol == BEST_WORST:
            return _best_worst(item_ids, utilities, first_on_top)
        return Answer(_ranking(item_ids, utilities, tie_epsilon, first_on_top), KIND_RANKING)


def _gumbel(rng: random.Random) -> float:
    # −log E with E ~ Exp(1) is standard Gumbel; the floor guards the 2⁻⁵³ chance of E = 0.
    return -math.log(max(rng.expovariate(1.0), 1e-300))


def _ranking(
    item_ids: Sequence[int], utilities: Sequence[float], tie_epsilon: float, first_on_top: bool
) -> list[list[int]]:
    order = sorted(range(len(item_ids)), key=lambda position: -utilities[position])
    groups: list[list[int]] = []
    if first_on_top:
        order.remove(0)
        groups.append([item_ids[0]])
    previous: float | None = None
    for position in order:
        utility = utilities[position]
        # Ties chain between neighbours: a group continues while each next text is within epsilon of the last.
        if groups and previous is not None and previous - utility < tie_epsilon:
            groups[-1].append(item_ids[position])
        else:
            groups.append([item_ids[position]])
        previous = utility
    return groups


def _best_worst(item_ids: Sequence[int], utilities: Sequence[float], first_on_top: bool) -> Answer:
    positions = range(len(item_ids))
    best = 0 if first_on_top else max(positions, key=lambda position: utilities[position])
    worst = min((p for p in positions if p != best), key=lambda position: utilities[position])
    middle = [item_ids[p] for p in positions if p not in (best, worst)]
    return Answer([[item_ids[best]], middle, [item_ids[worst]]], KIND_BEST_WORST)


# --- the HTTP client ----------------------------------------------------------------------------------------------


class ApiError(Exception):
    """The server refused a request or could not be reached; `status` is 0 for a connection failure."""

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}HTTP {status}: {message}" if status else f"{where}{message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class ApiClient:
    """One annotator's connection to a ValueFlow server: a persistent HTTP/1.1 connection, the session and CSRF
    cookies after a form login (or basic-auth credentials), and the two annotation calls. Not thread-safe: one per
    bot."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"base URL {base_url!r} must look like http://127.0.0.1:8000")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None
        self._cookies: dict[str, str] = {}
        self._authorization = ""

    # ----- transport ----------------------------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            connection_class = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = connection_class(self._host, self._port, timeout=self._timeout_s)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self, method: str, path: str, *, json_body: Any = None, form: Mapping[str, str] | None = None
    ) -> Response:
        """Send one request; a keep-alive connection the server closed meanwhile is reopened and the request sent
        once more (both annotation calls are safe to repeat: `next` resumes the open lease, `submit` is idempotent)."""
        headers = {"Accept": "application/json"}
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self._cookies.items())
            if method != "GET" and "csrftoken" in self._cookies:
                headers["X-CSRFToken"] = self._cookies["csrftoken"]
        if self._authorization:
            headers["Authorization"] = self._authorization
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, self._prefix + path, body=body, headers=headers)
                raw = connection.getresponse()
                response = Response(raw.status, raw.headers, raw.read())
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise ApiError(0, f"connection lost: {exc}", method=method, path=path) from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise ApiError(0, f"cannot reach {self._host}:{self._port}: {exc}", method=method, path=path) from exc
            self._remember_cookies(response.headers)
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def _remember_cookies(self, headers: http.client.HTTPMessage) -> None:
        for header in headers.get_all("Set-Cookie") or ():
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self._cookies[name] = morsel.value

    def _json_or_raise(self, response: Response, method: str, path: str, expected: Sequence[int]) -> Any:
        data = response.json()
        if response.status not in expected:
            message = data.get("message") if isinstance(data, dict) else None
            detail = message or response.body[:200].decode("utf-8", "replace").strip() or "no body"
            raise ApiError(response.status, detail, method=method, path=path)
        return data

    # ----- login ----------------------------------------------------------------------------------------------------

    def login(self, username: str, password: str, *, method: str = "session") -> dict[str, Any]:
        """Log in and return the server's view of the user (GET /api/v1/me/).

        `session` posts the login form once, like a browser, and then sends the session and CSRF cookies; `basic`
        sends the credentials with every request (each request then pays for a password hash on the server)."""
        if method == "basic":
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._authorization = f"Basic {token}"
        elif method == "session":
            self.request("GET", "/accounts/login/")
            if "csrftoken" not in self._cookies:
                raise ApiError(0, "the login page set no csrftoken cookie", method="GET", path="/accounts/login/")
            form = {"username": username, "password": password, "csrfmiddlewaretoken": self._cookies["csrftoken"]}
            response = self.request("POST", "/accounts/login/", form=form)
            if response.status != 302 or "sessionid" not in self._cookies:
                raise ApiError(
                    response.status,
                    f"login of {username!r} failed (wrong username or password, or an inactive account)",
                    method="POST",
                    path="/accounts/login/",
                )
        else:
            raise ValueError(f"unknown login method {method!r}; expected session or basic.")
        return self._json_or_raise(self.request("GET", "/api/v1/me/"), "GET", "/api/v1/me/", (200,))

    # ----- annotation -------------------------------------------------------------------------------------------------

    def campaign_next(self, campaign_id: int) -> dict[str, Any]:
        path = f"/api/v1/campaigns/{campaign_id}/next/"
        return self._json_or_raise(self.request("POST", path, json_body={}), "POST", path, (200, 201))

    def assignment_submit(
        self, assignment_id: int, *, ordering: list[list[int]], kind: str, latency_ms: int, then_next: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """Submit an answer; returns (HTTP status, body): 201 stored, 200 an identical retry of a stored answer.
        `then_next`: the body also carries `next`, the next comparison (as campaign_next answers it)."""
        path = f"/api/v1/assignments/{assignment_id}/submit/"
        payload: dict[str, Any] = {"ordering": ordering, "kind": kind, "latency_ms": latency_ms}
        if then_next:
            payload["next"] = True
        response = self.request("POST", path, json_body=payload)
        return response.status, self._json_or_raise(response, "POST", path, (200, 201))


# --- bots and the simulation ----------------------------------------------------------------------------------------


class BotStopped(Exception):
    """The bot cannot go on (e.g. a text it was shown is not in the truth file)."""


@dataclass
class BotStats:
    """What one bot did. Latencies are client-side round trips in milliseconds."""

    judgments: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    busy_waits: int = 0
    stop_reason: str = ""
    # For measuring behaviour: strict preferences between texts of different truth, and how many agreed with it;
    # judgments that put the first text shown alone on top.
    preferences: int = 0
    preferences_agreeing: int = 0
    first_shown_on_top: int = 0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_messages) < 5 and message not in self.error_messages:
            self.error_messages.append(message)


class Bot:
    """One simulated annotator (module docstring)."""

    # Consecutive failed requests after which a bot gives up instead of hammering a broken server.
    MAX_CONSECUTIVE_ERRORS = 5

    def __init__(
        self,
        *,
        username: str,
        password: str,
        client: ApiClient,
        campaign_id: int,
        truth: Mapping[str, float],
        model: AnswerModel,
        protocol: str,
        allow_ties: bool,
        rng: random.Random,
        login_method: str = "session",
        busy_wait_s: float = 0.05,
        max_busy_s: float = 30.0,
        think_s: float = 0.0,
    ) -> None:
        self.username = username
        self._password = password
        self.client = client
        self.campaign_id = campaign_id
        self.truth = truth
        self.model = model
        self.protocol = protocol
        self.allow_ties = allow_ties
        self.rng = rng
        self.login_method = login_method
        self.busy_wait_s = busy_wait_s
        self.max_busy_s = max_busy_s
        self.think_s = think_s
        # its own generator (seeded from the bot's), so that reading times never shift the draws of the answers:
        # a seeded bot gives the same answers whatever the mean reading time
        self._think_rng = random.Random(rng.random()) if think_s else None
        self.stats = BotStats()
        self._counted: set[int] = set()  # assignments whose judgment this bot has counted
        self._upcoming: dict[str, Any] | None = None  # the `next` of the last submit's response, not yet worked on

    def login(self) -> bool:
        try:
            self.client.login(self.username, self._password, method=self.login_method)
        except ApiError as exc:
            self.stats.error(str(exc))
            self.stats.stop_reason = "login_failed"
            return False
        return True

    def work(self, *, should_stop: Callable[[], bool], max_judgments: int | None) -> None:
        """Judge until `max_judgments`, `should_stop()`, or the campaign has no more work for this bot."""
        consecutive_errors = 0
        busy_since: float | None = None
        while not should_stop():
            if max_judgments is not None and self.stats.judgments >= max_judgments:
                self.stats.stop_reason = "quota"
                return
            try:
                outcome = self._one_judgment()
            except ApiError as exc:
                self.stats.error(str(exc))
                consecutive_errors += 1
                if consecutive_errors >= self.MAX_CONSECUTIVE_ERRORS:
                    self.stats.stop_reason = "errors"
                    return
                continue
            except BotStopped as exc:
                self.stats.error(str(exc))
                self.stats.stop_reason = "stopped"
                return
            consecutive_errors = 0
            if outcome == "judged":
                busy_since = None
                continue
            if outcome == "busy":
                # Every remaining item is leased to someone else for now; their answers free it soon.
                now = time.monotonic()
                busy_since = busy_since or now
                if now - busy_since > self.max_busy_s:
                    self.stats.stop_reason = "busy"
                    return
                self.stats.busy_waits += 1
                time.sleep(self.busy_wait_s)
                continue
            self.stats.stop_reason = outcome  # complete, cap_reached, campaign_paused, …
            return
        self.stats.stop_reason = self.stats.stop_reason or "time"

    def _one_judgment(self) -> str:
        data, self._upcoming = self._upcoming, None
        if data is None:
            started = time.perf_counter()
            data = self.client.campaign_next(self.campaign_id)
            self.stats.next_ms.append((time.perf_counter() - started) * 1000)
        assignment = data.get("assignment") if isinstance(data, dict) else None
        if not assignment:
            return str((data or {}).get("reason") or "no_assignment")
        shown_at = time.perf_counter()
        items = assignment["items"]
        item_ids = [int(item["id"]) for item in items]
        truths = []
        for item in items:
            key = truth_key(item["text"])
            if key not in self.truth:
                raise BotStopped(
                    f"{self.username}: text of item {item['id']} is not in the truth file: {key[:80]!r}"
                )
            truths.append(self.truth[key])
        protocol = assignment.get("protocol") or self.protocol  # the server says which protocol it shows
        answer = self.model.answer(
            item_ids=item_ids, truths=truths, protocol=protocol, allow_ties=self.allow_ties, rng=self.rng
        )
        if self._think_rng is not None:
            time.sleep(self._think_rng.expovariate(1 / self.think_s))
        latency_ms = int((time.perf_counter() - shown_at) * 1000)
        started = time.perf_counter()
        _, body = self.client.assignment_submit(
            int(assignment["id"]), ordering=answer.ordering, kind=answer.kind, latency_ms=latency_ms, then_next=True
        )
        self.stats.submit_ms.append((time.perf_counter() - started) * 1000)
        upcoming = body.get("next") if isinstance(body, dict) else None
        # a "busy" or "complete" answer is not kept: the bot asks `next` itself, as it would have without it
        self._upcoming = upcoming if isinstance(upcoming, dict) and upcoming.get("assignment") else None
        if int(assignment["id"]) not in self._counted:
            self._counted.add(int(assignment["id"]))
            self.stats.judgments += 1
            self._observe(item_ids, dict(zip(item_ids, truths, strict=True)), answer)
        return "judged"

    def _observe(self, item_ids: list[int], truth_of: dict[int, float], answer: Answer) -> None:
        groups = answer.ordering
        if groups[0] == [item_ids[0]]:
            self.stats.first_shown_on_top += 1
        if answer.kind == KIND_BEST_WORST:
            best, worst = groups[0][0], groups[-1][0]
            pairs = [(best, worst)] + [(best, m) for m in groups[1]] + [(m, worst) for m in groups[1]]
        else:
            pairs = [
                (a, b) for i, group in enumerate(groups) for later in groups[i + 1 :] for a in group for b in later
            ]
        for above, below in pairs:
            if truth_of[above] != truth_of[below]:
                self.stats.preferences += 1
                self.stats.preferences_agreeing += truth_of[above] > truth_of[below]


@dataclass(frozen=True)
class SimulationPlan:
    """Everything a simulation run needs; `accounts` are (username, password) of existing annotator accounts."""

    base_url: str
    campaign_id: int
    accounts: Sequence[tuple[str, str]]
    truth: Mapping[str, float]
    protocol: str = PAIRWISE
    allow_ties: bool = True
    noise: float = 1.0
    scale: float = 2.5
    spam: float = 0.0  # share of the bots that are spammers (rounded to whole bots)
    side_bias: float = 0.0
    tie_epsilon: float = 0.05
    judgments_per_bot: int | None = None  # None: until the campaign is complete (or `seconds` pass)
    seconds: float | None = None
    seed: int | None = None
    login_method: str = "session"
    timeout_s: float = 30.0
    # How long a bot keeps asking while every remaining text is leased to others before it gives up.
    max_busy_s: float = 30.0
    # Mean time a bot takes to read a comparison before it answers (exponentially distributed; 0: it answers at
    # once, so the bots together ask as fast as the server answers: a saturation test).
    think_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("a simulation needs at least one bot account.")
        if not 0 <= self.spam <= 1:
            raise ValueError(f"spam is the share of spammer bots in [0, 1], got {self.spam!r}.")
        if self.judgments_per_bot is not None and self.judgments_per_bot < 1:
            raise ValueError(f"judgments_per_bot must be at least 1, got {self.judgments_per_bot!r}.")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds!r}.")
        if not self.think_ms >= 0:
            raise ValueError(f"think_ms must be zero or positive, got {self.think_ms!r}.")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}.")

    @property
    def spammers(self) -> int:
        return int(round(self.spam * len(self.accounts)))


@dataclass
class SimulationResult:
    bots: int
    spammers: int
    seconds: float  # of the judging phase, after every bot has logged in
    stats: list[BotStats]

    @property
    def judgments(self) -> int:
        return sum(s.judgments for s in self.stats)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.stats)

    def latencies_ms(self, which: str) -> np.ndarray:
        """Client-side latencies of `next`, `submit`, or `all` requests."""
        if which == "all":
            return np.asarray([ms for s in self.stats for ms in (*s.next_ms, *s.submit_ms)], dtype=float)
        return np.asarray([ms for s in self.stats for ms in getattr(s, f"{which}_ms")], dtype=float)

    def summary(self) -> dict[str, Any]:
        """The one-line JSON summary of `simulate_annotators`."""
        preferences = sum(s.preferences for s in self.stats)
        judged = self.judgments
        return {
            "bots": self.bots,
            "spammers": self.spammers,
            "judgments": judged,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "judgments_per_s": round(judged / self.seconds, 2) if self.seconds > 0 else 0.0,
            "next_p95_ms": percentile(self.latencies_ms("next"), 95),
            "submit_p95_ms": percentile(self.latencies_ms("submit"), 95),
            # Share of strict preferences that agree with the truth, and of answers that put the first text on top.
            "agreement_with_truth": round(sum(s.preferences_agreeing for s in self.stats) / preferences, 4)
            if preferences
            else None,
            "first_shown_on_top": round(sum(s.first_shown_on_top for s in self.stats) / judged, 4) if judged else None,
            "stop_reasons": dict(Counter(s.stop_reason for s in self.stats)),
            "error_examples": sorted({m for s in self.stats for m in s.error_messages})[:5],
        }


def percentile(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values.size else None


class StartingLine:
    """Starts a group of threads together: each calls `wait()` once it is ready (logged in); the last to arrive runs
    `on_clock_start` (benchmarks read CPU counters there) and starts the clock. `abort()` releases the others
    (with threading.BrokenBarrierError) when one thread cannot get there."""

    def __init__(self, parties: int, *, on_clock_start: Callable[[], None] | None = None) -> None:
        self._on_clock_start = on_clock_start
        self._started_at: float | None = None
        self._barrier = threading.Barrier(parties, action=self._start)

    def _start(self) -> None:
        if self._on_clock_start is not None:
            self._on_clock_start()
        self._started_at = time.monotonic()

    def wait(self) -> None:
        self._barrier.wait()

    def abort(self) -> None:
        self._barrier.abort()

    def elapsed_s(self) -> float:
        """Seconds since the clock started; 0 when it never did."""
        return 0.0 if self._started_at is None else time.monotonic() - self._started_at


def simulate(plan: SimulationPlan, *, on_clock_start: Callable[[], None] | None = None) -> SimulationResult:
    """Run one bot per account, each in its own thread. Every bot logs in first; the clock (and `seconds`) starts
    when all of them are logged in, so login cost stays out of the throughput figures. `on_clock_start` runs just
    before the clock starts (benchmarks read CPU counters there)."""
    seed_rng = random.Random(plan.seed)
    n_spammers = plan.spammers
    bots = []
    for index, (username, password) in enumerate(plan.accounts):
        model = AnswerModel(
            noise=plan.noise,
            scale=plan.scale,
            side_bias=plan.side_bias,
            tie_epsilon=plan.tie_epsilon,
            # The last bots are the spammers, so "--spam 0.1" with 20 bots makes sim-bot-18 and sim-bot-19 spam.
            spammer=index >= len(plan.accounts) - n_spammers,
        )
        bots.append(
            Bot(
                username=username,
                password=password,
                client=ApiClient(plan.base_url, timeout_s=plan.timeout_s),
                campaign_id=plan.campaign_id,
                truth=plan.truth,
                model=model,
                protocol=plan.protocol,
                allow_ties=plan.allow_ties,
                rng=random.Random(seed_rng.getrandbits(64)),
                login_method=plan.login_method,
                max_busy_s=plan.max_busy_s,
                think_s=plan.think_ms / 1000,
            )
        )
    starting_line = StartingLine(len(bots), on_clock_start=on_clock_start)

    def should_stop() -> bool:
        return plan.seconds is not None and starting_line.elapsed_s() >= plan.seconds

    def run(bot: Bot) -> None:
        try:
            logged_in = bot.login()
            starting_line.wait()
            if logged_in:
                bot.work(should_stop=should_stop, max_judgments=plan.judgments_per_bot)
        except Exception as exc:  # noqa: BLE001 - a crashed bot is reported in the summary, not a traceback per thread
            bot.stats.error(f"{bot.username}: {type(exc).__name__}: {exc}")
            bot.stats.stop_reason = "crashed"
            starting_line.abort()  # never leave the other bots waiting for one that died before the line
        finally:
            bot.client.close()

    threads = [threading.Thread(target=run, args=(bot,), name=bot.username, daemon=True) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = starting_line.elapsed_s()
    return SimulationResult(bots=len(bots), spammers=n_spammers, seconds=seconds, stats=[bot.stats for bot in bots])
