"""Survey and question services: templates, translations, conditions and the answers rule."""

from __future__ import annotations

import pytest
from django.utils import timezone

from config.errors import ApplicationError
from surveys import services
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.survey_templates import TEMPLATES
from tests.touchpoints.factories import CustomerFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def answer(question: Question, number: int) -> Answer:
    """Store an answer directly (the answering services come with the public form)."""
    survey = question.survey
    now = timezone.now()
    invitation = Invitation.objects.create(
        workspace=survey.workspace,
        survey=survey,
        customer=CustomerFactory(workspace=survey.workspace),
        channel=Invitation.Channel.LINK,
        token=f"t-{Invitation.objects.count()}",
        send_at=now,
        expires_at=now,
    )
    response = Response.objects.create(
        workspace=survey.workspace, survey=survey, invitation=invitation, language="en", started_at=now
    )
    return Answer.objects.create(workspace=survey.workspace, response=response, question=question, number=number)


@pytest.fixture
def survey(workspace) -> Survey:
    return services.survey_create_from_template(workspace=workspace, template="relationship_nps")


class TestTemplates:
    @pytest.mark.parametrize("template", sorted(TEMPLATES))
    def test_every_template_is_complete_in_four_languages_and_publishable(self, workspace, template):
        from surveys.texts import missing_texts

        survey = services.survey_create_from_template(workspace=workspace, template=template)
        questions = list(survey.questions.all())
        assert survey.languages == ["en", "ru", "pl", "hu"]
        assert len(questions) == 2
        assert questions[1].type == "text"
        gaps = missing_texts(languages=survey.languages, survey_texts=survey.texts, questions=questions)
        assert gaps == {code: [] for code in survey.languages}
        assert services.survey_publish(workspace=workspace, survey_id=survey.pk).status == Survey.Status.ACTIVE

    def test_company_name_is_filled_in(self, workspace):
        survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
        question = survey.questions.get(order=1)
        assert "Acme" in question.texts["en"]["text"]
        assert "{company}" not in str(question.texts)

    def test_follow_up_is_conditional_on_the_score(self, workspace):
        survey = services.survey_create_from_template(workspace=workspace, template="csat_support")
        first, follow_up = survey.questions.order_by("order")
        assert (follow_up.condition_question, follow_up.condition_operator, follow_up.condition_value) == (
            first,
            "lte",
            3,
        )

    def test_default_language_follows_the_workspace(self):
        workspace = WorkspaceFactory(default_language="pl")
        survey = services.survey_create_from_template(workspace=workspace, template="ces_support")
        assert survey.default_language == "pl"
        assert survey.languages[0] == "pl"

    def test_unknown_template_is_a_field_error(self, workspace):
        with pytest.raises(ApplicationError) as error:
            services.survey_create_from_template(workspace=workspace, template="nope")
        assert "template" in error.value.fields


class TestSurveys:
    def test_texts_only_in_enabled_languages(self, workspace):
        with pytest.raises(ApplicationError) as error:
            services.survey_create(workspace=workspace, name="S", languages=["en"], texts={"de": {"title": "Hallo"}})
        assert "texts" in error.value.fields
        assert not Survey.objects.exists()

    def test_unknown_text_field_is_refused(self, workspace):
        with pytest.raises(ApplicationError):
            services.survey_create(workspace=workspace, name="S", texts={"en": {"footer": "x"}})

    def test_duplicate_name_is_a_field_error(self, workspace, survey):
        with pytest.raises(ApplicationError) as error:
            services.survey_create(workspace=workspace, name=survey.name)
        assert "name" in error.value.fields

    def test_publish_needs_default_language_texts(self, workspace):
        survey = services.survey_create(workspace=workspace, name="S")
        services.question_add(workspace=workspace, survey_id=survey.pk, type="nps", texts={"en": {"text": "How?"}})
        with pytest.raises(ApplicationError) as error:
            services.survey_publish(workspace=workspace, survey_id=survey.pk)
        assert error.value.code == "texts_missing"
        assert "q1.low_label" in error.value.fields["texts"]
        assert Survey.objects.get(pk=survey.pk).status == Survey.Status.DRAFT

    def test_publish_twice_is_refused(self, workspace, survey):
        services.survey_publish(workspace=workspace, survey_id=survey.pk)
        with pytest.raises(ApplicationError):
            services.survey_publish(workspace=workspace, survey_id=survey.pk)

    def test_another_workspaces_survey_does_not_exist(self, survey, other_workspace):
        with pytest.raises(Survey.DoesNotExist):
            services.survey_publish(workspace=other_workspace, survey_id=survey.pk)

    def test_survey_with_answers_can_be_deleted_whole(self, survey):
        answer(survey.questions.get(order=1), 9)
        survey.delete()
        assert not Answer.objects.exists()


class TestQuestions:
    def test_condition_must_look_back(self, workspace, survey):
        first = survey.questions.get(order=1)
        question = services.question_add(
            workspace=workspace,
            survey_id=survey.pk,
            type="text",
            texts={"en": {"text": "Why so low?"}},
            condition_question_id=first.pk,
            condition_operator="lte",
            condition_value=6,
        )
        assert question.order == 3
        with pytest.raises(ApplicationError) as error:
            services.question_update(
                workspace=workspace,
                question_id=first.pk,
                data={"condition_question_id": question.pk, "condition_operator": "eq", "condition_value": 1},
            )
        assert "condition_question" in error.value.fields

    @pytest.mark.parametrize(
        ("operator", "value", "field"),
        [
            ("lte", 11, "condition_value"),
            ("lte", "6", "condition_value"),
            ("contains", 6, "condition_operator"),
            ("in", [], "condition_value"),
            ("eq", True, "condition_value"),
        ],
    )
    def test_condition_value_must_fit_the_scale(self, workspace, survey, operator, value, field):
        first = survey.questions.get(order=1)
        with pytest.raises(ApplicationError) as error:
            services.question_add(
                workspace=workspace,
                survey_id=survey.pk,
                type="text",
                condition_question_id=first.pk,
                condition_operator=operator,
                condition_value=value,
            )
        assert field in error.value.fields
        assert survey.questions.count() == 2

    def test_choice_question_needs_unique_option_keys(self, workspace, survey):
        with pytest.raises(ApplicationError) as error:
            services.question_add(
                workspace=workspace,
                survey_id=survey.pk,
                type="single_choice",
                options=[{"key": "a", "labels": {"en": "A"}}, {"key": "a", "labels": {"en": "B"}}],
            )
        assert "options" in error.value.fields

    def test_question_with_answers_keeps_its_type_and_cannot_be_deleted(self, workspace, survey):
        reason = survey.questions.get(order=2)
        nps = survey.questions.get(order=1)
        answer(nps, 3)
        with pytest.raises(ApplicationError) as error:
            services.question_update(workspace=workspace, question_id=nps.pk, data={"type": "csat"})
        assert error.value.code == "has_answers"
        with pytest.raises(ApplicationError) as error:
            services.question_delete(workspace=workspace, question_id=nps.pk)
        assert error.value.code == "has_answers"
        nps.refresh_from_db()
        assert nps.type == "nps"
        # Texts and order may still change, and it can be archived.
        services.question_update(workspace=workspace, question_id=nps.pk, data={"texts": {"en": {"text": "New?"}}})
        services.question_reorder(workspace=workspace, survey_id=survey.pk, question_ids=[reason.pk, nps.pk])
        assert services.question_archive(workspace=workspace, question_id=nps.pk).is_archived

    def test_delete_without_answers_closes_the_gap(self, workspace, survey):
        extra = services.question_add(workspace=workspace, survey_id=survey.pk, type="yes_no")
        services.question_delete(workspace=workspace, question_id=survey.questions.get(order=2).pk)
        extra.refresh_from_db()
        assert extra.order == 2

    def test_reorder_keeps_conditions_looking_back(self, workspace):
        survey = services.survey_create_from_template(workspace=workspace, template="csat_support")
        first, follow_up = survey.questions.order_by("order")
        with pytest.raises(ApplicationError) as error:
            services.question_reorder(workspace=workspace, survey_id=survey.pk, question_ids=[follow_up.pk, first.pk])
        assert "question_ids" in error.value.fields
        with pytest.raises(ApplicationError):
            services.question_delete(workspace=workspace, question_id=first.pk)

    def test_texts_for_disabled_language_are_refused(self, workspace):
        survey = services.survey_create(workspace=workspace, name="S", languages=["en"])
        with pytest.raises(ApplicationError):
            services.question_add(workspace=workspace, survey_id=survey.pk, type="text", texts={"ru": {"text": "?"}})
