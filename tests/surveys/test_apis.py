"""The surveys API: templates, designer flows, the answers rule, scoping, roles and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from surveys import services
from surveys.models import Question, Survey
from tests.surveys.test_services import answer
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Role

pytestmark = pytest.mark.django_db


def test_templates_are_listed(admin_api):
    items = admin_api.get(reverse("api:survey-template-list")).json()
    assert {item["key"] for item in items} == {
        "relationship_nps",
        "transactional_nps",
        "csat_support",
        "ces_support",
        "ces_onboarding",
    }
    assert all(item["languages"] == ["en", "ru", "pl", "hu"] for item in items)


def test_create_from_template_then_publish(admin_api):
    created = admin_api.post(reverse("api:survey-list"), {"template": "transactional_nps"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Transactional NPS"
    assert body["question_count"] == 2
    assert body["missing_texts"] == {"en": [], "ru": [], "pl": [], "hu": []}
    published = admin_api.post(reverse("api:survey-publish", args=[body["id"]]))
    assert published.json()["status"] == "active"
    assert_error(admin_api.post(reverse("api:survey-publish", args=[body["id"]])), 400)


def test_blank_survey_reports_missing_texts_and_refuses_to_publish(admin_api):
    survey = admin_api.post(
        reverse("api:survey-list"),
        {"name": "Pulse", "kind": "csat", "languages": ["en", "pl"], "texts": {"en": {"title": "Hi"}}},
        format="json",
    ).json()
    question = admin_api.post(
        reverse("api:question-list"),
        {
            "survey": survey["id"],
            "type": "csat",
            "texts": {"en": {"text": "Happy?", "low_label": "No", "high_label": "Yes"}},
        },
        format="json",
    )
    assert question.status_code == 201, question.content
    detail = admin_api.get(reverse("api:survey-detail", args=[survey["id"]])).json()
    assert detail["missing_texts"] == {"en": [], "pl": ["title", "q1.text", "q1.low_label", "q1.high_label"]}
    assert admin_api.post(reverse("api:survey-publish", args=[survey["id"]])).json()["status"] == "active"


def test_survey_without_name_or_template_is_a_field_error(admin_api):
    assert_error(admin_api.post(reverse("api:survey-list"), {"kind": "nps"}, format="json"), 400, "name")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "S", "kind": "ces", "invitation_expiry_days": 0}, "invitation_expiry_days"),
        ({"name": "S", "languages": ["english!"]}, "languages"),
        ({"name": "S", "texts": {"en": {"title": 5}}}, "texts"),
        ({"name": "S", "texts": "hello"}, "texts"),
        ({"template": "unknown"}, "template"),
    ],
)
def test_bad_survey_input_is_a_field_error(admin_api, payload, field):
    assert_error(admin_api.post(reverse("api:survey-list"), payload, format="json"), 400, field)
    assert not Survey.objects.exists()


def test_conditional_follow_up_through_the_api(admin_api, workspace):
    survey = services.survey_create(workspace=workspace, name="S")
    nps = admin_api.post(reverse("api:question-list"), {"survey": survey.pk, "type": "nps"}, format="json").json()
    follow_up = admin_api.post(
        reverse("api:question-list"),
        {
            "survey": survey.pk,
            "type": "text",
            "texts": {"en": {"text": "What is the main reason for your score?"}},
            "condition_question": nps["id"],
            "condition_operator": "lte",
            "condition_value": 6,
        },
        format="json",
    )
    assert follow_up.status_code == 201, follow_up.content
    assert follow_up.json()["condition_value"] == 6
    bad = admin_api.patch(
        reverse("api:question-detail", args=[follow_up.json()["id"]]), {"condition_value": 42}, format="json"
    )
    assert_error(bad, 400, "condition_value")


def test_question_with_answers_cannot_change_type_or_be_deleted(admin_api, workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
    nps = survey.questions.get(order=1)
    answer(nps, 10)
    url = reverse("api:question-detail", args=[nps.pk])
    assert admin_api.get(url).json()["has_answers"] is True
    assert assert_error(admin_api.patch(url, {"type": "csat"}, format="json"), 400, "type")["code"] == "has_answers"
    assert assert_error(admin_api.delete(url), 400)["code"] == "has_answers"
    assert admin_api.post(reverse("api:question-archive", args=[nps.pk])).json()["is_archived"] is True
    assert (
        assert_error(admin_api.delete(reverse("api:survey-detail", args=[survey.pk])), 400)["code"] == "has_responses"
    )
    assert Question.objects.filter(pk=nps.pk, type="nps").exists()


def test_reorder_questions(admin_api, workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
    first, second = survey.questions.order_by("order").values_list("pk", flat=True)
    response = admin_api.post(
        reverse("api:survey-reorder-questions", args=[survey.pk]), {"question_ids": [second, first]}, format="json"
    )
    assert [q["id"] for q in response.json()] == [second, first]


def test_another_workspaces_surveys_do_not_exist(admin_api, other_workspace):
    theirs = services.survey_create_from_template(workspace=other_workspace, template="relationship_nps")
    question = theirs.questions.first()
    assert admin_api.get(reverse("api:survey-list")).json()["results"] == []
    assert_error(admin_api.get(reverse("api:survey-detail", args=[theirs.pk])), 404)
    assert_error(admin_api.post(reverse("api:survey-publish", args=[theirs.pk])), 404)
    assert_error(
        admin_api.patch(reverse("api:question-detail", args=[question.pk]), {"is_required": False}, format="json"), 404
    )
    response = admin_api.post(reverse("api:question-list"), {"survey": theirs.pk, "type": "nps"}, format="json")
    assert_error(response, 400, "survey")
    assert theirs.questions.count() == 2


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_readers_cannot_design(key_client, workspace, role):
    survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
    client = key_client(role)
    assert client.get(reverse("api:survey-detail", args=[survey.pk])).status_code == 200
    assert_error(client.post(reverse("api:survey-publish", args=[survey.pk])), 403)
    assert_error(client.post(reverse("api:survey-list"), {"template": "csat_support"}, format="json"), 403)
    assert Survey.objects.get(pk=survey.pk).status == "draft"


@pytest.mark.parametrize("basename", ["survey", "question"])
def test_list_query_count_does_not_grow(basename, workspace, admin_api, django_assert_max_num_queries):
    url = reverse(f"api:{basename}-list")

    def grow(n: int) -> None:
        for _ in range(n):
            survey = services.survey_create_from_template(
                workspace=workspace, template="csat_support", name=f"S{Survey.objects.count()}"
            )
            answer(survey.questions.get(order=1), 2)

    grow(2)
    with CaptureQueriesContext(connection) as few:
        assert len(admin_api.get(url).json()["results"]) >= 2
    grow(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(admin_api.get(url).json()["results"]) >= 12
