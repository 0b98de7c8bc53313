"""Fault-injection tests share the real Celery worker fixture of the integration tests."""

from tests.integration.conftest import celery_worker_process  # noqa: F401 - a fixture, used by name
