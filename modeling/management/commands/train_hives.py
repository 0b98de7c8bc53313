"""Start a HiVES training run from the command line; prints the new version and its job as JSON.

    python manage.py train_hives [--set stage1_epochs=2 --set seed=7 …] [--base-model PATH_OR_NAME] [--wait]
    python manage.py train_hives --if-needed      # only when enough new labelled texts arrived (the periodic check)

Without --wait a worker runs the job (queue "gpu" when VALUEFLOW_GPU_WORKER is set, else "default"); with --wait the
job runs in this process and the command prints the finished version.
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.exceptions import ApplicationError
from common.services import job_run
from modeling.models import EmbeddingModel
from modeling.services.hives import hives_retrain_check, hives_training_start


def _setting(raw: str) -> tuple[str, str]:
    name, separator, value = raw.partition("=")
    if not separator or not name.strip():
        raise CommandError(f"--set {raw!r}: write NAME=VALUE, e.g. --set stage1_epochs=2")
    return name.strip(), value.strip()


def _summary(version: EmbeddingModel) -> dict[str, Any]:
    return {
        "version_id": version.pk,
        "name": version.name,
        "status": version.status,
        "is_current": version.is_current,
        "job_id": version.job_id,
        "seed": version.seed,
        "metrics": {key: version.metrics.get(key) for key in ("rank_acc", "sim_corr", "orthogonality", "knn_acc")},
        "base_metrics": {key: version.base_metrics.get(key) for key in ("rank_acc", "sim_corr", "orthogonality")},
        "promotion": version.metrics.get("promotion", {}).get("reason"),
    }


class Command(BaseCommand):
    help = "Start a HiVES training run (or, with --if-needed, only when enough new labelled texts arrived)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
            help="a training setting, e.g. stage1_epochs=2, stage2_steps=100, seed=7, held_out_fraction=0.2",
        )
        parser.add_argument("--base-model", default="", help="a local model folder or cached model name")
        parser.add_argument("--if-needed", action="store_true", help="run the automatic retrain check instead")
        parser.add_argument("--wait", action="store_true", help="run the job in this process and wait for it")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["if_needed"]:
                version = hives_retrain_check()
                if version is None:
                    self.stdout.write(json.dumps({"started": False, "reason": "not enough new labelled texts"}))
                    return
            else:
                version = hives_training_start(
                    hyperparameters=dict(_setting(raw) for raw in options["settings"]),
                    base_model=options["base_model"],
                    reason="started with manage.py train_hives",
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if options["wait"] and version.job_id:
            # A worker that picks the job up as well finds it running and leaves it alone.
            job = job_run(job_id=version.job_id)
            version.refresh_from_db()
            if job.status == job.Status.FAILED:
                raise CommandError(f"{version.name} failed: {job.error.splitlines()[0] if job.error else job.message}")
        self.stdout.write(json.dumps(_summary(version)))
