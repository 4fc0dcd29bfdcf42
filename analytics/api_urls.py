"""``/api/v1/`` routes of the analytics app."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from analytics.case_apis import CaseViewSet
from analytics.report_apis import JourneyReportApi, JourneyReportCsvApi, ReportSettingsApi

router = SimpleRouter()
router.register("cases", CaseViewSet, basename="case")

urlpatterns = [
    re_path(r"^journeys/(?P<journey_id>[0-9]{1,18})/report/?$", JourneyReportApi.as_view(), name="journey-report"),
    re_path(
        r"^journeys/(?P<journey_id>[0-9]{1,18})/report\.csv$", JourneyReportCsvApi.as_view(), name="journey-report-csv"
    ),
    re_path(r"^report-settings/?$", ReportSettingsApi.as_view(), name="report-settings"),
    *router.urls,
]
