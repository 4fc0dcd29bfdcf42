"""Every write to surveys and questions.

Rules kept here:
- Texts are validated per language: only enabled languages, known fields, bounded strings.
- A question's display condition points at an *earlier* question of the same survey,
  with an operator and value that fit that question's type.
- A question with answers is never deleted and never changes type (archive it);
  its order and texts may change. Question orders stay ``1..n``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from surveys.models import SCALES, Answer, Question, Survey
from surveys.survey_templates import TEMPLATES
from surveys.texts import CHOICE_TYPES, QUESTION_TEXT_FIELDS, SURVEY_TEXT_FIELDS, missing_texts
from touchpoints.models import Workspace, validate_language_tag
from touchpoints.services.common import (
    apply_changes,
    lock_in_workspace,
    model_clean,
    renumber,
    save_with_unique_name,
)

TEXT_MAX_LENGTH = 2000
LANGUAGES_MAX = 20
OPTIONS_MAX = 50
OPTION_KEY = re.compile(r"^[a-z0-9_]{1,40}$")
NUMERIC_OPERATORS = {"eq", "ne", "lt", "lte", "gt", "gte", "in"}
CHOICE_OPERATORS = {"eq", "ne", "in"}


# --- Validation helpers -------------------------------------------------------------


def _clean_languages(languages: Sequence[str] | None, default_language: str) -> list[str]:
    """Enabled languages with the default first, each a valid tag, each once."""
    cleaned = [default_language]
    for code in languages or ():
        if not isinstance(code, str):
            raise ApplicationError.for_field("languages", _("Languages must be language codes."))
        try:
            validate_language_tag(code)
        except ValidationError as exc:
            raise ApplicationError.for_field(
                "languages", _("“%(code)s” is not a language code.") % {"code": code[:20]}
            ) from exc
        if code not in cleaned:
            cleaned.append(code)
    if len(cleaned) > LANGUAGES_MAX:
        raise ApplicationError.for_field(
            "languages", _("At most %(max)d languages per survey.") % {"max": LANGUAGES_MAX}
        )
    return cleaned


def _clean_texts(texts: Any, *, fields: Sequence[str], languages: Sequence[str], field_name: str) -> dict:
    """``{language: {field: text}}`` for enabled languages and known fields; blanks dropped."""
    if texts is None:
        return {}
    if not isinstance(texts, Mapping):
        raise ApplicationError.for_field(field_name, _("Texts must be an object keyed by language."))
    cleaned: dict[str, dict[str, str]] = {}
    for language, values in texts.items():
        if language not in languages:
            raise ApplicationError.for_field(
                field_name,
                _("“%(code)s” is not one of the survey's languages.") % {"code": str(language)[:20]},
            )
        if not isinstance(values, Mapping):
            raise ApplicationError.for_field(field_name, _("Texts must be an object keyed by language."))
        for name, value in values.items():
            if name not in fields:
                raise ApplicationError.for_field(field_name, _("Unknown text “%(name)s”.") % {"name": str(name)[:40]})
            if value is None or value == "":
                continue
            if not isinstance(value, str) or len(value) > TEXT_MAX_LENGTH or "\x00" in value:
                raise ApplicationError.for_field(
                    field_name, _("Each text is at most %(max)d characters.") % {"max": TEXT_MAX_LENGTH}
                )
            cleaned.setdefault(language, {})[name] = value.strip()
    return cleaned


def _clean_options(question_type: str, options: Any, languages: Sequence[str]) -> list[dict[str, Any]]:
    if question_type not in CHOICE_TYPES:
        if options:
            raise ApplicationError.for_field("options", _("Only choice questions have options."))
        return []
    if not isinstance(options, list) or not 2 <= len(options) <= OPTIONS_MAX:
        raise ApplicationError.for_field(
            "options", _("A choice question needs between 2 and %(max)d options.") % {"max": OPTIONS_MAX}
        )
    cleaned, keys = [], set()
    for option in options:
        key = option.get("key") if isinstance(option, Mapping) else None
        if not isinstance(key, str) or not OPTION_KEY.match(key) or key in keys:
            raise ApplicationError.for_field(
                "options", _("Each option needs a unique key of lowercase letters, digits and underscores.")
            )
        keys.add(key)
        labels = _clean_texts(
            {lang: {"label": text} for lang, text in (option.get("labels") or {}).items()},
            fields=("label",),
            languages=languages,
            field_name="options",
        )
        cleaned.append({"key": key, "labels": {lang: values["label"] for lang, values in labels.items()}})
    return cleaned


def _clean_condition(
    question: Question, condition_question_id: int | None, operator: str, value: Any
) -> tuple[Question | None, str, Any]:
    """The condition's earlier question, operator and value, checked against that question's type."""
    if condition_question_id is None:
        if operator or value is not None:
            raise ApplicationError.for_field("condition_question", _("Choose the question the condition looks at."))
        return None, "", None
    target = Question.objects.filter(survey_id=question.survey_id, pk=condition_question_id, is_archived=False).first()
    if target is None or (question.pk is not None and target.pk == question.pk):
        raise ApplicationError.for_field("condition_question", _("Choose another question of this survey."))
    if target.order >= question.order:
        raise ApplicationError.for_field("condition_question", _("A condition can only look at an earlier question."))
    if target.type == Question.Type.TEXT:
        raise ApplicationError.for_field("condition_question", _("A condition cannot look at an open-text answer."))
    allowed = CHOICE_OPERATORS if target.type in CHOICE_TYPES else NUMERIC_OPERATORS
    if operator not in allowed:
        raise ApplicationError.for_field("condition_operator", _("This comparison does not fit that question."))
    values = value if operator == "in" else [value]
    if operator == "in" and (not isinstance(value, list) or not value):
        raise ApplicationError.for_field("condition_value", _("Give a list of values."))
    if target.type in CHOICE_TYPES:
        keys = {option["key"] for option in target.options}
        if not all(isinstance(item, str) and item in keys for item in values):
            raise ApplicationError.for_field("condition_value", _("Use the keys of that question's options."))
    else:
        low, high = SCALES.get(target.type, (0, 1))  # yes/no answers are stored as 1 / 0
        if not all(isinstance(item, int) and not isinstance(item, bool) and low <= item <= high for item in values):
            raise ApplicationError.for_field(
                "condition_value",
                _("Use whole numbers from %(low)d to %(high)d.") % {"low": low, "high": high},
            )
    return target, operator, value


def _has_answers(question: Question) -> bool:
    return Answer.objects.filter(question=question).exists()


def _lock_survey(workspace: Workspace, survey_id: int, *, field: str | None = None) -> Survey:
    return lock_in_workspace(Survey, workspace, survey_id, field=field, unknown=_("Unknown survey."))


def _survey_name_taken() -> ApplicationError:
    return ApplicationError.for_field("name", _("A survey with this name already exists."))


# --- Surveys -------------------------------------------------------------------------


@transaction.atomic
def survey_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str = Survey.Kind.NPS,
    default_language: str | None = None,
    languages: Sequence[str] | None = None,
    texts: Mapping[str, Any] | None = None,
    invitation_expiry_days: int = 30,
) -> Survey:
    """A blank draft survey (questions are added with :func:`question_add`)."""
    default_language = default_language or workspace.default_language
    survey = Survey(
        workspace=workspace,
        name=name.strip(),
        kind=kind,
        default_language=default_language,
        invitation_expiry_days=invitation_expiry_days,
    )
    model_clean(survey, exclude=["languages", "texts"])
    survey.languages = _clean_languages(languages, default_language)
    survey.texts = _clean_texts(texts, fields=SURVEY_TEXT_FIELDS, languages=survey.languages, field_name="texts")
    save_with_unique_name(survey, _survey_name_taken())
    return survey


def _fill(value: Any, company: str) -> Any:
    if isinstance(value, str):
        return value.replace("{company}", company)
    if isinstance(value, dict):
        return {key: _fill(item, company) for key, item in value.items()}
    return value


@transaction.atomic
def survey_create_from_template(
    *, workspace: Workspace, template: str, name: str = "", languages: Sequence[str] | None = None
) -> Survey:
    """A draft survey from a ready template, in the template's four languages (or ``languages``)."""
    spec = TEMPLATES.get(template)
    if spec is None:
        raise ApplicationError.for_field("template", _("Unknown template."))
    enabled = list(languages) if languages else ["en", "ru", "pl", "hu"]
    default = workspace.default_language if workspace.default_language in enabled else enabled[0]
    enabled = [default, *[code for code in enabled if code != default]]
    pick = lambda texts: {code: values for code, values in texts.items() if code in enabled}  # noqa: E731
    survey = survey_create(
        workspace=workspace,
        name=name or str(spec["label"]),
        kind=spec["kind"],
        default_language=default,
        languages=enabled,
        texts=_fill(pick(spec["texts"]), workspace.name),
    )
    created: list[Question] = []
    for data in spec["questions"]:
        condition = data.get("condition")
        created.append(
            question_add(
                workspace=workspace,
                survey_id=survey.pk,
                type=data["type"],
                is_required=data.get("is_required", False),
                texts=_fill(pick(data["texts"]), workspace.name),
                condition_question_id=created[condition[0] - 1].pk if condition else None,
                condition_operator=condition[1] if condition else "",
                condition_value=condition[2] if condition else None,
            )
        )
    return survey


_SURVEY_FIELDS = {"name", "kind", "default_language", "languages", "texts", "invitation_expiry_days"}


@transaction.atomic
def survey_update(*, workspace: Workspace, survey_id: int, data: dict[str, Any]) -> Survey:
    survey = _lock_survey(workspace, survey_id)
    data = dict(data)
    if "name" in data:
        data["name"] = data["name"].strip()
    default = data.get("default_language", survey.default_language)
    if "languages" in data or "default_language" in data:
        data["languages"] = _clean_languages(data.get("languages", survey.languages), default)
    if "texts" in data:
        languages = data.get("languages", survey.languages)
        data["texts"] = _clean_texts(data["texts"], fields=SURVEY_TEXT_FIELDS, languages=languages, field_name="texts")
    changed = apply_changes(survey, data, _SURVEY_FIELDS)
    model_clean(survey, exclude=["languages", "texts"])
    if changed:
        save_with_unique_name(survey, _survey_name_taken(), update_fields=[*changed, "updated_at"])
    return survey


@transaction.atomic
def survey_publish(*, workspace: Workspace, survey_id: int) -> Survey:
    """Draft → active: it needs a question, and every text in its default language."""
    survey = _lock_survey(workspace, survey_id)
    if survey.status != Survey.Status.DRAFT:
        raise ApplicationError(_("Only a draft can be published."), code="invalid_state")
    questions = list(survey.questions.filter(is_archived=False))
    if not questions:
        raise ApplicationError(_("Add a question before publishing."), code="invalid_state")
    gaps = missing_texts(languages=[survey.default_language], survey_texts=survey.texts, questions=questions)
    if gaps[survey.default_language]:
        raise ApplicationError(
            _("Write every text in the default language first: %(missing)s.")
            % {"missing": ", ".join(gaps[survey.default_language])},
            code="texts_missing",
            fields={"texts": gaps[survey.default_language]},
        )
    survey.status = Survey.Status.ACTIVE
    survey.published_at = timezone.now()
    survey.save(update_fields=["status", "published_at", "updated_at"])
    return survey


@transaction.atomic
def survey_archive(*, workspace: Workspace, survey_id: int) -> Survey:
    survey = _lock_survey(workspace, survey_id)
    if survey.status != Survey.Status.ARCHIVED:
        survey.status = Survey.Status.ARCHIVED
        survey.save(update_fields=["status", "updated_at"])
    return survey


@transaction.atomic
def survey_delete(*, workspace: Workspace, survey_id: int) -> None:
    """Delete a survey that nobody has answered; one with responses can only be archived."""
    survey = _lock_survey(workspace, survey_id)
    if survey.responses.exists():
        raise ApplicationError(
            _("This survey has responses, so it cannot be deleted. Archive it instead."), code="has_responses"
        )
    survey.delete()


# --- Questions -------------------------------------------------------------------------


@transaction.atomic
def question_add(
    *,
    workspace: Workspace,
    survey_id: int,
    type: str,  # noqa: A002 - the field's name
    texts: Mapping[str, Any] | None = None,
    options: Any = None,
    is_required: bool = False,
    condition_question_id: int | None = None,
    condition_operator: str = "",
    condition_value: Any = None,
) -> Question:
    """Add a question at the end of the survey."""
    survey = _lock_survey(workspace, survey_id, field="survey")
    if survey.status == Survey.Status.ARCHIVED:
        raise ApplicationError(_("An archived survey cannot change."), code="invalid_state")
    order = (survey.questions.aggregate(last=Max("order"))["last"] or 0) + 1
    question = Question(workspace=workspace, survey=survey, order=order, type=type, is_required=is_required)
    model_clean(question, exclude=["texts", "options", "condition_question", "condition_value"])
    question.texts = _clean_texts(texts, fields=QUESTION_TEXT_FIELDS, languages=survey.languages, field_name="texts")
    question.options = _clean_options(type, options, survey.languages)
    question.condition_question, question.condition_operator, question.condition_value = _clean_condition(
        question, condition_question_id, condition_operator, condition_value
    )
    question.save()
    return question


_QUESTION_FIELDS = {"type", "is_required", "texts", "options"}
_CONDITION_FIELDS = ("condition_question_id", "condition_operator", "condition_value")


@transaction.atomic
def question_update(*, workspace: Workspace, question_id: int, data: dict[str, Any]) -> Question:
    """Change a question. With answers, its type is fixed (archive it and add another)."""
    question = Question.objects.for_workspace(workspace).select_related("survey").get(pk=question_id)
    survey = _lock_survey(workspace, question.survey_id)
    data = dict(data)
    if "type" in data and data["type"] != question.type and _has_answers(question):
        raise ApplicationError.for_field(
            "type",
            _("This question has answers, so its type cannot change. Archive it and add a new one."),
            code="has_answers",
        )
    if "type" in data and data["type"] != question.type and question.dependents.exists():
        raise ApplicationError.for_field(
            "type", _("Other questions are shown depending on this one; change their conditions first.")
        )
    if "texts" in data:
        data["texts"] = _clean_texts(
            data["texts"], fields=QUESTION_TEXT_FIELDS, languages=survey.languages, field_name="texts"
        )
    if "options" in data or "type" in data:
        data["options"] = _clean_options(
            data.get("type", question.type), data.get("options", question.options), survey.languages
        )
    condition = {name: data.pop(name) for name in _CONDITION_FIELDS if name in data}
    changed = apply_changes(question, data, _QUESTION_FIELDS)
    if condition or "type" in changed:
        question.condition_question, question.condition_operator, question.condition_value = _clean_condition(
            question,
            condition.get("condition_question_id", question.condition_question_id),
            condition.get("condition_operator", question.condition_operator),
            condition.get("condition_value", question.condition_value),
        )
        changed += ["condition_question", "condition_operator", "condition_value"]
    model_clean(question, exclude=["texts", "options", "condition_question", "condition_value"])
    if changed:
        question.save(update_fields=[*set(changed), "updated_at"])
    return question


@transaction.atomic
def question_archive(*, workspace: Workspace, question_id: int) -> Question:
    """Hide a question from new responses; its answers stay in the results."""
    question = Question.objects.for_workspace(workspace).get(pk=question_id)
    _lock_survey(workspace, question.survey_id)
    if question.dependents.filter(is_archived=False).exists():
        raise ApplicationError(
            _("Other questions are shown depending on this one; change their conditions first."), code="has_dependents"
        )
    question.is_archived = True
    question.save(update_fields=["is_archived", "updated_at"])
    return question


@transaction.atomic
def question_delete(*, workspace: Workspace, question_id: int) -> None:
    """Delete a question without answers; the others close the gap."""
    question = Question.objects.for_workspace(workspace).get(pk=question_id)
    survey = _lock_survey(workspace, question.survey_id)
    if _has_answers(question):
        raise ApplicationError(
            _("This question has answers, so it cannot be deleted. Archive it instead."), code="has_answers"
        )
    if question.dependents.exists():
        raise ApplicationError(
            _("Other questions are shown depending on this one; change their conditions first."), code="has_dependents"
        )
    question.delete()
    siblings = Question.objects.filter(survey=survey)
    renumber(siblings, list(siblings.order_by("order").values_list("pk", flat=True)))


@transaction.atomic
def question_reorder(*, workspace: Workspace, survey_id: int, question_ids: Sequence[int]) -> list[Question]:
    """Put every question of the survey in the order of ``question_ids``; conditions keep looking back."""
    survey = _lock_survey(workspace, survey_id)
    siblings = Question.objects.filter(survey=survey)
    current = dict(siblings.values_list("pk", "condition_question_id"))
    if len(question_ids) != len(set(question_ids)) or set(question_ids) != set(current):
        raise ApplicationError.for_field("question_ids", _("List every question of this survey exactly once."))
    position = {question_id: index for index, question_id in enumerate(question_ids)}
    for question_id, target_id in current.items():
        if target_id is not None and position[target_id] > position[question_id]:
            raise ApplicationError.for_field(
                "question_ids", _("A question must come after the question its condition looks at.")
            )
    renumber(siblings, question_ids)
    return list(siblings.order_by("order"))
