"""Responses API and CSV export: filters, NPS buckets, formula injection, PII by role, scoping."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from surveys import services
from surveys.answering import response_answer_step
from surveys.exports import safe_cell
from surveys.invitations import invitations_create
from tests.touchpoints.factories import CustomerFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


def answered(workspace, survey, score: int, reason: str = "", external_id: str | None = None):
    customer = CustomerFactory(workspace=workspace, **({"external_id": external_id} if external_id else {}))
    invitation = invitations_create(
        workspace=workspace, survey_id=survey.pk, customer_external_ids=[customer.external_id], channel="link"
    )[0]
    first, second = survey.questions.order_by("order")
    response_answer_step(invitation_id=invitation.pk, question_id=first.pk, raw={"value": [str(score)]}, language="en")
    response_answer_step(invitation_id=invitation.pk, question_id=second.pk, raw={"value": [reason]}, language="en")
    return invitation


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_defused(value):
    assert safe_cell(value) == "'" + value


def test_plain_cells_are_untouched():
    assert safe_cell("Fast delivery") == "Fast delivery"
    assert safe_cell(9) == "9"
    assert safe_cell(None) == ""


def test_responses_list_with_answers_and_nps_bucket_filter(admin_api, workspace, survey):
    answered(workspace, survey, 10, "Great")
    answered(workspace, survey, 3, "Slow")
    listed = admin_api.get(reverse("api:response-list"), {"survey": survey.pk}).json()["results"]
    assert len(listed) == 2
    assert all(item["is_complete"] for item in listed)
    detractors = admin_api.get(reverse("api:response-list"), {"nps_bucket": "detractor"}).json()["results"]
    assert [a["number"] for a in detractors[0]["answers"] if a["type"] == "nps"] == [3]
    assert_error(admin_api.get(reverse("api:response-list"), {"nps_bucket": "fan"}), 400, "nps_bucket")


def test_csv_export_is_safe_and_complete(admin_api, workspace, survey):
    answered(workspace, survey, 9, '=HYPERLINK("http://evil")', external_id="ann")
    response = admin_api.get(reverse("api:survey-responses-csv", args=[survey.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, row = rows
    assert header[:3] == ["response_id", "customer", "email"]
    assert header[-2].startswith("q1: How likely are you to recommend Acme")
    assert row[1] == "ann"
    assert row[2] == "ann@example.com"
    assert row[-2:] == ["9", '\'=HYPERLINK("http://evil")']


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_csv_export_has_no_pii_for_analysts_and_viewers(key_client, workspace, survey, role):
    answered(workspace, survey, 9, "Call me: +48 601 234 567 or bob@example.org", external_id="ann")
    response = key_client(role).get(reverse("api:survey-responses-csv", args=[survey.pk]))
    content = b"".join(response.streaming_content).decode()
    assert "email" not in content.splitlines()[0]
    assert "ann@example.com" not in content
    assert "Call me: [phone hidden] or [email hidden]" in content
    body = key_client(role).get(reverse("api:response-list")).json()
    texts = [answer["text"] for answer in body["results"][0]["answers"] if answer["text"]]
    assert texts == ["Call me: [phone hidden] or [email hidden]"]


def test_admins_and_designers_read_answers_as_written(key_client, workspace, survey):
    answered(workspace, survey, 9, "Call me: +48 601 234 567", external_id="ann")
    for role in (Role.ADMIN, Role.DESIGNER):
        body = key_client(role).get(reverse("api:response-list")).json()
        assert "Call me: +48 601 234 567" in [answer["text"] for answer in body["results"][0]["answers"]]


def test_csv_export_answers_a_client_that_asks_for_csv(admin_api, workspace, survey, other_workspace):
    answered(workspace, survey, 9, "ok", external_id="ann")
    response = admin_api.get(reverse("api:survey-responses-csv", args=[survey.pk]), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    theirs = services.survey_create_from_template(workspace=other_workspace, template="relationship_nps")
    missing = admin_api.get(reverse("api:survey-responses-csv", args=[theirs.pk]), HTTP_ACCEPT="text/csv")
    assert_error(missing, 404)  # errors still come as JSON, with their status


def test_another_workspaces_responses_do_not_exist(admin_api, other_workspace):
    theirs = services.survey_create_from_template(workspace=other_workspace, template="relationship_nps")
    services.survey_publish(workspace=other_workspace, survey_id=theirs.pk)
    invitation = answered(other_workspace, theirs, 8)
    assert admin_api.get(reverse("api:response-list")).json()["results"] == []
    assert_error(admin_api.get(reverse("api:response-detail", args=[invitation.response.pk])), 404)
    assert_error(admin_api.get(reverse("api:survey-responses-csv", args=[theirs.pk])), 404)


def test_response_list_query_count_does_not_grow(admin_api, workspace, survey, django_assert_max_num_queries):
    for score in (1, 9):
        answered(workspace, survey, score, "x")
    url = reverse("api:response-list")
    with CaptureQueriesContext(connection) as few:
        assert len(admin_api.get(url).json()["results"]) == 2
    for score in range(10):
        answered(workspace, survey, score, "y")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(admin_api.get(url).json()["results"]) == 12
