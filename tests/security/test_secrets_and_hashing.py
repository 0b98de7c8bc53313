"""Secrets: model-backend API keys live only in the workers' environment — never in the database, never in any
response — and passwords are hashed with Django's production hashers (PBKDF2 first), never MD5 outside tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core import serializers
from django.test import Client

from tests.config.test_settings import production_environment
from tests.permission_table import ADMIN, ENDPOINTS
from tests.test_permission_matrix import objects, url_of  # noqa: F401 - the shared sample fixture

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-valueflow-test-5e3c2b1a9f8e7d6c"
KEY_VARIABLE = "VALUEFLOW_TEST_BACKEND_KEY"


@pytest.fixture
def backend_with_a_key(objects, monkeypatch, db):  # noqa: F811
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    client = Client()
    client.force_login(objects.users[ADMIN])
    response = client.post(
        "/api/v1/backends/",
        {"name": "Remote judge", "kind": "openai", "model": "judge-1", "endpoint_url": "http://127.0.0.1:9/v1",
         "api_key_env": KEY_VARIABLE},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode()
    assert response.json()["api_key_is_set"] is True
    return response.json()["id"], client


def test_no_get_endpoint_returns_the_key_to_an_admin(backend_with_a_key, objects):  # noqa: F811
    backend_id, client = backend_with_a_key
    checked = 0
    for endpoint in ENDPOINTS:
        if endpoint.get is None:
            continue
        url = url_of(endpoint, objects)
        if "backend" in endpoint.route:
            url = url.replace(f"/{2_000_000_000}/", f"/{backend_id}/")
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert SECRET.encode() not in body, f"GET {url} returned the key"
        checked += 1
    assert checked > 40
    started = client.post(f"/api/v1/backends/{backend_id}/test/")
    assert SECRET not in started.content.decode()


def test_the_key_is_stored_nowhere_in_the_database(backend_with_a_key):
    for model in apps.get_models():
        dump = serializers.serialize("json", model.objects.all())
        assert SECRET not in dump, f"{model._meta.label} holds the key"


def test_production_hashes_passwords_with_pbkdf2_and_never_md5():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.PASSWORD_HASHERS[0]); print(any('MD5' in h for h in settings.PASSWORD_HASHERS)); "
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, "
        "settings.SECURE_HSTS_SECONDS > 0, settings.SECURE_SSL_REDIRECT)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=production_environment(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first, any_md5, cookies = result.stdout.strip().splitlines()
    assert first in {
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    }
    assert any_md5 == "False"
    assert cookies == "True True True True True"


def test_a_stored_password_is_a_salted_hash_not_the_password(db, settings):
    from accounts.services import user_create

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = user_create(username="hashed", password="correct horse battery", role="annotator")
    assert user.password.startswith("pbkdf2_sha256$")
    assert "correct horse battery" not in user.password
    assert user.check_password("correct horse battery")


def test_environment_of_this_run_is_untouched():
    assert os.environ.get(KEY_VARIABLE) is None
