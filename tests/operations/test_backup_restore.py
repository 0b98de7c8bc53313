"""Backup and restore, as docs/operations.md prescribes them: `pg_dump --format=custom` of a live database, then
`pg_restore` into a new one. A snapshot created from each must have the same content hash — the hash covers every
published score and every judgment the fits used, so equal hashes mean the restore lost and changed nothing."""

import shutil
import subprocess

import psycopg
import pytest
from django.db import connection, connections
from psycopg import sql

from labeling.models import Judgment
from modeling.services.fits import fit_value
from modeling.services.snapshots import snapshot_create
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def connection_options() -> dict[str, str]:
    settings = connection.settings_dict
    return {
        "user": settings["USER"] or "postgres",
        "host": settings["HOST"] or "127.0.0.1",
        "port": str(settings["PORT"] or 5432),
        "password": settings["PASSWORD"] or "",
    }


def admin_execute(statement: sql.Composed) -> None:
    options = connection_options()
    with psycopg.connect(dbname="postgres", user=options["user"], host=options["host"], port=options["port"],
                         password=options["password"] or None, autocommit=True) as admin:
        admin.execute(statement)


def use_database(name: str) -> None:
    connections.close_all()
    connection.settings_dict["NAME"] = name


@pytest.fixture
def published_value(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=12, value_key="care")
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    item_ids = value.pool_items.order_by("id").values_list("id", flat=True)
    truth = {item_id: float(i) for i, item_id in enumerate(item_ids)}
    judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=8, seed=1)
    judge_through_services(campaign=campaign, annotator=other_annotator, truth=truth, n=8, seed=2)
    fit_value(value_id=value.pk)
    return value


def test_a_restored_dump_gives_a_snapshot_with_the_same_content_hash(published_value, researcher, settings, tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore (PostgreSQL's client tools) are needed")
    original = connection.settings_dict["NAME"]
    restored = f"{original}_restored"
    options = connection_options()
    environment = {"PGPASSWORD": options["password"], "PATH": "/usr/bin:/bin:/usr/local/bin"}
    common = ["--host", options["host"], "--port", options["port"], "--username", options["user"], "--no-owner"]
    dump = tmp_path / "valueflow.dump"

    subprocess.run(["pg_dump", *common, "--format=custom", "--file", str(dump), original], env=environment,
                   check=True, capture_output=True)
    admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored)))
    admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(restored)))
    try:
        subprocess.run(["pg_restore", *common, "--dbname", restored, str(dump)], env=environment, check=True,
                       capture_output=True)

        settings.MEDIA_ROOT = tmp_path / "original-media"
        from_original = snapshot_create(value_ids=[published_value.pk], name="before", created_by=researcher)
        judgments = Judgment.objects.count()

        use_database(restored)
        settings.MEDIA_ROOT = tmp_path / "restored-media"
        assert Judgment.objects.count() == judgments == 16
        from_restore = snapshot_create(value_ids=[published_value.pk], name="after restore", created_by=None)
        assert from_restore.content_hash == from_original.content_hash
        assert from_restore.n_judgments == from_original.n_judgments == 16
        original_files = (tmp_path / "original-media").rglob("*.jsonl")
        for path in original_files:
            twin = tmp_path / "restored-media" / path.relative_to(tmp_path / "original-media")
            assert twin.read_bytes() == path.read_bytes(), f"{path.name} differs after the restore"
    finally:
        use_database(original)
        admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restored)))
