"""Tests: PostgreSQL and Redis over real loopback connections (started by the test command)."""

from common.cache import cache_settings

from .base import *  # noqa: F403
from .base import BASE_DIR, env

DEBUG = False
SECRET_KEY = "valueflow-test-key"
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/valueflow")}
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES = {"default": cache_settings(REDIS_URL)}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"  # see base.py
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/14")
CELERY_TASK_ALWAYS_EAGER = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DATA_DIR = BASE_DIR / "var" / "test"
MEDIA_ROOT = DATA_DIR / "media"
MODELING_ARTIFACTS_DIR = DATA_DIR / "artifacts"
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"login": "1000/min"}  # noqa: F405
