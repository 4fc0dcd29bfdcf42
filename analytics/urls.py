"""Pages of the analytics app: the manager dashboard under ``/reports/``, its thresholds at ``/settings/reports/``.

Ids are at most 18 digits, so a forged huge id is a 404, never a database overflow.
"""

from django.urls import path, re_path

from analytics import views

app_name = "analytics"

JOURNEY = r"^reports/journeys/(?P<journey_id>[0-9]{1,18})/"
STAGE = JOURNEY + r"stages/(?P<stage_id>[0-9]{1,18})/"
CHART = r"charts/(?P<chart>[a-z-]{1,40})\.csv$"

urlpatterns = [
    path("reports/", views.report_home, name="home"),
    path("settings/reports/", views.report_settings_page, name="report-settings"),
    re_path(JOURNEY + "$", views.journey_page, name="journey"),
    re_path(STAGE + "$", views.stage_page, name="stage"),
    re_path(JOURNEY + CHART, views.journey_chart_csv, name="journey-chart-csv"),
    re_path(STAGE + CHART, views.stage_chart_csv, name="stage-chart-csv"),
]
