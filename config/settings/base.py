"""Settings shared by every environment, read from the environment with django-environ.

With no environment at all the app runs *embedded*: a SQLite file beside the code,
kombu's filesystem broker, DEBUG on and a local secret key, so ``make run`` needs
no server. ``DATABASE_URL`` and ``REDIS_URL`` (or ``CELERY_BROKER_URL``) switch to
PostgreSQL and Redis. Every variable is listed in ``.env.example``.
"""

from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is optional; real environment variables always win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# Overridden by local.py / test.py; production.py requires it from the environment.
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: no CDN.
    # Our apps, in dependency order: touchpoints <- surveys <- analytics.
    "touchpoints",
    "surveys",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "touchpoints.context_processors.workspace",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo runs a web server, a worker and beat on one file: let writers queue
    # (IMMEDIATE takes the write lock up front, so no transaction fails half-way with
    # "database is locked"), and let readers read while one writes (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "touchpoints:journey-list"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("ru", _("Russian")),
    ("pl", _("Polish")),
    ("hu", _("Hungarian")),
]
LOCALE_PATHS = [BASE_DIR / "config" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "config.staticfiles.PlotlyFinder",  # plotly.js from the installed package: no CDN
]
# App static files live in <app>/static/; the shared look is touchpoints/static/journeypulse/.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST framework -------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "touchpoints.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["touchpoints.permissions.HasWorkspaceRole"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "config.api.InputOutputAutoSchema",
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "JourneyPulse API",
    "DESCRIPTION": (
        "Customer-journey feedback: journeys, stages, touchpoints, personas and customers. "
        "Authenticate with `Authorization: Bearer <secret key>` or a browser session. "
        'Every 4xx answers `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from drf-spectacular-sidecar, served by us (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "touchpoints.models.Role.choices",
        "TouchpointChannelEnum": "touchpoints.models.Channel.choices",
        "InvitationChannelEnum": "surveys.models.InvitationChannel.choices",
        "SurveyStatusEnum": "surveys.models.SurveyStatus.choices",
        "InvitationStatusEnum": "surveys.models.InvitationStatus.choices",
        "EventTypeEnum": "touchpoints.services.events.KINDS",
        "QuestionTypeEnum": "surveys.models.QuestionType.choices",
        "ConditionOperatorEnum": "surveys.models.ConditionOperator.choices",
        "DecisionOutcomeEnum": "surveys.models.DecisionOutcome.choices",
        "CaseStatusEnum": "analytics.models.CaseStatus.choices",
    },
}

# --- Celery ---------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = BASE_DIR / "var" / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Ingestion must answer while the broker is down: give up on a wake-up quickly (logged; the
# sweep evaluates what was not enqueued) rather than hold the request.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
# The database is the queue of record: beat only wakes the sweep and the dispatcher.
CELERY_BEAT_SCHEDULE = {
    "sweep-unevaluated-events": {"task": "surveys.sweep_events", "schedule": 60.0},
    "dispatch-due-invitations": {"task": "surveys.dispatch_invitations", "schedule": 20.0},
    # Analytics runs expire before the next one is due (seconds): while no worker takes them they do not pile up.
    "refresh-analytics-rollups": {
        "task": "analytics.refresh_rollups",
        "schedule": 15 * 60.0,
        "options": {"expires": 14 * 60.0},
    },
    # The closed loop: a case per detractor, flags (each alerted once), the managers' weekly digest.
    "open-detractor-cases": {"task": "analytics.open_detractor_cases", "schedule": 60.0, "options": {"expires": 55.0}},
    "refresh-friction-flags": {
        "task": "analytics.refresh_flags",
        "schedule": crontab(minute=7),
        "options": {"expires": 55 * 60.0},
    },
    # Hourly: the digest goes out from Monday 07:00 UTC, once per workspace and week, and a missed run is made up.
    "send-weekly-digest": {
        "task": "analytics.send_weekly_digest",
        "schedule": crontab(minute=0),
        "options": {"expires": 55 * 60.0},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")

#: The public origin of this site, used in links sent by email and webhook.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Email ------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="JourneyPulse <noreply@localhost>")

# --- Logging ----------------------------------------------------------------------
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# --- Product settings -------------------------------------------------------------
# How often an API key's last_used_at is written at most (seconds): one UPDATE per key per window.
API_KEY_LAST_USED_RESOLUTION_SECONDS = env.int("API_KEY_LAST_USED_RESOLUTION_SECONDS", default=60)
