"""WSGI entry point (``gunicorn config.wsgi``). Production settings unless told otherwise."""

import os
from pathlib import Path

import environ
from django.core.wsgi import get_wsgi_application

environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()
