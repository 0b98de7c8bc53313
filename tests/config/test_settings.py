"""Production settings refuse to start without their secrets, pass Django's deployment checks once given them,
and .env.example documents every variable the settings read."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DIR = ROOT / "config" / "settings"
REQUIRED_IN_PRODUCTION = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
]
# env("X"), env.bool("X"), env.db("X", …), env.list(…), and production's _required("X").
ENV_READ = re.compile(r"""\b(?:env(?:\.\w+)?|_required)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def settings_variables() -> set[str]:
    return {name for path in SETTINGS_DIR.glob("*.py") for name in ENV_READ.findall(path.read_text())}


def production_environment(**overrides: str) -> dict[str, str]:
    """A clean environment (nothing inherited from the test run) with everything production needs."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "example.org",
        "DATABASE_URL": "postgres://valueflow:secret@127.0.0.1:5432/valueflow",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    }
    environment.update(overrides)
    return {name: value for name, value in environment.items() if value is not None}


def run_python(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("missing", REQUIRED_IN_PRODUCTION)
def test_production_refuses_to_start_without(missing):
    environment = production_environment()
    del environment[missing]
    result = run_python("-c", "import config.settings.production", environment=environment)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured:")
    assert missing in last_line


def test_production_treats_an_empty_value_as_missing():
    result = run_python(
        "-c", "import config.settings.production", environment=production_environment(DJANGO_SECRET_KEY="")
    )
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set in production" in result.stderr


def test_production_passes_the_deployment_checks_without_warnings():
    result = run_python("manage.py", "check", "--deploy", environment=production_environment())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output, output


def test_production_reads_its_allowed_hosts_from_the_environment():
    result = run_python(
        "-c",
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.ALLOWED_HOSTS, settings.DEBUG)",
        environment=production_environment(DJANGO_ALLOWED_HOSTS="valueflow.example.org, api.example.org"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['valueflow.example.org', 'api.example.org'] False"


def test_env_example_lists_every_variable_the_settings_read():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    read = settings_variables()
    assert read, "the scan found no env() calls; the pattern no longer matches the settings"
    assert sorted(read - documented) == []


def test_env_example_holds_no_secret_values():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert values["DJANGO_SECRET_KEY"] == ""
    assert values["DJANGO_DEBUG"] == "false"
