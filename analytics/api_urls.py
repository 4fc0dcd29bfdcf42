"""``/api/v1/`` routes of the analytics app."""

from django.urls import re_path

from analytics.report_apis import JourneyReportApi, JourneyReportCsvApi

urlpatterns = [
    re_path(r"^journeys/(?P<journey_id>[0-9]{1,18})/report/?$", JourneyReportApi.as_view(), name="journey-report"),
    re_path(
        r"^journeys/(?P<journey_id>[0-9]{1,18})/report\.csv$", JourneyReportCsvApi.as_view(), name="journey-report-csv"
    ),
]
