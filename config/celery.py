"""The Celery application.

Workers and beat start with ``celery -A config worker`` / ``celery -A config beat``.
Like the web entry points they use production settings unless
``DJANGO_SETTINGS_MODULE`` (environment or ``.env``) says otherwise, so a worker
never runs with the development defaults by accident. Settings come from Django
settings under the ``CELERY_`` namespace; tasks are discovered in every installed
app's ``tasks.py``.
"""

import os
from pathlib import Path

import environ
from celery import Celery

environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("journeypulse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
