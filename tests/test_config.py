"""Project-level guarantees: schema, migrations, settings, error pages, health."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import override_settings
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from config import urls as project_urls

ROOT = Path(__file__).resolve().parent.parent


def test_openapi_schema_generates_valid_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert not GENERATOR_STATS, f"schema warnings/errors: {GENERATOR_STATS}"
    paths = schema["paths"]
    for resource in ("journeys", "stages", "touchpoints", "personas", "customers"):
        assert f"/api/v1/{resource}/" in paths
    assert "/api/v1/journeys/{id}/reorder-stages/" in paths
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    assert "400" in paths["/api/v1/journeys/"]["post"]["responses"]


def test_schema_and_docs_are_served(client, db):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert schema["info"]["title"] == "JourneyPulse API"
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/" in docs
    assert "cdn" not in docs.lower()


@pytest.mark.django_db
def test_migrations_are_complete():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def _settings_import(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "ALLOWED_HOSTS")}
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='{module}'; django.setup()"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": "", "ALLOWED_HOSTS": "a"}, "SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_without_secrets(env, missing):
    result = _settings_import("config.settings.production", env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_production_starts_with_secrets():
    result = _settings_import("config.settings.production", {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.com"})
    assert result.returncode == 0, result.stderr


def test_embedded_default_is_sqlite_and_filesystem_broker():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.local'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "True"], result.stderr


def test_redis_url_switches_the_broker():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.local'; django.setup();"
        "from django.conf import settings as s; print(s.CELERY_BROKER_URL, s.DATABASES['default']['ENGINE'])"
    )
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/3", "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}
    env.pop("CELERY_BROKER_URL", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.stdout.split() == ["redis://127.0.0.1:6379/3", "django.db.backends.postgresql"], result.stderr


def test_celery_app_autodiscovers_and_acks_late():
    from config.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.main == "journeypulse"


def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [*project_urls.urlpatterns, path("api/v1/boom/", _boom), path("boom/", _boom)]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@override_settings(ROOT_URLCONF=__name__)
def test_unhandled_errors_are_json_under_api_and_html_elsewhere(client, db):
    client.raise_request_exception = False
    api = client.get("/api/v1/boom/")
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "server_error"
    assert "boom" not in api.content.decode()
    page = client.get("/boom/")
    assert page.status_code == 500
    assert "boom" not in page.content.decode()
    assert "Something went wrong" in page.content.decode()


def test_unknown_api_url_is_json_404(client, db):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_page_is_html_404(client, db):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert "<h1>" in response.content.decode()


def test_health(client, db):
    response = client.get("/health/")
    assert response.json() == {"status": "ok", "database": "ok"}


def test_every_model_is_in_the_admin():
    from django.apps import apps
    from django.contrib import admin

    for app_label in ("touchpoints", "surveys", "analytics"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), model


def test_admin_changelists_render(admin_client):
    from django.apps import apps

    for model in apps.get_app_config("touchpoints").get_models():
        url = f"/admin/touchpoints/{model._meta.model_name}/?q=x"
        assert admin_client.get(url).status_code == 200, url


def test_static_assets_are_served_locally(client, db):
    response = client.get("/static/journeypulse/css/app.css")
    assert response.status_code == 200
    assert b":focus-visible" in b"".join(response.streaming_content)


@pytest.mark.django_db
def test_admin_stage_inline_and_touchpoint_inherit_the_workspace(admin_client):
    from tests.touchpoints.factories import JourneyFactory, WorkspaceFactory
    from touchpoints.models import Stage, Touchpoint

    journey = JourneyFactory(workspace=WorkspaceFactory())
    change_url = f"/admin/touchpoints/journey/{journey.pk}/change/"
    data = {
        "workspace": journey.workspace_id,
        "name": journey.name,
        "description": "",
        "map_type": journey.map_type,
        "is_active": "on",
        "stages-TOTAL_FORMS": "1",
        "stages-INITIAL_FORMS": "0",
        "stages-0-order": "1",
        "stages-0-name": "Awareness",
        "stages-0-description": "",
    }
    response = admin_client.post(change_url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    stage = Stage.objects.get(journey=journey)
    assert stage.workspace_id == journey.workspace_id

    response = admin_client.post(
        "/admin/touchpoints/touchpoint/add/",
        {
            "stage": stage.pk,
            "name": "Ad",
            "channel": "web",
            "order": "0",
            "event_names-TOTAL_FORMS": "1",
            "event_names-INITIAL_FORMS": "0",
            "event_names-0-name": "ad_clicked",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    touchpoint = Touchpoint.objects.get(name="Ad")
    assert touchpoint.workspace_id == journey.workspace_id
    assert touchpoint.event_names.get().workspace_id == journey.workspace_id


@pytest.mark.parametrize("entry_point", ["config.wsgi", "config.asgi"])
def test_web_entry_points_refuse_to_start_with_development_defaults(entry_point):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS")}
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", f"import {entry_point}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_plotly_js_is_served_from_the_installed_package_and_nothing_else_of_it(tmp_path, settings):
    import plotly
    from django.contrib.staticfiles import finders
    from django.core.management import call_command

    found = finders.find("plotly/plotly.min.js")
    assert found
    assert found.startswith(str(Path(plotly.__file__).resolve().parent))
    assert finders.find("plotly/widgetbundle.js") is None
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    assert (tmp_path / "plotly" / "plotly.min.js").stat().st_size > 1_000_000
    assert sorted(p.name for p in (tmp_path / "plotly").iterdir()) == ["plotly.min.js"]
