"""Benchmarks (`manage.py benchmark annotate|accuracy` start gunicorn with these): production's request path —
DEBUG off, persistent database connections, the Redis cache — on loopback, without the HTTPS redirect and
secure-only cookies that need a TLS proxy in front. Not for serving users."""

from django.conf import global_settings

from common.cache import cache_settings

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="valueflow-benchmark-key-loopback-only")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/valueflow")}
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/13")
CACHES = {"default": cache_settings(REDIS_URL)}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"  # see base.py
# The benchmark server sends refit requests into a throwaway in-process queue by default: the benchmark measures
# the annotation path, and a real broker would otherwise keep requests for values of a database that is dropped.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
# The bot accounts of a throwaway benchmark database are created under the test settings (MD5 hashes). Listing MD5
# first lets them log in without the server re-hashing each password with PBKDF2 (about a CPU-second per account
# here); logins happen before the clock starts, so this changes setup time only, never a measurement.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
