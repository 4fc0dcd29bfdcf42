"""The survey designer pages through the Django test client."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from surveys import services
from surveys.models import Question, Response, Survey
from tests.surveys.test_services import answer
from tests.touchpoints.factories import MembershipFactory
from touchpoints.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_client(workspace):
    def make(role: str = Role.DESIGNER) -> Client:
        membership = MembershipFactory(workspace=workspace, role=role)
        client = Client()
        client.force_login(membership.user)
        return client

    return make


@pytest.fixture
def survey(workspace) -> Survey:
    return services.survey_create_from_template(workspace=workspace, template="csat_support")


def test_create_from_a_template(page_client, workspace):
    response = page_client().post(reverse("surveys:list"), {"template": "ces_onboarding", "name": "", "kind": "nps"})
    survey = Survey.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == reverse("surveys:detail", args=[survey.pk])
    assert survey.name == "CES after onboarding"
    assert survey.questions.count() == 2


def test_blank_survey_needs_a_name(page_client, workspace):
    response = page_client().post(reverse("surveys:list"), {"template": "", "name": "", "kind": "nps"})
    assert response.status_code == 400
    assert 'id="id_name_errors"' in response.content.decode()
    assert not Survey.objects.exists()


def test_readers_see_surveys_but_cannot_create(page_client, survey):
    client = page_client(Role.VIEWER)
    html = client.get(reverse("surveys:list")).content.decode()
    assert survey.name in html
    assert "Create survey" not in html
    assert client.post(reverse("surveys:list"), {"template": "csat_support", "kind": "nps"}).status_code == 403
    assert Survey.objects.count() == 1


def test_detail_shows_questions_conditions_and_missing_texts(page_client, survey):
    html = page_client().get(reverse("surveys:detail", args=[survey.pk])).content.decode()
    assert "How satisfied were you with the support you received?" in html
    assert "Shown only when" in html
    assert "complete" in html
    assert reverse("surveys:preview", args=[survey.pk, "pl"]) in html


def test_add_a_conditional_question(page_client, survey):
    first = survey.questions.get(order=1)
    response = page_client().post(
        reverse("surveys:detail", args=[survey.pk]),
        {
            "new-type": "single_choice",
            "new-text": "What mattered most?",
            "new-options": "Speed\nFriendliness",
            "new-condition_question": first.pk,
            "new-condition_operator": "gte",
            "new-condition_value": "4",
        },
    )
    assert response.status_code == 302
    question = survey.questions.get(order=3)
    assert [o["key"] for o in question.options] == ["speed", "friendliness"]
    assert (question.condition_question, question.condition_operator, question.condition_value) == (first, "gte", 4)


def test_bad_condition_is_a_form_error(page_client, survey):
    first = survey.questions.get(order=1)
    response = page_client().post(
        reverse("surveys:detail", args=[survey.pk]),
        {
            "new-type": "text",
            "new-text": "Why?",
            "new-condition_question": first.pk,
            "new-condition_operator": "lte",
            "new-condition_value": "99",
        },
    )
    assert response.status_code == 400
    assert "Use whole numbers from 1 to 5." in response.content.decode()
    assert survey.questions.count() == 2


def test_publish_move_archive_and_delete(page_client, survey):
    client = page_client()
    extra = services.question_add(
        workspace=survey.workspace, survey_id=survey.pk, type="yes_no", texts={"en": {"text": "Again?"}}
    )
    client.post(reverse("surveys:question-action", args=[extra.pk, "up"]))
    assert Question.objects.get(pk=extra.pk).order == 2
    client.post(reverse("surveys:question-action", args=[extra.pk, "delete"]))
    assert not Question.objects.filter(pk=extra.pk).exists()
    client.post(reverse("surveys:action", args=[survey.pk, "publish"]))
    assert Survey.objects.get(pk=survey.pk).status == "active"


def test_deleting_a_question_with_answers_is_a_message_not_an_error(page_client, survey):
    first = survey.questions.get(order=1)
    answer(first, 2)
    follow = page_client().post(reverse("surveys:question-action", args=[first.pk, "delete"]), follow=True)
    assert "cannot be deleted" in follow.content.decode()
    assert Question.objects.filter(pk=first.pk).exists()


def test_translations_side_by_side_keep_other_languages(page_client, survey):
    first = survey.questions.get(order=1)
    url = reverse("surveys:translations", args=[survey.pk, "ru"])
    html = page_client().get(url).content.decode()
    assert "How satisfied were you with the support you received?" in html  # the default beside
    data = {f"q{first.pk}__text": "Новый вопрос?", "survey__title": "Опрос"}
    response = page_client().post(url, data)
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.texts["ru"]["text"] == "Новый вопрос?"
    assert first.texts["pl"]["text"] == "Jak bardzo jesteś zadowolony z otrzymanej pomocy?"
    assert page_client().get(reverse("surveys:translations", args=[survey.pk, "de"])).status_code == 404


def test_preview_renders_the_real_form_and_stores_nothing(page_client, survey):
    client = page_client(Role.VIEWER)
    html = client.get(reverse("surveys:preview", args=[survey.pk, "pl"])).content.decode()
    assert '<html lang="pl">' in html
    assert "Jak bardzo jesteś zadowolony z otrzymanej pomocy?" in html
    assert 'method="get"' in html
    second = client.get(reverse("surveys:preview", args=[survey.pk, "hu"]) + "?step=2").content.decode()
    assert "Mit csinálhattunk volna jobban?" in second
    assert not Response.objects.exists()


def test_another_workspaces_survey_pages_are_404(page_client, other_workspace):
    theirs = services.survey_create_from_template(workspace=other_workspace, template="csat_support")
    client = page_client()
    for url in (
        reverse("surveys:detail", args=[theirs.pk]),
        reverse("surveys:translations", args=[theirs.pk, "en"]),
        reverse("surveys:preview", args=[theirs.pk, "en"]),
    ):
        assert client.get(url).status_code == 404
    assert client.post(reverse("surveys:action", args=[theirs.pk, "publish"])).status_code == 404
    assert (
        client.post(reverse("surveys:question-action", args=[theirs.questions.first().pk, "delete"])).status_code == 404
    )
    assert Survey.objects.get(pk=theirs.pk).status == "draft"


@pytest.mark.parametrize("step", ["²", "9" * 5000, "-1", "x"])
def test_preview_with_odd_steps_shows_the_first_question(page_client, survey, step):
    response = page_client().get(reverse("surveys:preview", args=[survey.pk, "en"]) + f"?step={step}")
    assert response.status_code == 200
    assert "How satisfied were you" in response.content.decode()
