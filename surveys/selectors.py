"""Every read of the surveys app, workspace first."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from surveys.models import Answer, Invitation, Question, Response, Survey
from touchpoints.models import Workspace


def survey_list(*, workspace: Workspace) -> QuerySet[Survey]:
    """Surveys with their live questions prefetched (for missing-text reports) and counts."""
    live = Question.objects.for_workspace(workspace).filter(is_archived=False).order_by("order")
    return (
        Survey.objects.for_workspace(workspace)
        .annotate(question_count=Count("questions", filter=Q(questions__is_archived=False)))
        .prefetch_related(Prefetch("questions", queryset=live, to_attr="live_questions"))
    )


def question_list(*, workspace: Workspace) -> QuerySet[Question]:
    """Questions with ``has_answers`` annotated (a question with answers keeps its type)."""
    answers = Answer.objects.filter(question=OuterRef("pk"))
    return Question.objects.for_workspace(workspace).annotate(has_answers=Exists(answers))


def invitation_list(*, workspace: Workspace) -> QuerySet[Invitation]:
    return Invitation.objects.for_workspace(workspace).select_related("customer", "survey")


def response_list(*, workspace: Workspace) -> QuerySet[Response]:
    """Responses with their invitation, customer, touchpoint and answers, in a fixed number of queries."""
    answers = Answer.objects.for_workspace(workspace).select_related("question").order_by("question__order")
    return (
        Response.objects.for_workspace(workspace)
        .select_related("invitation__customer", "invitation__touchpoint")
        .prefetch_related(Prefetch("answers", queryset=answers))
    )
