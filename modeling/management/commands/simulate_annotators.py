"""`python manage.py simulate_annotators --campaign ID --truth FILE --bots N [...]`: simulated annotators judge a
running campaign through the HTTP API of a running server and answer from a truth file; prints one JSON line.

Researchers use it to plan budgets: how many judgments per text, at what annotator noise and spam rate, give the
intervals they need (`--report`). See docs/benchmarks.md for the noise model and examples.
"""

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.arguments import non_negative_float, positive_int
from common.exceptions import ApplicationError
from modeling.simulation.annotators import TruthFileError, truth_load
from modeling.simulation.runs import DEFAULT_BOT_PASSWORD, simulation_run


def _probability(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {raw}")
    return value


class Command(BaseCommand):
    help = "Run simulated annotators against a campaign through the HTTP API and print one JSON line of results."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", type=int, required=True, help="id of a running campaign")
        parser.add_argument("--truth", required=True, help="CSV or JSONL with `text` and `intensity` for every text")
        parser.add_argument("--bots", type=positive_int, required=True, help="number of simulated annotators")
        parser.add_argument(
            "--judgments-per-bot", type=positive_int, default=None,
            help="stop each bot after this many judgments (default: until the campaign has no more work)",
        )
        parser.add_argument("--seconds", type=float, default=None, help="stop every bot after this many seconds")
        parser.add_argument(
            "--noise", type=non_negative_float, default=1.0,
            help="Gumbel noise multiplier: 1 answers by Plackett–Luce with utilities truth/scale, 0 by the truth",
        )
        parser.add_argument("--scale", type=float, default=2.5, help="intensity points per logit (default 2.5)")
        parser.add_argument("--spam", type=_probability, default=0.1, help="share of bots that answer at random")
        parser.add_argument(
            "--side-bias", type=_probability, default=0.0,
            help="probability that a bot puts the first text shown on top whatever it perceived",
        )
        parser.add_argument(
            "--tie-epsilon", type=non_negative_float, default=0.05,
            help="noisy utilities closer than this tie, where the campaign allows ties",
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the server the bots talk to")
        parser.add_argument("--create-users", action="store_true", help="create missing sim-bot-<i> annotators")
        parser.add_argument(
            "--password", default=DEFAULT_BOT_PASSWORD,
            help="password of the bot accounts (given to them by --create-users)",
        )
        parser.add_argument("--login", choices=["session", "basic"], default="session", help="how bots authenticate")
        parser.add_argument("--seed", type=int, default=None, help="seed for reproducible answers")
        parser.add_argument(
            "--report", action="store_true",
            help="after the run, wait for the refit and report Spearman and interval coverage against the truth",
        )
        parser.add_argument(
            "--report-wait", type=float, default=120.0,
            help="seconds to wait for the live refit before running the refit in this process (default 120)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["scale"] <= 0:
            raise CommandError(f"--scale must be positive, got {options['scale']}.")
        if options["seconds"] is not None and options["seconds"] <= 0:
            raise CommandError(f"--seconds must be positive, got {options['seconds']}.")
        try:
            truth = truth_load(options["truth"])
            summary = simulation_run(
                campaign_id=options["campaign"],
                truth=truth,
                bots=options["bots"],
                base_url=options["base_url"],
                create_users=options["create_users"],
                password=options["password"],
                judgments_per_bot=options["judgments_per_bot"],
                seconds=options["seconds"],
                noise=options["noise"],
                scale=options["scale"],
                spam=options["spam"],
                side_bias=options["side_bias"],
                tie_epsilon=options["tie_epsilon"],
                seed=options["seed"],
                login_method=options["login"],
                report=options["report"],
                report_wait_s=options["report_wait"],
                progress=lambda message: self.stderr.write(message),
            )
        except TruthFileError as error:
            raise CommandError(f"Truth file rejected:\n{error}") from error
        except (ApplicationError, ValueError) as error:
            raise CommandError(getattr(error, "message", str(error))) from error
        self.stdout.write(json.dumps(summary))
