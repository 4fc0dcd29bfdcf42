"""Builders for analytics tests: a journey with a published NPS/CSAT/CES survey, feedback and events, fast.

Rows are written with ``bulk_create`` (a few queries for hundreds of answers), and
times are set exactly: ``Answer.created_at`` is an ``auto_now_add`` field, so it is
written after the insert with one ``bulk_update``.

    setup = journey_setup(workspace=workspace)
    customers = customers_create(workspace=workspace, count=20, personas=["Shopper", "admin", None])
    feedback_create(setup, [Feedback(customer=customers[0], touchpoint=setup.touchpoints[0],
                                     sent_at=moment, scores={"nps": 9, "csat": 4})])
    events_create(workspace=workspace, rows=[(customers[0], setup.touchpoints[0], moment)])
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from surveys.invitations import new_token
from surveys.models import Answer, Invitation, Question, Response, Survey
from touchpoints.models import Channel, Customer, Journey, Persona, Stage, Touchpoint, TouchpointEvent, Workspace

_serial = itertools.count(1)

#: Question order and texts of the survey :func:`journey_setup` publishes.
SURVEY_QUESTIONS = (
    ("nps", "How likely are you to recommend us?"),
    ("csat", "How satisfied are you?"),
    ("ces", "It was easy to get this done."),
    ("text", "Why?"),
)


@dataclass
class JourneySetup:
    workspace: Workspace
    journey: Journey
    stages: list[Stage]
    touchpoints: list[Touchpoint]
    survey: Survey
    #: By question type: ``nps``, ``csat``, ``ces`` and ``text``.
    questions: dict[str, Question]
    personas: list[Persona]


def journey_setup(
    *,
    workspace: Workspace,
    stages: int = 3,
    touchpoints_per_stage: int = 2,
    personas: Sequence[str] = ("Shopper", "Admin"),
    languages: Sequence[str] = ("en", "pl"),
) -> JourneySetup:
    """A journey of ``stages`` stages with ``touchpoints_per_stage`` touchpoints each, personas, and an
    active survey asking NPS, CSAT, CES and an open question in ``languages``."""
    serial = next(_serial)
    journey = Journey.objects.create(workspace=workspace, name=f"Journey {serial}")
    stage_rows = Stage.objects.bulk_create(
        Stage(workspace=workspace, journey=journey, name=f"Stage {order}", order=order)
        for order in range(1, stages + 1)
    )
    channels = itertools.cycle(Channel.values)
    touchpoint_rows = Touchpoint.objects.bulk_create(
        Touchpoint(workspace=workspace, stage=stage, name=f"{stage.name}.{index}", channel=next(channels), order=index)
        for stage in stage_rows
        for index in range(1, touchpoints_per_stage + 1)
    )
    persona_rows = [Persona.objects.get_or_create(workspace=workspace, name=name)[0] for name in personas]
    survey = Survey.objects.create(
        workspace=workspace,
        name=f"Feedback {serial}",
        kind=Survey.Kind.NPS,
        status=Survey.Status.ACTIVE,
        default_language=languages[0],
        languages=list(languages),
        texts={language: {"title": "Feedback"} for language in languages},
        published_at=timezone.now(),
    )
    questions = Question.objects.bulk_create(
        Question(
            workspace=workspace,
            survey=survey,
            order=order,
            type=kind,
            texts={language: {"text": text} for language in languages},
        )
        for order, (kind, text) in enumerate(SURVEY_QUESTIONS, start=1)
    )
    return JourneySetup(
        workspace=workspace,
        journey=journey,
        stages=list(stage_rows),
        touchpoints=list(touchpoint_rows),
        survey=survey,
        questions={question.type: question for question in questions},
        personas=persona_rows,
    )


def customers_create(*, workspace: Workspace, count: int, personas: Sequence[str | None] = (None,)) -> list[Customer]:
    """``count`` customers; the ``persona`` trait cycles through ``personas`` (``None``: no such trait)."""
    now = timezone.now()
    serial = next(_serial)
    cycle = itertools.cycle(personas)
    customers = []
    for index in range(count):
        persona = next(cycle)
        customers.append(
            Customer(
                workspace=workspace,
                external_id=f"c{serial}-{index}",
                traits={"plan": "pro"} if persona is None else {"plan": "pro", "persona": persona},
                first_seen_at=now,
                last_seen_at=now,
            )
        )
    return Customer.objects.bulk_create(customers)


@dataclass(frozen=True)
class Feedback:
    """One invitation and, when it has ``scores`` or ``texts``, its response.

    ``status`` defaults to ``answered`` when there are answers, else ``sent`` (or
    ``scheduled`` without ``sent_at``). ``answered_at`` (default: an hour after
    ``sent_at``) is the answers' ``created_at`` and the response's start.
    ``response_language`` defaults to the invitation's ``language``.
    """

    customer: Customer
    touchpoint: Touchpoint | None
    sent_at: datetime | None
    scores: Mapping[str, int] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    channel: str = Invitation.Channel.EMAIL
    language: str = "en"
    response_language: str | None = None
    status: str | None = None
    answered_at: datetime | None = None
    is_complete: bool = True
    survey: Survey | None = None

    @property
    def has_answers(self) -> bool:
        return bool(self.scores or self.texts)

    @property
    def answer_time(self) -> datetime:
        return self.answered_at or (self.sent_at or timezone.now()) + timedelta(hours=1)


def feedback_create(setup: JourneySetup, items: Sequence[Feedback]) -> list[Invitation]:
    """Write the invitations, responses and answers of ``items`` (bulk: about six queries)."""
    invitations = Invitation.objects.bulk_create(
        Invitation(
            workspace=setup.workspace,
            survey=item.survey or setup.survey,
            customer=item.customer,
            touchpoint=item.touchpoint,
            channel=item.channel,
            language=item.language,
            status=item.status
            or (
                Invitation.Status.ANSWERED
                if item.has_answers
                else Invitation.Status.SENT
                if item.sent_at
                else Invitation.Status.SCHEDULED
            ),
            token=new_token(),
            send_at=item.sent_at or item.answer_time,
            expires_at=(item.sent_at or item.answer_time) + timedelta(days=30),
            sent_at=item.sent_at,
            answered_at=item.answer_time if item.has_answers and item.is_complete else None,
        )
        for item in items
    )
    answered = [(item, invitation) for item, invitation in zip(items, invitations, strict=True) if item.has_answers]
    responses = Response.objects.bulk_create(
        Response(
            workspace=setup.workspace,
            survey=invitation.survey,
            invitation=invitation,
            language=item.language if item.response_language is None else item.response_language,
            started_at=item.answer_time,
            completed_at=item.answer_time if item.is_complete else None,
            is_complete=item.is_complete,
        )
        for item, invitation in answered
    )
    answers = []
    for (item, _invitation), response in zip(answered, responses, strict=True):
        questions = _questions_of(setup, response.survey_id)
        answers += [
            Answer(workspace=setup.workspace, response=response, question=questions[kind], number=number)
            for kind, number in item.scores.items()
        ]
        answers += [
            Answer(workspace=setup.workspace, response=response, question=questions[kind], text=text)
            for kind, text in item.texts.items()
        ]
    answers = Answer.objects.bulk_create(answers)
    times = {response.pk: response.started_at for response in responses}
    for answer in answers:
        answer.created_at = times[answer.response_id]
    Answer.objects.bulk_update(answers, ["created_at"], batch_size=500)
    return invitations


def _questions_of(setup: JourneySetup, survey_id: int) -> dict[str, Question]:
    if survey_id == setup.survey.pk:
        return setup.questions
    return {question.type: question for question in Question.objects.filter(survey_id=survey_id)}


def random_feedback(
    setup: JourneySetup,
    *,
    customers: Sequence[Customer],
    rng: random.Random,
    count: int,
    days: Sequence[date],
    channels: Sequence[str] = tuple(Invitation.Channel.values),
    languages: Sequence[str] = ("en", "pl"),
    answer_rate: float = 0.6,
) -> list[Feedback]:
    """``count`` invitations spread over ``days`` (UTC), touchpoints, channels and languages; about
    ``answer_rate`` of them answered with some of the NPS, CSAT and CES questions (partial responses too)."""
    items = []
    for _index in range(count):
        sent_at = datetime.combine(rng.choice(days), time.min, tzinfo=UTC) + timedelta(seconds=rng.randrange(86400))
        scores: dict[str, int] = {}
        if rng.random() < answer_rate:
            scores = {"nps": rng.randint(0, 10), "csat": rng.randint(1, 5), "ces": rng.randint(1, 7)}
            scores = dict(rng.sample(sorted(scores.items()), rng.randint(1, 3)))
        language = rng.choice(languages)
        items.append(
            Feedback(
                customer=rng.choice(customers),
                touchpoint=rng.choice(setup.touchpoints),
                sent_at=sent_at,
                scores=scores,
                channel=rng.choice(channels),
                language=language,
                response_language=rng.choice([None, None, "", *languages]),
                # answered within the day mostly; sometimes later (another UTC day)
                answered_at=sent_at + timedelta(minutes=rng.randrange(5, 60 * 30)),
                is_complete=len(scores) == 3,
            )
        )
    return items


def events_create(
    *, workspace: Workspace, rows: Sequence[tuple[Customer | None, Touchpoint, datetime]]
) -> list[TouchpointEvent]:
    """Touchpoint events ``(customer, touchpoint, occurred_at)``, one query."""
    serial = next(_serial)
    return TouchpointEvent.objects.bulk_create(
        TouchpointEvent(
            workspace=workspace,
            customer=customer,
            anonymous_id="" if customer else "anon",
            touchpoint=touchpoint,
            name=f"touchpoint_{touchpoint.pk}",
            message_id=f"m{serial}-{index}",
            occurred_at=occurred_at,
            received_at=occurred_at,
            evaluated_at=occurred_at,
        )
        for index, (customer, touchpoint, occurred_at) in enumerate(rows)
    )
