"""CSV export of a survey's responses, streamed row by row.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) are prefixed with ``'`` (OWASP's advice), so an
answer like ``=HYPERLINK(...)`` is shown, never executed. Customer email appears
only for roles that may see PII; for the others, e-mail addresses and phone numbers
in text answers are masked (:func:`touchpoints.pii.mask_pii`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from surveys.models import Question, Response, Survey
from surveys.texts import text_for
from touchpoints.pii import mask_pii

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 500


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write returns the line, for streaming through csv.writer."""

    def write(self, value: str) -> str:
        return value


def _answer_cell(question: Question, answer: Any, include_pii: bool) -> Any:
    if answer is None:
        return ""
    if question.type == Question.Type.YES_NO and answer.number is not None:
        return "yes" if answer.number == 1 else "no"
    if answer.number is not None:
        return answer.number
    if answer.choices:
        return ";".join(answer.choices)
    return answer.text if include_pii else mask_pii(answer.text)


def responses_csv_rows(*, survey: Survey, responses: QuerySet[Response], include_pii: bool) -> Iterator[str]:
    """Header then one line per response; questions (archived too) are columns in survey order."""
    writer = csv.writer(_Echo())
    questions = list(survey.questions.order_by("order"))
    header = ["response_id", "customer", *(["email"] if include_pii else []), "language", "touchpoint"]
    header += ["started_at", "completed_at", "complete"]
    header += [
        f"q{q.order}: {text_for(q.texts, 'text', survey.default_language, survey.default_language)}" for q in questions
    ]
    yield writer.writerow([safe_cell(cell) for cell in header])
    for response in responses.order_by("started_at", "id").iterator(chunk_size=CHUNK_SIZE):
        answers = {answer.question_id: answer for answer in response.answers.all()}
        invitation = response.invitation
        row: list[Any] = [response.pk, invitation.customer.external_id]
        if include_pii:
            row.append(invitation.customer.email)
        row += [response.language, invitation.touchpoint.name if invitation.touchpoint else ""]
        row += [response.started_at.isoformat(), response.completed_at.isoformat() if response.completed_at else ""]
        row.append("yes" if response.is_complete else "no")
        row += [_answer_cell(question, answers.get(question.pk), include_pii) for question in questions]
        yield writer.writerow([safe_cell(cell) for cell in row])
