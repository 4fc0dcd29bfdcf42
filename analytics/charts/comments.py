"""The open-text reads of a stage: detractor comments and the key terms that set detractors apart.

Both are bounded: at most :data:`COMMENTS_SHOWN` comments and :data:`TERM_TEXTS_READ`
texts, one query each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Lower, NullIf

from analytics import metrics
from analytics.aggregation import ReportFilters
from analytics.text import Term, base_language, distinguishing_terms_by_language
from surveys.models import Answer, QuestionType
from touchpoints.models import Persona, Stage, Workspace
from touchpoints.pii import mask_pii

#: Detractor comments shown on a stage's page, newest first.
COMMENTS_SHOWN = 20
#: The newest detractor and promoter texts read for a stage's key terms.
TERM_TEXTS_READ = 2_000
#: Key terms shown per language.
TERMS_SHOWN = 10


def _period(filters: ReportFilters) -> tuple[datetime, datetime]:
    return (
        datetime.combine(filters.since, time.min, tzinfo=UTC),
        datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC),
    )


def stage_texts(*, workspace: Workspace, stage: Stage, filters: ReportFilters) -> QuerySet[Answer]:
    """The stage's non-empty open-text answers within the filters, each with its response's NPS (``nps``).

    The same rules as the counts: the answer's UTC day, the invitation's channel
    and survey, the response's language (else the invitation's), the customer's
    ``persona`` trait matched to the workspace's personas regardless of case.
    """
    start, end = _period(filters)
    nps = (
        Answer.objects.filter(response=OuterRef("response"), question__type=QuestionType.NPS, number__isnull=False)
        .order_by("question__order", "pk")
        .values("number")[:1]
    )
    texts = (
        Answer.objects.for_workspace(workspace)
        .filter(
            question__type=QuestionType.TEXT,
            response__invitation__touchpoint__stage=stage,
            created_at__gte=start,
            created_at__lt=end,
        )
        .exclude(text="")
        .annotate(
            nps=Subquery(nps),
            language_code=Coalesce(NullIf("response__language", Value("")), "response__invitation__language"),
        )
    )
    if filters.channel is not None:
        texts = texts.filter(response__invitation__channel=filters.channel)
    if filters.survey_id is not None:
        texts = texts.filter(response__invitation__survey_id=filters.survey_id)
    if filters.language is not None:
        texts = texts.filter(language_code=filters.language)
    if filters.persona is not None:
        texts = texts.annotate(persona_key=Lower(KeyTextTransform("persona", "response__invitation__customer__traits")))
        known = (
            Persona.objects.for_workspace(workspace)
            .annotate(name_key=Lower("name"))
            .filter(name_key=OuterRef("persona_key"))
        )
        if filters.persona == "":
            texts = texts.filter(~Exists(known))
        else:
            texts = texts.filter(Exists(known.filter(name=filters.persona)))
    return texts


@dataclass(frozen=True)
class Comment:
    text: str
    score: int
    language: str
    touchpoint: str
    created_at: datetime
    customer: str  # empty for roles that may not see PII


def detractor_comments(
    *, workspace: Workspace, stage: Stage, filters: ReportFilters, show_pii: bool, limit: int = COMMENTS_SHOWN
) -> list[Comment]:
    """The newest open-text answers of the stage's detractors (NPS 0–6), one query.

    Without ``show_pii`` the customer is left out and e-mail addresses and phone numbers in the
    text are masked.
    """
    answers = (
        stage_texts(workspace=workspace, stage=stage, filters=filters)
        .filter(Q(nps__lte=metrics.DETRACTOR))
        .select_related("response__invitation__touchpoint", "response__invitation__customer")
        .order_by("-created_at", "-pk")[:limit]
    )
    comments = []
    for answer in answers:
        invitation = answer.response.invitation
        customer = ""
        if show_pii:
            person = invitation.customer
            customer = f"{person.external_id} <{person.email}>" if person.email else person.external_id
        comments.append(
            Comment(
                text=answer.text if show_pii else mask_pii(answer.text),
                score=int(answer.nps),  # type: ignore[attr-defined]
                language=answer.language_code or "",  # type: ignore[attr-defined]
                touchpoint=invitation.touchpoint.name if invitation.touchpoint else "",
                created_at=answer.created_at,
                customer=customer,
            )
        )
    return comments


@dataclass(frozen=True)
class TermView:
    term: Term
    examples: list[str]


@dataclass(frozen=True)
class LanguageTerms:
    language: str
    detractors: int
    promoters: int
    terms: list[TermView]


def key_terms(
    *,
    workspace: Workspace,
    stage: Stage,
    filters: ReportFilters,
    show_pii: bool,
    limit: int = TERM_TEXTS_READ,
    top: int = TERMS_SHOWN,
) -> tuple[list[LanguageTerms], int]:
    """Terms that distinguish the stage's detractors from its promoters, per language, and the texts read.

    Reads the newest ``limit`` detractor and promoter texts (one query) and hands
    them to :func:`analytics.text.distinguishing_terms_by_language`.
    """
    rows = list(
        stage_texts(workspace=workspace, stage=stage, filters=filters)
        .filter(Q(nps__lte=metrics.DETRACTOR) | Q(nps__gte=metrics.PROMOTER))
        .order_by("-created_at", "-pk")
        .values_list("language_code", "nps", "text")[:limit]  # type: ignore[misc] # annotations
    )
    answers = [
        (language or "", "detractor" if score <= metrics.DETRACTOR else "promoter", text)
        for language, score, text in rows
    ]
    found = distinguishing_terms_by_language(answers, top=top)
    sizes: dict[str, list[int]] = {}
    for language, group, _text in answers:
        counts = sizes.setdefault(base_language(language), [0, 0])
        counts[0 if group == "detractor" else 1] += 1
    result = []
    for language, terms in found.items():
        views = [
            TermView(
                term=term,
                examples=[answers[index][2] if show_pii else mask_pii(answers[index][2]) for index in term.examples],
            )
            for term in terms
        ]
        detractors, promoters = sizes.get(language, [0, 0])
        result.append(LanguageTerms(language=language, detractors=detractors, promoters=promoters, terms=views))
    return result, len(rows)
