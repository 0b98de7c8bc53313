"""DJANGO_LOG_FORMAT=json writes one JSON object per line with time, level, logger, message, the traceback and
any extra fields; the audit logger can also append to a file of its own."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from common.logging import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def test_a_record_becomes_one_json_line_with_extra_fields_and_the_traceback():
    logger = logging.getLogger("valueflow.test")
    try:
        raise ValueError("bad ordering")
    except ValueError:
        record = logger.makeRecord(
            "valueflow.test", logging.ERROR, __file__, 1, "submit of %s failed", (42,), sys.exc_info(),
            extra={"assignment_id": 42},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line.split('"exception"')[0]  # the structured part stays on the first line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "valueflow.test"
    assert entry["message"] == "submit of 42 failed"
    assert entry["assignment_id"] == 42
    assert "ValueError: bad ordering" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_the_settings_switch_every_log_line_to_json_and_copy_the_audit_log_to_its_file(tmp_path):
    audit_file = tmp_path / "audit.jsonl"
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('valueflow.judgments').warning('plain event'); "
        "logging.getLogger('valueflow.audit').info('role changed: user=%s', 'ann')"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DJANGO_LOG_FORMAT": "json",
        "VALUEFLOW_AUDIT_LOG_FILE": str(audit_file),
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("valueflow.judgments", "plain event"),
        ("valueflow.audit", "role changed: user=ann"),  # the audit trail also reaches the console
    ]
    audit = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [entry["message"] for entry in audit] == ["role changed: user=ann"]
