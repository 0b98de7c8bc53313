"""Shared by the steering-evaluation tests: a value with VIDB-scored anchor texts whose intensity is written in the
text, a small query set, a scripted chat model that answers at a known intensity for each strength cue, and an
oracle judge that ranks a window by the intensities written in its texts (optionally with noise or unreadable
answers). Both run behind the real OpenAI-compatible loopback server, so evaluations call them over HTTP like any
endpoint."""

from __future__ import annotations

import csv
import math
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labeling.models import Value
from labeling.services.imports import texts_import
from labeling.services.taxonomy import taxonomy_load
from modeling.ml.llm.server import ChatServer, serve_backend
from modeling.models import ModelBackend, QuerySet
from modeling.services.backends import backend_create
from modeling.services.query_sets import query_set_import

# The intensity the scripted model writes for each strength cue of a persona prompt (and without any cue).
CUE_INTENSITY = {
    "strongly values": 7.0,
    "slightly values": 3.0,
    "is neutral about": 0.0,
    "slightly rejects": -2.0,
    "strongly rejects": -4.0,
}
BASELINE_INTENSITY = 1.0
_MARK = re.compile(r"\(intensity (-?\d+(?:\.\d+)?)\)")
_LISTED = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def scored_value(tmp_path: Path, *, key: str = "benevolence", theory_code: str = "pvq", count: int = 30) -> Value:
    """A value with `count` VIDB texts over [−9.5, 9.5], each saying its rating, imported with the VIDB importer."""
    taxonomy_load()
    path = tmp_path / f"{key}_{theory_code}_flag_aggregated.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "final_rating"])
        for i in range(count):
            rating = -9.5 + 19 * i / (count - 1)
            writer.writerow([f"Anchor {key} number {i} (intensity {rating:.2f})", f"{rating:.2f}"])
    texts_import(format="vidb", paths=[path])
    theory = {"pvq": "svt", "mft": "mft", "duty": "duties", "right": "rights"}[theory_code]
    return Value.objects.select_related("theory").get(theory__key=theory, key=key)


def small_query_set(name: str = "Three questions", count: int = 3) -> QuerySet:
    questions = ["Should I lend my savings to a friend?", "Is it fine to skip a family dinner?",
                 "What should I do about a neighbour's loud music?", "Should I report a colleague's mistake?"]
    data = "query\n" + "".join(f'"{q}"\n' for q in questions[:count])
    return query_set_import(name=name, data=data.encode(), file_name="queries.csv")


class ScriptedSteeredModel:
    """Answers every query with a sentence marked with the intensity its persona cue asks for."""

    name = "scripted-steered"

    def __init__(self) -> None:
        self.calls = 0
        self.conversations: list[list[dict[str, str]]] = []

    def chat(self, conversations, *, temperature=1.0, max_new_tokens=160, seed=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.conversations += conversations
        answers = []
        for conversation in conversations:
            system = conversation[0]["content"] if conversation[0]["role"] == "system" else ""
            intensity = next((x for cue, x in CUE_INTENSITY.items() if cue in system), BASELINE_INTENSITY)
            question = conversation[-1]["content"].split("\n")[0]
            answers.append(f"My view on '{question}' (intensity {intensity:.2f})")
        return answers


class OracleJudge:
    """Ranks a window by the intensities its texts state, plus logistic noise of scale `noise`; answers
    unreadably for every window whose texts contain `garble_when` (always) or, with `garble_first`, on the first
    attempt only."""

    name = "oracle-judge"

    def __init__(self, *, noise: float = 0.0, seed: int = 0, garble_when: str = "", garble_first: bool = False) -> None:
        self.noise, self.rng = noise, random.Random(seed)
        self.garble_when, self.garble_first = garble_when, garble_first
        self.calls = 0
        self.answered = 0

    def chat(self, conversations, *, temperature=1.0, max_new_tokens=160, seed=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        answers = []
        for conversation in conversations:
            self.answered += 1
            listed = _LISTED.findall(conversation[-1]["content"])
            truths = [float(_MARK.search(text).group(1)) for _, text in listed]  # type: ignore[union-attr]
            if self.garble_when and self.garble_when in conversation[-1]["content"]:
                answers.append("I am not able to rank these texts.")
                continue
            if self.garble_first and temperature == 0.0:
                answers.append("Ranking: [1, 1, 2]")
                continue
            perceived = [t + self.noise * _logistic(self.rng) for t in truths]
            order = sorted(range(len(truths)), key=lambda i: -perceived[i])
            answers.append("Here is my ranking: [" + ", ".join(str(i + 1) for i in order) + "]")
        return answers


def _logistic(rng: random.Random) -> float:
    u = min(max(rng.random(), 1e-12), 1 - 1e-12)
    return math.log(u / (1 - u))


@contextmanager
def loopback_servers() -> Iterator[tuple[ChatServer, ChatServer]]:
    """Two loopback OpenAI-compatible servers (a steered model and a judge); tests swap in fresh backends with
    `scripted_endpoints`, so a module starts the servers once."""
    with serve_backend(ScriptedSteeredModel(), model_name="steered") as model_server:
        with serve_backend(OracleJudge(), model_name="judge") as judge_server:
            yield model_server, judge_server


def scripted_endpoints(
    servers: tuple[ChatServer, ChatServer], model: ScriptedSteeredModel, judge: OracleJudge
) -> tuple[ModelBackend, ModelBackend]:
    """Model backends for `model` and `judge`, served by `servers`."""
    model_server, judge_server = servers
    model_server.backend, judge_server.backend = model, judge
    steered = backend_create(
        name="Scripted model", kind="openai", model="steered", endpoint_url=model_server.base_url, max_retries=0
    )
    judging = backend_create(
        name="Oracle judge", kind="openai", model="judge", endpoint_url=judge_server.base_url, max_retries=0
    )
    return steered, judging


def stated_intensity(text: str) -> float:
    """The intensity a scripted response or an anchor text states."""
    match = _MARK.search(text)
    assert match is not None, text
    return float(match.group(1))


def publish_prior_fit(value: Value) -> None:
    """Publish a fit whose scores are the value's imported ratings (as if crowd judgments had confirmed them), through
    the fits service, so the value has published anchors and the HiVES judge can learn it."""
    from django.utils import timezone

    from labeling.models import PoolItem
    from modeling.models import Fit, ItemScore
    from modeling.services.fits import fit_publish

    items = list(PoolItem.objects.filter(value=value, is_probe=False).exclude(prior_intensity=None))
    priors = [(item, item.prior_intensity) for item in items if item.prior_intensity is not None]
    fit = Fit.objects.create(
        value=value, status=Fit.Status.SUCCEEDED, backend="choix", config={}, watermark=0, n_items=len(items),
        log_likelihood=0.0, converged=True, finished_at=timezone.now(),
    )
    ItemScore.objects.bulk_create(
        ItemScore(fit=fit, pool_item=item, utility=prior / 4, se=0.2, intensity=prior,
                  ci_low=max(-10, prior - 1), ci_high=min(10, prior + 1), n_judgments=3)
        for item, prior in priors
    )
    assert fit_publish(fit=fit)


def hives_judge_ready(model_dir: Path) -> None:
    """Make a HiVES version on the encoder in `model_dir` current, with stored embeddings and judge heads for every
    value with published intensities (the embedding job runs here, in-process)."""
    from common.services import job_run
    from modeling.services.hives import hives_base_version_create

    _version, job = hives_base_version_create(base_model=str(model_dir))
    assert job_run(job_id=job.pk).status == "succeeded"
