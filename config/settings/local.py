"""The embedded default: SQLite, a Celery worker on a local filesystem broker, files under var/.
Used by the README's run command; needs no services."""

from .base import *  # noqa: F403
from .base import DATA_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A fixed development key is acceptable only here: production.py refuses to start without its own.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="valueflow-local-development-only-key-not-for-production")
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
