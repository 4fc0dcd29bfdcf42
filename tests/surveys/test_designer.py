"""The survey designer pages through the Django test client."""

from __future__ import annotations

import functools
import html as html_module
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from surveys import services
from surveys.invitations import invitations_create
from surveys.models import Invitation, Question, Response, Survey
from tests.surveys.test_services import answer
from tests.touchpoints.factories import CustomerFactory
from touchpoints.models import Role

pytestmark = pytest.mark.django_db


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


# --- Editing a question -----------------------------------------------------------------


def edit_data(question: Question, **changes: str) -> dict[str, object]:
    """What the edit page posts when nothing is changed, plus ``changes``."""
    page = {
        "q-type": question.type,
        "q-text": question.texts["en"]["text"],
        "q-low_label": question.texts["en"].get("low_label", ""),
        "q-high_label": question.texts["en"].get("high_label", ""),
        "q-options": "\n".join(o["labels"]["en"] for o in question.options),
        "q-condition_question": question.condition_question_id or "",
        "q-condition_operator": question.condition_operator,
        "q-condition_value": "" if question.condition_value is None else question.condition_value,
    }
    if question.is_required:
        page["q-is_required"] = "on"
    return {**page, **{f"q-{name}": value for name, value in changes.items()}}


def test_the_edit_page_is_prefilled(page_client, survey):
    follow_up = survey.questions.get(order=2)
    html = page_client().get(reverse("surveys:question-edit", args=[follow_up.pk])).content.decode()
    assert "What could we have done better?" in html
    assert f'<option value="{follow_up.condition_question_id}" selected>' in html
    assert 'value="3"' in html  # the condition value


def test_edit_type_required_and_condition_keeping_other_languages(page_client, survey):
    follow_up = survey.questions.get(order=2)
    polish = follow_up.texts["pl"]
    response = page_client().post(
        reverse("surveys:question-edit", args=[follow_up.pk]),
        edit_data(
            follow_up,
            type="single_choice",
            text="What went wrong?",
            options="Waiting time\nWrong answer",
            is_required="on",
            condition_operator="lte",
            condition_value="2",
        ),
    )
    assert response.status_code == 302, response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.type == "single_choice"
    assert follow_up.is_required
    assert (follow_up.condition_operator, follow_up.condition_value) == ("lte", 2)
    assert follow_up.texts["en"] == {"text": "What went wrong?"}
    assert follow_up.texts["pl"] == polish
    assert [o["key"] for o in follow_up.options] == ["waiting_time", "wrong_answer"]


def test_unchanged_option_labels_keep_their_keys_and_translations(page_client, survey):
    question = services.question_add(
        workspace=survey.workspace,
        survey_id=survey.pk,
        type="single_choice",
        texts={"en": {"text": "Channel?"}},
        options=[
            {"key": "tel", "labels": {"en": "Phone", "pl": "Telefon"}},
            {"key": "mail", "labels": {"en": "Email"}},
        ],
    )
    page_client().post(
        reverse("surveys:question-edit", args=[question.pk]), edit_data(question, options="Chat\nPhone\nEmail")
    )
    question.refresh_from_db()
    assert question.options == [
        {"key": "chat", "labels": {"en": "Chat"}},
        {"key": "tel", "labels": {"en": "Phone", "pl": "Telefon"}},
        {"key": "mail", "labels": {"en": "Email"}},
    ]


def test_a_question_with_answers_keeps_its_type(page_client, survey):
    first = survey.questions.get(order=1)
    answer(first, 4)
    url = reverse("surveys:question-edit", args=[first.pk])
    assert "disabled" in page_client().get(url).content.decode()
    response = page_client().post(url, edit_data(first, type="nps", text="How satisfied were you overall?"))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.type == "csat"  # a disabled field ignores what is posted
    assert first.texts["en"]["text"] == "How satisfied were you overall?"


def test_a_bad_edit_is_a_form_error_and_changes_nothing(page_client, survey):
    follow_up = survey.questions.get(order=2)
    response = page_client().post(
        reverse("surveys:question-edit", args=[follow_up.pk]), edit_data(follow_up, condition_value="99")
    )
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert Question.objects.get(pk=follow_up.pk).condition_value == follow_up.condition_value


def test_a_condition_can_only_point_at_earlier_questions(page_client, survey):
    first = survey.questions.get(order=1)
    follow_up = survey.questions.get(order=2)
    html = page_client().get(reverse("surveys:question-edit", args=[first.pk])).content.decode()
    assert f'<option value="{follow_up.pk}"' not in html


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_cannot_edit_questions(page_client, survey, role):
    question = survey.questions.get(order=1)
    assert page_client(role).get(reverse("surveys:question-edit", args=[question.pk])).status_code == 403


# --- Sending invitations ----------------------------------------------------------------


@pytest.fixture
def active_survey(survey):
    services.survey_publish(workspace=survey.workspace, survey_id=survey.pk)
    for external_id in ("ann", "bob"):
        CustomerFactory(workspace=survey.workspace, external_id=external_id)
    return survey


def test_send_to_a_list_of_customers(page_client, active_survey):
    url = reverse("surveys:invitations", args=[active_survey.pk])
    client = page_client()
    response = client.post(url, {"customers": "ann, bob\n\nann", "channel": "link", "language": "pl"})
    assert response.status_code == 302
    invitations = Invitation.objects.filter(survey=active_survey)
    assert sorted(i.customer.external_id for i in invitations) == ["ann", "bob"]
    assert {(i.language, i.status) for i in invitations} == {("pl", "sent")}
    html = client.get(url).content.decode()
    assert "2 invitations created." in html
    for invitation in invitations:
        assert reverse("survey-form", args=[invitation.token]) in html


def test_unknown_customers_are_a_form_error_and_nobody_is_invited(page_client, active_survey):
    url = reverse("surveys:invitations", args=[active_survey.pk])
    response = page_client().post(url, {"customers": "ann\nghost", "channel": "link", "language": ""})
    assert response.status_code == 400
    assert "Unknown customers: ghost." in response.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"customers": "", "channel": "link"},
        {"customers": "ann", "channel": "pigeon"},
        {"customers": "ann", "channel": "link", "language": "xx"},
        {"customers": "ann", "channel": "link", "touchpoint": "99999999999999999999"},
        {"customers": "ann", "channel": "link", "touchpoint": "12345"},
    ],
)
def test_bad_sends_are_form_errors(page_client, active_survey, data):
    response = page_client().post(reverse("surveys:invitations", args=[active_survey.pk]), data)
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_a_draft_survey_cannot_be_sent(page_client, survey):
    html = page_client().get(reverse("surveys:invitations", args=[survey.pk])).content.decode()
    assert "Publish the survey to send it." in html
    assert 'name="customers"' not in html


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_see_invitations_without_links_and_cannot_send(page_client, active_survey, role):
    invitation = invitations_create(
        workspace=active_survey.workspace, survey_id=active_survey.pk, customer_external_ids=["ann"], channel="link"
    )[0]
    client = page_client(role)
    url = reverse("surveys:invitations", args=[active_survey.pk])
    html = client.get(url).content.decode()
    assert "ann" in html
    assert invitation.token not in html
    assert client.post(url, {"customers": "bob", "channel": "link"}).status_code == 403


def test_the_invitations_page_has_a_fixed_number_of_queries(page_client, active_survey):
    client = page_client()
    url = reverse("surveys:invitations", args=[active_survey.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    invite = functools.partial(
        invitations_create, workspace=active_survey.workspace, survey_id=active_survey.pk, channel="link"
    )
    invite(customer_external_ids=["ann"])
    few = queries()
    CustomerFactory.create_batch(10, workspace=active_survey.workspace)
    invite(customer_external_ids=list(active_survey.workspace.customers.values_list("external_id", flat=True)))
    assert queries() == few


def test_option_labels_are_translated_beside_the_default(page_client, survey):
    question = services.question_add(
        workspace=survey.workspace,
        survey_id=survey.pk,
        type="single_choice",
        texts={"en": {"text": "Channel?"}, "pl": {"text": "Kanał?"}},
        options=[{"key": "tel", "labels": {"en": "Phone", "pl": "Tel"}}, {"key": "mail", "labels": {"en": "Email"}}],
    )
    url = reverse("surveys:translations", args=[survey.pk, "pl"])
    client = page_client()
    page = client.get(url).content.decode()
    assert f'name="q{question.pk}__option__0"' in page
    assert ">Phone<" in page  # the default language's label beside the field
    data = _form_values(page)
    data[f"q{question.pk}__option__0"] = "Telefon"
    data[f"q{question.pk}__option__1"] = "E-mail"
    assert client.post(url, data).status_code == 302
    question.refresh_from_db()
    assert question.options == [
        {"key": "tel", "labels": {"en": "Phone", "pl": "Telefon"}},
        {"key": "mail", "labels": {"en": "Email", "pl": "E-mail"}},
    ]
    assert question.texts["pl"] == {"text": "Kanał?"}


def _form_values(html: str) -> dict[str, str]:
    """The textareas of a page, by name, with their current text."""
    return {
        name: html_module.unescape(value)
        for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>\n?(.*?)</textarea>', html, flags=re.S)
    }
