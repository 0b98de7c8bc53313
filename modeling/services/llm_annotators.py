"""LLM annotators: a model backend working a ranking campaign like any annotator.

An admin adds a backend to a campaign (`llm_annotator_start`); the backend gets an annotator account named
`llm-<backend name>` and a job (`modeling.llm_annotate`, run by a Celery worker) loops through the same assignment
path people use: `assignment_next` → prompt the backend with the campaign's current instructions, the value's
definition and the texts numbered in the order shown → parse its ranking → `judgment_submit`. Its judgments are
stored and fitted like anyone's, so the refit estimates its own reliability and side bias, and the agreement
metrics compare it with the human consensus (LLM annotators are recognised by the `llm-` username prefix).

The backend is anything with the `ChatBackend.chat(conversations, …) -> answers` call of modeling/ml/llm; tests use
a scripted ranker. Answers are parsed leniently (the last line that names every text, "2, 1, 3", "[2,1,3]",
"2 > 1 > 3", ties as "2=3" where the campaign allows them; one text left out is placed last). An answer that cannot
be read is asked for once more; if it still cannot be read the comparison is given back (released) and counted.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.text import slugify

from accounts.models import User
from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from common.services import job_create
from labeling.models import Assignment, Campaign, CampaignInstructions, Cohort, Judgment, PoolItem
from labeling.services.assignment import assignment_next, assignment_release
from labeling.services.judgments import judgment_submit
from modeling.models import ModelBackend

logger = logging.getLogger("valueflow.llm_annotators")

LLM_ANNOTATE_JOB_KIND = "modeling.llm_annotate"
MAX_JUDGMENTS_PER_RUN = 10_000
# After this many comparisons in a row whose answers could not be read, the run stops: the backend is not following
# the format, and every further call would cost time for nothing.
MAX_CONSECUTIVE_FAILURES = 5
MAX_NEW_TOKENS = 64
USERNAME_MAX = 150
# A backend's annotator account is named after it with this prefix (a name only; the link marks it a model).
LLM_USERNAME_PREFIX = "llm-"


def llm_username(backend: ModelBackend) -> str:
    """The name of the backend's annotator account: its own once it has one, else the name it will get."""
    if backend.annotator_account_id is not None:
        return backend.annotator_account.username  # type: ignore[union-attr]
    return (LLM_USERNAME_PREFIX + (slugify(backend.name) or f"backend-{backend.pk}"))[:USERNAME_MAX]


def llm_annotator_user(*, backend: ModelBackend) -> User:
    """The backend's annotator account (created and linked on first use, with no usable password: nobody logs in
    as it). The link (ModelBackend.annotator_account), not the name, marks the account as a model's; a person
    who happens to own the preferred name keeps it, and the backend's account takes its id as a suffix."""
    if backend.annotator_account_id is not None:
        return backend.annotator_account  # type: ignore[return-value]
    with transaction.atomic():
        locked = ModelBackend.objects.select_for_update(of=("self",)).select_related("annotator_account").get(
            pk=backend.pk
        )
        if locked.annotator_account is None:
            preferred = llm_username(locked)
            taken = set(
                User.objects.filter(username__in=[preferred, _suffixed(preferred, locked.pk)]).values_list(
                    "username", flat=True
                )
            )
            username = next((name for name in (preferred, _suffixed(preferred, locked.pk)) if name not in taken), None)
            if username is None:
                raise ApplicationError(
                    f"The accounts {preferred!r} and {_suffixed(preferred, locked.pk)!r} already exist; rename the "
                    f"backend {locked.name!r} to give its LLM annotator account a free name.",
                    extra={"username": preferred},
                )
            locked.annotator_account = User.objects.create(
                username=username, role=User.Role.ANNOTATOR, password=make_password(None),
                first_name=locked.name[:150], last_name="(LLM annotator)",
            )
            locked.save(update_fields=["annotator_account"])
    backend.annotator_account = locked.annotator_account
    return locked.annotator_account  # type: ignore[return-value]


def _suffixed(username: str, backend_id: int) -> str:
    suffix = f"-{backend_id}"
    return username[: USERNAME_MAX - len(suffix)] + suffix


def llm_annotator_start(*, campaign: Campaign, backend: ModelBackend, max_judgments: int, started_by: Any) -> Job:
    """Add the backend as an annotator on the campaign and start its annotation job (one per campaign and backend
    at a time)."""
    if not backend.is_active:
        raise ApplicationError(
            f"Backend {backend.name!r} is switched off; activate it first.", extra={"field": "backend"}
        )
    if campaign.status != Campaign.Status.RUNNING:
        raise ApplicationError(
            f"Campaign {campaign.name!r} is {campaign.get_status_display().lower()}; start it before adding an LLM "
            "annotator.",
            extra={"field": "campaign"},
        )
    if not 1 <= max_judgments <= MAX_JUDGMENTS_PER_RUN:
        raise ApplicationError(
            f"max_judgments must be between 1 and {MAX_JUDGMENTS_PER_RUN:,}, got {max_judgments}.",
            extra={"field": "max_judgments"},
        )
    user = llm_annotator_user(backend=backend)
    cohorts = Cohort.objects.filter(campaigns=campaign)
    if cohorts.exists() and not cohorts.filter(members=user).exists():
        raise ApplicationError(
            f"Campaign {campaign.name!r} is open only to its cohorts; add {user.username} to one of them first.",
            extra={"field": "campaign", "username": user.username},
        )
    from modeling.services.backends import backend_queue

    return job_create(
        kind=LLM_ANNOTATE_JOB_KIND,
        params={"campaign_id": campaign.pk, "backend_id": backend.pk, "max_judgments": max_judgments},
        created_by=started_by,
        title=f"LLM annotator {user.username} on {campaign.name}",
        queue=backend_queue(backend=backend),
        dedupe_key=f"llm-annotate:{campaign.pk}:{backend.pk}",
    )


# ----- prompts and answers -------------------------------------------------------------------------------------------


def _instructions(campaign: Campaign) -> tuple[int, str]:
    latest = CampaignInstructions.objects.filter(campaign=campaign).order_by("-version").first()
    return (latest.version, latest.text) if latest else (1, "")


def comparison_prompt(*, campaign: Campaign, assignment: Assignment, instructions: str) -> list[dict[str, str]]:
    """The chat messages for one comparison: the campaign's instructions, the value and its definition, the texts
    numbered in the order shown, and the answer format."""
    value = assignment.value
    texts = dict(PoolItem.objects.filter(pk__in=assignment.item_ids).values_list("pk", "text__content"))
    numbered = "\n\n".join(f"Text {n}:\n{texts[item_id]}" for n, item_id in enumerate(assignment.item_ids, start=1))
    k = len(assignment.item_ids)
    example = ", ".join(str(n) for n in range(k, 0, -1))
    if campaign.protocol == Campaign.Protocol.BEST_WORST:
        task = (
            f"Rank all {k} texts from the one that supports the value most to the one that supports it least "
            f"(opposes it most). Answer with the text numbers only, strongest first, for example: {example}"
        )
    else:
        task = (
            f"Rank the {k} texts from the one that expresses the value most strongly to the one that expresses it "
            f"least. Answer with the text numbers only, strongest first, for example: {example}"
        )
        if campaign.allow_ties:
            task += ". Texts that express it equally may share a place: join their numbers with '=', e.g. 1=2"
    system = (
        "You are an annotator in a research study that ranks texts by how strongly they express a human value. "
        "Follow the study's instructions.\n\nInstructions:\n" + instructions.strip()
    )
    user = (
        f"Value: {value.name} ({value.theory.name})\nDefinition: {value.definition}\n\n{numbered}\n\n{task}."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


RETRY_MESSAGE = "I could not read that. Reply with the text numbers only, strongest first, separated by commas."
_TOKEN = re.compile(r"\d+|=")


def _groups_from(line: str, k: int, allow_ties: bool) -> list[list[int]] | None:
    tokens = _TOKEN.findall(line)
    groups: list[list[int]] = []
    join_next = False
    for token in tokens:
        if token == "=":
            join_next = bool(groups)
            continue
        number = int(token)
        if join_next:
            groups[-1].append(number)
        else:
            groups.append([number])
        join_next = False
    flat = [n for group in groups for n in group]
    if not flat or len(set(flat)) != len(flat) or any(not 1 <= n <= k for n in flat):
        return None
    if not allow_ties and any(len(group) > 1 for group in groups):
        return None
    missing = sorted(set(range(1, k + 1)) - set(flat))
    if len(missing) == 1:
        groups.append(missing)  # "2, 3" out of three texts: the one left out is the weakest
    elif missing:
        return None
    return [[n - 1 for n in group] for group in groups]


def parse_ranking(answer: str, *, k: int, allow_ties: bool) -> list[list[int]] | None:
    """Positions (0-based, in the order shown) grouped strongest → weakest, or None when the answer names no
    valid ranking of the k texts. Lines are tried from the last (models tend to conclude with the answer)."""
    lines = [line for line in answer.strip().splitlines() if _TOKEN.search(line)]
    for line in reversed(lines):
        groups = _groups_from(line, k, allow_ties)
        if groups is not None:
            return groups
    return None


def ordering_for(
    groups: Sequence[Sequence[int]], *, assignment: Assignment, protocol: str
) -> tuple[list[list[int]], str]:
    """Positions → the (ordering of PoolItem ids, kind) judgment_submit takes."""
    shown = list(assignment.item_ids)
    ordering = [[shown[position] for position in group] for group in groups]
    if protocol == Campaign.Protocol.BEST_WORST:
        flat = [item for group in ordering for item in group]
        return [[flat[0]], flat[1:-1], [flat[-1]]], Judgment.Kind.BEST_WORST
    return ordering, Judgment.Kind.RANKING


# ----- the annotation loop -------------------------------------------------------------------------------------------


@dataclass
class AnnotationRun:
    judgments: int = 0
    unreadable: int = 0
    released: int = 0
    stop_reason: str = ""
    seconds: float = 0.0


def llm_annotate(
    *,
    campaign: Campaign,
    backend: ModelBackend,
    chat: Any,
    max_judgments: int,
    report: Callable[[float, str], None] | None = None,
    generation: dict[str, Any] | None = None,
    rng: random.Random | None = None,
) -> AnnotationRun:
    """Work the campaign as the backend's annotator until it has given `max_judgments` judgments, the campaign has
    nothing more for it, or its answers keep failing to parse. `chat` is the backend's ChatBackend."""
    report = report or (lambda progress, message: None)
    user = llm_annotator_user(backend=backend)
    # greedy decoding: an annotator asked the same comparison twice should give the same answer
    generation = {"temperature": 0.0, **(generation or {})}
    generation["max_new_tokens"] = min(int(generation.get("max_new_tokens", MAX_NEW_TOKENS)), MAX_NEW_TOKENS)
    run = AnnotationRun()
    started = time.monotonic()
    consecutive_failures = 0
    while run.judgments < max_judgments:
        campaign.refresh_from_db(fields=["status"])
        outcome = assignment_next(campaign=campaign, annotator=user, rng=rng)
        lease = outcome.assignment
        if lease is None:
            run.stop_reason = outcome.reason
            break
        lease = Assignment.objects.select_related("value__theory").get(pk=lease.pk)
        version, instructions = _instructions(campaign)
        messages = comparison_prompt(campaign=campaign, assignment=lease, instructions=instructions)
        allow_ties = campaign.allow_ties and campaign.protocol != Campaign.Protocol.BEST_WORST
        asked = time.monotonic()
        answers = []
        groups = None
        for attempt in range(2):
            answer = chat.chat([messages], seed=lease.pk + attempt, **generation)[0]
            answers.append(answer)
            groups = parse_ranking(answer, k=len(lease.item_ids), allow_ties=allow_ties)
            if groups is not None:
                break
            messages = [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": RETRY_MESSAGE}]
        latency_ms = int((time.monotonic() - asked) * 1000)
        if groups is None:
            run.unreadable += 1
            consecutive_failures += 1
            assignment_release(assignment=lease, annotator=user)
            run.released += 1
            logger.warning("%s: unreadable answer to assignment %s: %r", user.username, lease.pk, answers[-1][:200])
            if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                run.stop_reason = f"{MAX_CONSECUTIVE_FAILURES} unreadable answers in a row"
                break
            continue
        consecutive_failures = 0
        ordering, kind = ordering_for(groups, assignment=lease, protocol=campaign.protocol)
        judgment_submit(
            assignment_id=lease.pk,
            annotator=user,
            ordering=ordering,
            kind=kind,
            latency_ms=latency_ms,
            client_info={
                "llm_backend": backend.name,
                "model": backend.model,
                "instructions_version": version,
                "answer": answers[-1][:1000],
                "attempts": len(answers),
            },
        )
        run.judgments += 1
        report(run.judgments / max_judgments, f"{run.judgments} of {max_judgments} judgments")
    else:
        run.stop_reason = "max_judgments"
    run.seconds = round(time.monotonic() - started, 3)
    return run


def llm_annotate_job(context: JobContext) -> dict[str, Any]:
    """Job handler for "modeling.llm_annotate" (params: campaign_id, backend_id, max_judgments)."""
    from modeling.services.backends import backend_build, backend_get

    params = context.params
    campaign_id = params.get("campaign_id")
    campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id is not None else None
    if campaign is None:
        raise ApplicationError(f"Campaign {params.get('campaign_id')} does not exist.", extra={"params": params})
    backend = backend_get(backend_id=int(params["backend_id"]))
    run = llm_annotate(
        campaign=campaign,
        backend=backend,
        chat=backend_build(backend=backend),
        max_judgments=int(params.get("max_judgments", 100)),
        report=context.report,
    )
    return {
        "annotator": llm_username(backend),
        "judgments": run.judgments,
        "unreadable": run.unreadable,
        "released": run.released,
        "stop_reason": run.stop_reason,
        "seconds": run.seconds,
    }
