"""The Celery application.

Workers and beat start with ``celery -A config worker`` / ``celery -A config beat``.
Settings come from Django settings under the ``CELERY_`` namespace; tasks are
discovered in every installed app's ``tasks.py``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("journeypulse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
