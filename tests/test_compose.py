"""docker/compose.yml, the two Dockerfiles and the start scripts fit together (checked without a Docker engine):
every command a container runs exists in the image at the path it names, every environment variable compose sets
is one something actually reads, and every Celery queue the settings route to has a worker."""

import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
DOCKER_DIR = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER_DIR / "compose.yml").read_text())
SERVICES: dict = COMPOSE["services"]
APP_SERVICES = sorted(name for name, service in SERVICES.items() if "build" in service)
START_SCRIPTS = sorted((DOCKER_DIR / "bin").iterdir())
# The Dockerfiles copy the repository to /app.
IMAGE_ROOT = PurePosixPath("/app")

# Variables the official images read themselves (postgres: POSTGRES_*; redis: none) or Django/Celery read.
DOCUMENTED_BY_IMAGES_OR_TOOLS = re.compile(r"^(POSTGRES_\w+|PGDATA|DJANGO_SETTINGS_MODULE)$")
ENV_READ = re.compile(r"""\b(?:env(?:\.\w+)?|_required)\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def repo_path_of(image_path: str) -> Path:
    """Where a path inside the image comes from in the repository."""
    relative = PurePosixPath(image_path).relative_to(IMAGE_ROOT)
    return ROOT.joinpath(*relative.parts)


def command_of(service: dict) -> list[str]:
    command = service.get("entrypoint") or service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else list(command)


def queues_of(command: list[str]) -> list[str]:
    for index, arg in enumerate(command):
        if arg.startswith("--queues="):
            return arg.split("=", 1)[1].split(",")
        if arg in ("-Q", "--queues"):
            return command[index + 1].split(",")
    return []


def environment_keys(service: dict) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return {item.split("=", 1)[0] for item in environment}
    return set(environment)


def test_compose_defines_the_production_services():
    assert set(SERVICES) == {"db", "redis", "web", "worker", "beat", "worker-gpu"}
    assert SERVICES["db"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert APP_SERVICES == ["beat", "web", "worker", "worker-gpu"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_service_builds_from_a_dockerfile_in_the_repository(name):
    build = SERVICES[name]["build"]
    context = (DOCKER_DIR / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).is_file()
    assert "COPY . /app/" in (context / build["dockerfile"]).read_text()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_app_service_runs_a_start_script_that_the_image_contains(name):
    command = command_of(SERVICES[name])
    assert command, f"{name} names no command"
    script = repo_path_of(command[0])
    assert script.is_file(), f"{name} runs {command[0]}, but {script.relative_to(ROOT)} does not exist"
    assert script.parent == DOCKER_DIR / "bin"


@pytest.mark.parametrize("name", [name for name, service in SERVICES.items() if "healthcheck" in service])
def test_healthchecks_run_commands_that_exist(name):
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    if name in APP_SERVICES:
        assert repo_path_of(test[1]).is_file(), f"{name}'s healthcheck runs {test[1]}, missing from the repository"


def test_every_long_running_app_service_except_beat_has_a_healthcheck():
    assert {name for name in APP_SERVICES if "healthcheck" not in SERVICES[name]} == {"beat"}
    assert {"db", "redis"} <= {name for name, service in SERVICES.items() if "healthcheck" in service}


@pytest.mark.parametrize("script", START_SCRIPTS, ids=lambda path: path.name)
def test_start_scripts_are_executable_bash_without_syntax_errors(script):
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    assert script.read_text().splitlines()[0] == "#!/usr/bin/env bash"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_dockerfile_commands_name_scripts_that_exist():
    for dockerfile in ("Dockerfile", "gpu.Dockerfile"):
        [cmd] = re.findall(r"^CMD (\[.*\])$", (DOCKER_DIR / dockerfile).read_text(), flags=re.MULTILINE)
        assert repo_path_of(yaml.safe_load(cmd)[0]).is_file()


def test_compose_sets_only_environment_variables_that_something_reads():
    read_by_settings = {
        name for path in (ROOT / "config" / "settings").glob("*.py") for name in ENV_READ.findall(path.read_text())
    }
    unknown = {
        f"{name}: {key}"
        for name, service in SERVICES.items()
        for key in environment_keys(service)
        if key not in read_by_settings and not DOCUMENTED_BY_IMAGES_OR_TOOLS.match(key)
    }
    assert unknown == set()


def test_services_read_the_repository_env_file():
    for name in [*APP_SERVICES, "db"]:
        assert (DOCKER_DIR / SERVICES[name]["env_file"]).resolve() == ROOT / ".env"
    assert (ROOT / ".env.example").is_file()


def test_the_gpu_worker_is_optional_and_serves_only_the_gpu_queue_one_task_at_a_time():
    gpu_worker = SERVICES["worker-gpu"]
    command = command_of(gpu_worker)
    assert gpu_worker["profiles"] == ["gpu"]
    assert gpu_worker["build"]["dockerfile"] == "docker/gpu.Dockerfile"
    assert queues_of(command) == ["gpu"]
    assert "--concurrency=1" in command
    assert gpu_worker["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    # Nothing else is behind a profile, and no CPU worker takes GPU work.
    assert [name for name, service in SERVICES.items() if "profiles" in service] == ["worker-gpu"]
    assert "gpu" not in queues_of(command_of(SERVICES["worker"]))


def test_every_queue_the_settings_route_to_has_a_worker():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    served = {queue for service in SERVICES.values() for queue in queues_of(command_of(service))}
    assert routed <= served
    assert served == {"default", "refit", "gpu"}


def test_web_migrates_before_serving_and_workers_wait_for_it():
    start_web = (DOCKER_DIR / "bin" / "start-web").read_text()
    assert start_web.index("manage.py migrate") < start_web.index("exec gunicorn config.wsgi")
    for name in ("worker", "beat", "worker-gpu"):
        assert SERVICES[name]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_images_run_as_a_non_root_user_on_python_3_11():
    for dockerfile in ("Dockerfile", "gpu.Dockerfile"):
        text = (DOCKER_DIR / dockerfile).read_text()
        assert text.count("\nFROM ") == 1 and "\nFROM python:3.11-slim\n" in text
        [user] = re.findall(r"^USER (\S+)$", text, flags=re.MULTILINE)
        assert user not in ("root", "0")


def test_the_cpu_image_uses_cpu_torch_and_collects_static_files():
    text = (DOCKER_DIR / "Dockerfile").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    assert "requirements/base.txt" in text and "requirements/ml.txt" in text
    assert "manage.py collectstatic --noinput" in text


def test_secrets_and_local_state_stay_out_of_the_images():
    for dockerfile in ("Dockerfile", "gpu.Dockerfile"):
        ignored = (DOCKER_DIR / f"{dockerfile}.dockerignore").read_text().splitlines()
        assert {".env", ".venv", "var", ".git"} <= set(ignored)
