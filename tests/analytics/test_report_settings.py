"""A workspace's friction thresholds: the service, the page (/settings/reports/), the API, and their effect."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.aggregation import ReportFilters
from analytics.models import ReportSettings
from analytics.report_settings import friction_settings, report_settings_update
from analytics.reports import default_period, journey_report
from config.errors import ApplicationError
from tests.analytics.test_reports import planted
from tests.touchpoints.factories import MembershipFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Role
from touchpoints.permissions import SESSION_WORKSPACE_KEY

pytestmark = pytest.mark.django_db

API = "/api/v1/report-settings/"


def test_without_a_row_the_issue_defaults_apply(workspace):
    settings = friction_settings(workspace=workspace)
    assert (settings.ces_threshold, settings.low_response_threshold) == (5.0, 0.10)
    assert not ReportSettings.objects.exists()


def test_an_update_is_saved_once_per_workspace(workspace, other_workspace):
    report_settings_update(workspace=workspace, ces_threshold="4.5", low_response_percent=20)
    report_settings_update(workspace=workspace, ces_threshold=Decimal("3.0"), low_response_percent=15)
    assert ReportSettings.objects.count() == 1
    settings = friction_settings(workspace=workspace)
    assert (settings.ces_threshold, settings.low_response_threshold) == (3.0, 0.15)
    assert friction_settings(workspace=other_workspace).ces_threshold == 5.0


@pytest.mark.parametrize(
    ("ces", "percent", "field"),
    [
        ("0.9", 10, "ces_threshold"),
        ("7.1", 10, "ces_threshold"),
        ("5.55", 10, "ces_threshold"),
        ("NaN", 10, "ces_threshold"),
        ("Infinity", 10, "ces_threshold"),
        ("1e400", 10, "ces_threshold"),
        ("five", 10, "ces_threshold"),
        (True, 10, "ces_threshold"),
        ("5", 0, "low_response_percent"),
        ("5", 100, "low_response_percent"),
        ("5", 12.5, "low_response_percent"),
        ("5", True, "low_response_percent"),
    ],
)
def test_bad_values_are_field_errors(workspace, ces, percent, field):
    with pytest.raises(ApplicationError) as error:
        report_settings_update(workspace=workspace, ces_threshold=ces, low_response_percent=percent)
    assert list(error.value.fields) == [field]
    assert not ReportSettings.objects.exists()


def test_the_ces_threshold_decides_the_high_effort_flag(workspace):
    """planted() draws CES uniformly on 1..7 (mean 4): below 5, above 3.5."""
    setup = planted(workspace)
    since, until = default_period(timezone.now().date())

    def high_effort() -> list[tuple[str, int, float]]:
        report = journey_report(workspace=workspace, journey=setup.journey, filters=ReportFilters(since, until))
        return [
            (unit.level, unit.id, flag.evidence["threshold"])
            for unit in report.units()
            for flag in unit.flags
            if flag.kind == "high_effort"
        ]

    flagged = high_effort()
    assert ("stage", setup.stages[1].pk, 5.0) in flagged
    report_settings_update(workspace=workspace, ces_threshold="3.5", low_response_percent=10)
    assert high_effort() == []


# --- The page ------------------------------------------------------------------------------------


def signed_in(workspace, role: str) -> Client:
    client = Client()
    client.force_login(MembershipFactory(workspace=workspace, role=role).user)
    session = client.session
    session[SESSION_WORKSPACE_KEY] = workspace.pk
    session.save()
    return client


def test_admins_change_the_thresholds_on_their_page(workspace):
    client = signed_in(workspace, Role.ADMIN)
    url = reverse("analytics:report-settings")
    page = client.get(url).content.decode()
    assert 'value="5.0"' in page
    assert 'aria-current="page">Thresholds</a>' in page
    response = client.post(url, {"ces_threshold": "4.2", "low_response_percent": "25"})
    assert response.status_code == 302
    assert "Report thresholds saved." in client.get(url).content.decode()
    assert friction_settings(workspace=workspace).ces_threshold == pytest.approx(4.2)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"ces_threshold": "8", "low_response_percent": "10"}, "ces_threshold"),
        ({"ces_threshold": "4.25", "low_response_percent": "10"}, "ces_threshold"),
        ({"ces_threshold": "", "low_response_percent": "10"}, "ces_threshold"),
        ({"ces_threshold": "5", "low_response_percent": "100"}, "low_response_percent"),
        ({"ces_threshold": "5", "low_response_percent": "ten"}, "low_response_percent"),
    ],
)
def test_bad_values_on_the_page_are_shown_beside_the_field(workspace, data, field):
    response = signed_in(workspace, Role.ADMIN).post(reverse("analytics:report-settings"), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert f'id="id_{field}_errors"' in page
    assert 'aria-invalid="true"' in page
    assert not ReportSettings.objects.exists()


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.ANALYST, Role.VIEWER])
def test_only_admins_reach_the_page(workspace, role):
    client = signed_in(workspace, role)
    assert client.get(reverse("analytics:report-settings")).status_code == 403
    assert client.post(reverse("analytics:report-settings"), {"ces_threshold": "4"}).status_code == 403


# --- The API -------------------------------------------------------------------------------------


def test_every_role_reads_and_admins_change_the_thresholds(workspace, key_client, other_workspace):
    assert key_client(Role.VIEWER).get(API).json() == {"ces_threshold": 5.0, "low_response_percent": 10}
    response = key_client(Role.ADMIN).patch(API, {"ces_threshold": 4.5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"ces_threshold": 4.5, "low_response_percent": 10}
    assert key_client(Role.ANALYST).get(API).json()["ces_threshold"] == 4.5
    theirs = key_client(Role.ADMIN, ws=other_workspace).get(API).json()
    assert theirs["ces_threshold"] == 5.0
    assert_error(key_client(Role.DESIGNER).patch(API, {"ces_threshold": 3}, format="json"), 403)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ces_threshold": 7.5}, "ces_threshold"),
        ({"ces_threshold": "abc"}, "ces_threshold"),
        ({"ces_threshold": "NaN"}, "ces_threshold"),
        ({"ces_threshold": 4.55}, "ces_threshold"),
        ({"low_response_percent": 0}, "low_response_percent"),
        ({"low_response_percent": "1e9"}, "low_response_percent"),
    ],
)
def test_bad_values_in_the_api_are_field_errors(admin_api, payload, field):
    assert_error(admin_api.patch(API, payload, format="json"), 400, field)
    assert not ReportSettings.objects.exists()


def test_a_partial_change_keeps_the_other_field(workspace, admin_api):
    report_settings_update(workspace=workspace, low_response_percent=25)
    assert admin_api.patch(API, {"ces_threshold": "5.50"}, format="json").json() == {
        "ces_threshold": 5.5,
        "low_response_percent": 25,
    }
    report_settings_update(workspace=workspace, ces_threshold="4")
    settings = friction_settings(workspace=workspace)
    assert (settings.ces_threshold, settings.low_response_threshold) == (4.0, 0.25)
