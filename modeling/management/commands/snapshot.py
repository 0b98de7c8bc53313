"""Snapshots from the command line; every subcommand prints JSON.

    python manage.py snapshot create --values svt:benevolence,mft:care-harm --name NAME [--parent REF] [--user NAME]
    python manage.py snapshot export ID_OR_HASH --out DIR
    python manage.py snapshot list
    python manage.py snapshot diff OLD NEW [--top N]
"""

import getpass
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from common.exceptions import ApplicationError
from modeling.models import Snapshot
from modeling.services.snapshots import (
    snapshot_create,
    snapshot_diff,
    snapshot_dir,
    snapshot_export,
    snapshot_get,
    snapshot_list,
    snapshot_value_ids_from_keys,
)


def _summary(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.pk,
        "hash": snapshot.content_hash,
        "name": snapshot.name,
        "parent_hash": snapshot.parent.content_hash if snapshot.parent is not None else None,
        "created_at": snapshot.created_at.isoformat(),
        "values": [entry["value"] for entry in snapshot.manifest.get("values", [])],
        "n_items": snapshot.n_items,
        "n_judgments": snapshot.n_judgments,
        "files_dir": str(snapshot_dir(snapshot)),
    }


class Command(BaseCommand):
    help = "Create, export, list and compare immutable VIDB snapshots (output is JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,export,list,diff}")
        create = actions.add_parser("create", help="Freeze the published fits of values into a snapshot.")
        create.add_argument(
            "--values", required=True, help="Comma-separated theory:key, e.g. svt:benevolence,mft:care-harm"
        )
        create.add_argument("--name", required=True)
        create.add_argument("--parent", help="Parent snapshot id or hash (default: the newest sharing a value).")
        create.add_argument("--user", help="Username recorded as the creator (default: none).")
        export = actions.add_parser("export", help="Copy a snapshot's files into a folder.")
        export.add_argument("ref", metavar="ID_OR_HASH")
        export.add_argument("--out", required=True, help="Folder to copy into (created; must not hold the files).")
        actions.add_parser("list", help="List snapshots, newest first.")
        diff = actions.add_parser("diff", help="Compare two snapshots value by value.")
        diff.add_argument("old", metavar="OLD")
        diff.add_argument("new", metavar="NEW")
        diff.add_argument("--top", type=int, default=10, help="How many top movers per value (default 10).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = getattr(self, f"_{options['action']}")(options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))

    def _create(self, options: dict[str, Any]) -> dict[str, Any]:
        user = None
        if options.get("user"):
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"--user: no user named {options['user']!r}.")
        keys = [key for key in options["values"].split(",") if key.strip()]
        parent = snapshot_get(ref=options["parent"]) if options.get("parent") else None
        snapshot = snapshot_create(
            value_ids=snapshot_value_ids_from_keys(keys=keys), name=options["name"], created_by=user, parent=parent
        )
        return _summary(snapshot)

    def _export(self, options: dict[str, Any]) -> dict[str, Any]:
        snapshot = snapshot_get(ref=options["ref"])
        out = Path(options["out"]).expanduser().resolve()
        written = snapshot_export(snapshot=snapshot, out_dir=out, actor=f"command line ({getpass.getuser()})")
        return {**_summary(snapshot), "out": str(out), "files": [str(p.relative_to(out)) for p in written]}

    def _list(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [_summary(snapshot) for snapshot in snapshot_list()]

    def _diff(self, options: dict[str, Any]) -> dict[str, Any]:
        old, new = snapshot_get(ref=options["old"]), snapshot_get(ref=options["new"])
        return snapshot_diff(old=old, new=new, top=options["top"]).as_dict()
