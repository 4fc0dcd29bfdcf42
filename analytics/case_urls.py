"""Pages of the closed loop: ``/follow-up/`` (namespace ``followup``).

Ids are at most 18 digits, so a forged huge id is a 404, never a database overflow.
"""

from django.urls import path, re_path

from analytics import case_views

app_name = "followup"

CASE = r"^follow-up/(?P<case_id>[0-9]{1,18})/"

urlpatterns = [
    path("follow-up/", case_views.case_list_page, name="list"),
    re_path(CASE + "$", case_views.case_page, name="case"),
    re_path(CASE + "notes/$", case_views.case_note_create, name="case-note"),
]
