"""ValueFlow project configuration (settings, URLs, Celery app). No business code lives here."""

from .celery_app import app as celery_app

__all__ = ("celery_app",)
