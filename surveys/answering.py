"""Answering a survey: one question per step, conditions evaluated on the server.

The public form (:mod:`surveys.views`) works without JavaScript: each POST saves
one answer and the next GET shows the next visible question, so a customer who
leaves and comes back continues where they stopped. A skipped optional question
is stored as an empty answer, so "answered" always means "has an Answer row".

Exactly-once: the invitation row is locked for every write, the response is
unique per invitation and an answer unique per question; a completed response
takes nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from surveys.models import SCALES, Answer, Invitation, Question, Response
from surveys.texts import CHOICE_TYPES

TEXT_ANSWER_MAX_LENGTH = 5000


class InvitationClosed(Exception):  # noqa: N818 - a state, not an error of the caller
    """The invitation takes no answers: answered or expired (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class StepResult:
    error: str = ""
    is_complete: bool = False
    values: dict[str, Any] = field(default_factory=dict)


def small_int(text: str) -> int | None:
    """A non-negative whole number of at most 6 ASCII digits, else None (``"²"``, ``"1e3"``, huge)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else None


def invitation_state(invitation: Invitation) -> str:
    """``open``, ``answered`` or ``expired``."""
    if invitation.status == Invitation.Status.ANSWERED:
        return "answered"
    if invitation.status == Invitation.Status.EXPIRED or invitation.expires_at <= timezone.now():
        return "expired"
    return "open"


def condition_met(question: Question, answers: Mapping[int, Answer]) -> bool:
    """Whether a question is shown, given the answers so far (by question id)."""
    if question.condition_question_id is None:
        return True
    answer = answers.get(question.condition_question_id)
    if answer is None:
        return False
    operator, expected = question.condition_operator, question.condition_value
    if answer.choices:
        chosen = set(answer.choices)
        wanted = set(expected) if operator == "in" else {expected}
        return bool(chosen & wanted) if operator in ("eq", "in") else not chosen & wanted
    if answer.number is None:
        return False
    value = answer.number
    comparisons = {
        "eq": value == expected,
        "ne": value != expected,
        "lt": value < expected,
        "lte": value <= expected,
        "gt": value > expected,
        "gte": value >= expected,
        "in": operator == "in" and value in expected,
    }
    return bool(comparisons.get(operator, False))


def next_question(questions: Sequence[Question], answers: Mapping[int, Answer]) -> Question | None:
    """The first shown question without an answer, or None when the survey is done."""
    for question in questions:
        if question.pk not in answers and condition_met(question, answers):
            return question
    return None


def parse_answer(question: Question, raw: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Form values → Answer fields, or an error message. ``raw`` maps ``value`` to a string or list."""
    values: list[str] = [v for v in raw.get("value", []) if v != ""]
    if any("\x00" in value for value in values):  # no browser sends it; PostgreSQL cannot store it
        return {}, _("Your answer contains a character that cannot be saved.")
    if question.type == Question.Type.TEXT:
        text = (values[0] if values else "").strip()
        if len(text) > TEXT_ANSWER_MAX_LENGTH:
            return {}, _("Please keep your answer under %(max)d characters.") % {"max": TEXT_ANSWER_MAX_LENGTH}
        if not text and question.is_required:
            return {}, _("Please answer this question.")
        return {"text": text}, ""
    if not values:
        return ({}, _("Please answer this question.")) if question.is_required else ({}, "")
    if question.type in SCALES:
        low, high = SCALES[question.type]
        score = small_int(values[0])
        if score is None or not low <= score <= high:
            return {}, _("Choose a score from %(low)d to %(high)d.") % {"low": low, "high": high}
        return {"number": score}, ""
    if question.type == Question.Type.YES_NO:
        if values[0] not in ("yes", "no"):
            return {}, _("Choose yes or no.")
        return {"number": 1 if values[0] == "yes" else 0}, ""
    keys = {option["key"] for option in question.options}
    if question.type in CHOICE_TYPES:
        chosen = list(dict.fromkeys(values))
        if not set(chosen) <= keys or (question.type == Question.Type.SINGLE_CHOICE and len(chosen) != 1):
            return {}, _("Choose one of the options.")
        return {"choices": chosen}, ""
    return {}, _("This question cannot be answered here.")


@transaction.atomic
def response_answer_step(*, invitation_id: int, question_id: int, raw: Mapping[str, Any], language: str) -> StepResult:
    """Save the answer to the current step and complete the response after the last one.

    Raises :class:`InvitationClosed` when the invitation takes no more answers;
    a stale step (not the current question) saves nothing and returns no error,
    so the form simply shows the current question again.
    """
    invitation = Invitation.objects.select_for_update().select_related("survey").get(pk=invitation_id)
    state = invitation_state(invitation)
    if state != "open":
        raise InvitationClosed(state)
    survey = invitation.survey
    questions = list(survey.questions.filter(is_archived=False).order_by("order"))
    response = Response.objects.filter(invitation=invitation).first()
    answers = {a.question_id: a for a in response.answers.all()} if response else {}
    current = next_question(questions, answers)
    if current is None or current.pk != question_id:
        return StepResult()
    values, error = parse_answer(current, raw)
    if error:
        return StepResult(error=error, values=dict(raw))
    now = timezone.now()
    if response is None:
        response = Response.objects.create(
            workspace_id=invitation.workspace_id,
            survey=survey,
            invitation=invitation,
            language=language,
            started_at=now,
        )
    answers[current.pk] = Answer.objects.create(
        workspace_id=invitation.workspace_id, response=response, question=current, **values
    )
    if next_question(questions, answers) is not None:
        return StepResult()
    response.is_complete, response.completed_at = True, now
    response.save(update_fields=["is_complete", "completed_at", "updated_at"])
    invitation.status, invitation.answered_at = Invitation.Status.ANSWERED, now
    invitation.save(update_fields=["status", "answered_at", "updated_at"])
    return StepResult(is_complete=True)


def invitation_mark_opened(*, invitation: Invitation) -> None:
    """The first view of the form: ``scheduled``/``sent`` → ``opened`` (one conditional UPDATE)."""
    if invitation.status in (Invitation.Status.SCHEDULED, Invitation.Status.SENT):
        now = timezone.now()
        Invitation.objects.filter(
            pk=invitation.pk, status__in=[Invitation.Status.SCHEDULED, Invitation.Status.SENT]
        ).update(status=Invitation.Status.OPENED, opened_at=now, updated_at=now)
        invitation.status, invitation.opened_at = Invitation.Status.OPENED, now
