"""`simulate_annotators` as a service: check the campaign against the truth file, make sure the bot accounts
exist, run the bots against a server over HTTP, and optionally report how close the published intensities came to
the truth once the refit has caught up."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from accounts.services import user_ensure
from common.exceptions import ApplicationError
from labeling.models import Campaign, CampaignItem
from modeling.simulation.annotators import SimulationPlan, simulate, truth_key
from modeling.simulation.report import (
    accuracy_against_truth,
    campaign_scored_texts,
    campaign_value_ids,
    refit_in_process,
    refit_wait,
)

BOT_USERNAME = "sim-bot-{index}"
# Accounts made by --create-users get this password unless --password says otherwise. It is printed in the docs:
# make bot accounts with it only on development and benchmark databases.
DEFAULT_BOT_PASSWORD = "valueflow-sim-bot"
MISSING_EXAMPLES = 5


@dataclass(frozen=True)
class CampaignFacts:
    protocol: str
    allow_ties: bool
    value_ids: list[int]


def simulation_campaign_check(*, campaign_id: int, truth: Mapping[str, float]) -> CampaignFacts:
    """The campaign must be running and every one of its texts must have a true intensity."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise ApplicationError(f"Campaign {campaign_id} does not exist.", extra={"campaign": campaign_id})
    if campaign.status != Campaign.Status.RUNNING:
        raise ApplicationError(
            f"Campaign {campaign_id} ({campaign.name}) is {campaign.status}; start it before simulating annotators.",
            extra={"campaign": campaign_id, "status": campaign.status},
        )
    contents = CampaignItem.objects.filter(campaign_id=campaign_id).values_list("pool_item__text__content", flat=True)
    missing = [content for content in contents.iterator(chunk_size=5000) if truth_key(content) not in truth]
    if missing:
        examples = "; ".join(repr(content[:60]) for content in missing[:MISSING_EXAMPLES])
        raise ApplicationError(
            f"{len(missing)} texts of campaign {campaign_id} are not in the truth file, so the bots could not judge "
            f"them (e.g. {examples}). Use a truth file with a `text` and `intensity` for every text of the campaign.",
            extra={"campaign": campaign_id, "missing": len(missing)},
        )
    return CampaignFacts(
        protocol=campaign.protocol,
        allow_ties=campaign.allow_ties,
        value_ids=campaign_value_ids(campaign_id=campaign_id),
    )


def simulation_accounts(*, bots: int, create: bool, password: str) -> list[tuple[str, str]]:
    """(username, password) of sim-bot-1 … sim-bot-N, creating missing ones as annotators when `create`."""
    if bots < 1:
        raise ApplicationError("Simulate at least one bot.", extra={"field": "bots"})
    usernames = [BOT_USERNAME.format(index=index) for index in range(1, bots + 1)]
    if create:
        for username in usernames:
            user, _ = user_ensure(username=username, password=password, role=User.Role.ANNOTATOR)
            if user.role != User.Role.ANNOTATOR:
                raise ApplicationError(
                    f"The account {username} exists with the role {user.role}; bots must be annotators.",
                    extra={"username": username},
                )
    else:
        existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
        missing = [username for username in usernames if username not in existing]
        if missing:
            raise ApplicationError(
                f"{len(missing)} bot accounts do not exist ({', '.join(missing[:MISSING_EXAMPLES])}…); "
                "pass --create-users to create them as annotators.",
                extra={"missing": missing},
            )
    return [(username, password) for username in usernames]


def simulation_run(
    *,
    campaign_id: int,
    truth: Mapping[str, float],
    bots: int,
    base_url: str,
    create_users: bool = False,
    password: str = DEFAULT_BOT_PASSWORD,
    judgments_per_bot: int | None = None,
    seconds: float | None = None,
    noise: float = 1.0,
    scale: float = 2.5,
    spam: float = 0.0,
    side_bias: float = 0.0,
    tie_epsilon: float = 0.05,
    seed: int | None = None,
    login_method: str = "session",
    report: bool = False,
    report_wait_s: float = 120.0,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Run the bots and return the summary (with a `report` entry when asked for)."""
    facts = simulation_campaign_check(campaign_id=campaign_id, truth=truth)
    accounts = simulation_accounts(bots=bots, create=create_users, password=password)
    plan = SimulationPlan(
        base_url=base_url,
        campaign_id=campaign_id,
        accounts=accounts,
        truth=truth,
        protocol=facts.protocol,
        allow_ties=facts.allow_ties,
        noise=noise,
        scale=scale,
        spam=spam,
        side_bias=side_bias,
        tie_epsilon=tie_epsilon,
        judgments_per_bot=judgments_per_bot,
        seconds=seconds,
        seed=seed,
        login_method=login_method,
    )
    progress(f"{bots} bots ({plan.spammers} spammers) judging campaign {campaign_id} at {base_url} …")
    result = simulate(plan)
    summary = result.summary()
    if report:
        summary["report"] = simulation_report(
            campaign_id=campaign_id,
            value_ids=facts.value_ids,
            truth=truth,
            generating_scale=scale * noise,
            wait_s=report_wait_s,
            progress=progress,
        )
    return summary


def simulation_report(
    *,
    campaign_id: int,
    value_ids: Sequence[int],
    truth: Mapping[str, float],
    generating_scale: float,
    wait_s: float,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Wait for the live refit to cover every judgment; if no refit worker does within `wait_s`, run the refit
    service here. Then compare the published scores with the truth."""
    progress(f"waiting up to {wait_s:g} s for the live refit of values {list(value_ids)} …")
    if refit_wait(value_ids=value_ids, timeout_s=wait_s):
        refit = "live"
    else:
        progress("no refit worker caught up in time; running the refit service in this process …")
        refit_in_process(value_ids=value_ids)
        refit = "in_process"
    accuracy = accuracy_against_truth(
        texts=campaign_scored_texts(campaign_id=campaign_id), truth=truth, generating_scale=generating_scale
    )
    return {"refit": refit, **accuracy}
