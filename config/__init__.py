"""JourneyPulse project configuration: settings, URLs, the Celery app and the error path."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
