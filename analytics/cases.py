"""Follow-up cases (issue 6, closing the loop): who opens them, how they change, what they add up to.

A case is opened for every **detractor response** and every **new friction flag**
(the latter by :mod:`analytics.alerts`), assigned to the touchpoint's owner team,
and worked by admins and designers (status, assignee, due date, notes). Analysts
and viewers read cases without the customer's identity.

Detractors
----------
A response is a detractor's when one of its answers is at most:

* **NPS ≤ 6** (0–10; the NPS definition, :data:`analytics.metrics.DETRACTOR`),
* **CSAT ≤ 2** (1–5: "dissatisfied" or "very dissatisfied"),
* **CES ≤ 2** (1–7 agreement with "it was easy": disagree or strongly disagree).

Generic ratings, choices and texts never open a case: their scales mean whatever
the survey says. One response opens at most one case (``case_once_per_response``),
however many of its answers are low; the case records the first low answer the
sweep finds (NPS before CSAT before CES among answers found together), and the case
page shows all of the response's answers. A case opens as soon as the low answer is
saved, before the response is complete, so the clock starts early; later answers
(the "why?" comment) appear on the case page as they come.

The sweep, :func:`detractor_cases_open` (Celery beat, every minute), is set-based:
one query finds low answers newer than a watermark whose response has no case yet
(anti-join, bounded batch, ordered by answer id through the primary key), one bulk
insert opens their cases, and the unique constraint makes a rerun or an overlapping
run a no-op. The watermark trails the newest answer by a commit lag (see
:class:`analytics.models.DetractorSweep`), so an answer committed late is still
found. The very first sweep starts :data:`DETRACTOR_BACKFILL_DAYS` back: detractors
of the last week get cases, older history does not.

Due dates
---------
A detractor case is due :data:`DETRACTOR_DUE_BUSINESS_DAYS` business days after it
opens (the usual 48-hour rule of closed-loop feedback: contact while the customer
still remembers); a flag case :data:`FLAG_DUE_BUSINESS_DAYS` (a pattern takes an
investigation). Business days are Monday to Friday in the workspace's time zone,
keeping the time of day (opened Friday 17:00 → due Tuesday 17:00); public holidays
are not known.

Followed up and time to close
-----------------------------
A case is *followed up* from its first note or its first status change away from
"open" (``followed_up_at``); assigning alone does not count. :func:`followup_summary`
gives the dashboard the share of a period's detractors followed up and the median
time from opening to closing.
"""

from __future__ import annotations

import statistics
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics import metrics
from analytics.metrics import Estimate
from analytics.models import CaseNote, CaseSource, CaseStatus, DetractorSweep, FollowUpCase
from config.errors import ApplicationError
from surveys.models import Answer, Response
from touchpoints.models import Journey, Membership, Role, Workspace

#: The highest score that makes an answer of each type a detractor's, and the order they are preferred in.
DETRACTOR_MAX_SCORE: dict[str, int] = {"nps": metrics.DETRACTOR, "csat": 2, "ces": 2}
DETRACTOR_DUE_BUSINESS_DAYS = 2
FLAG_DUE_BUSINESS_DAYS = 5
#: Low answers turned into cases per sweep transaction.
SWEEP_BATCH = 500
#: How long an answer's transaction may take to commit: the watermark stays this far behind.
SWEEP_COMMIT_LAG = timedelta(minutes=10)
#: How far back the very first sweep looks.
DETRACTOR_BACKFILL_DAYS = 7
NOTE_MAX_LENGTH = 5000
#: Members who may be assigned a case: those who may change it.
ASSIGNABLE_ROLES = (Role.ADMIN, Role.DESIGNER)
#: How far ahead a due date may be set (two years and a leap day).
DUE_AT_MAX_AHEAD = timedelta(days=2 * 365 + 1)


def detractor_q(prefix: str = "") -> Q:
    """Answers (``prefix`` ``""``) or rows reaching answers through ``prefix`` that are a detractor's."""
    query = Q()
    for kind, highest in DETRACTOR_MAX_SCORE.items():
        query |= Q(**{f"{prefix}question__type": kind, f"{prefix}number__lte": highest})
    return query & Q(**{f"{prefix}number__isnull": False})


def is_detractor(question_type: str, score: int | None) -> bool:
    highest = DETRACTOR_MAX_SCORE.get(question_type)
    return highest is not None and score is not None and score <= highest


def add_business_days(moment: datetime, days: int, zone: str) -> datetime:
    """``days`` business days (Monday–Friday in ``zone``) after ``moment``, same local minute, in UTC."""
    try:
        tz = zoneinfo.ZoneInfo(zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    local = moment.astimezone(tz).replace(second=0, microsecond=0)
    added = 0
    while added < days:
        local += timedelta(days=1)  # wall-clock arithmetic: the local time of day is kept across DST
        if local.weekday() < 5:
            added += 1
    return local.astimezone(UTC)


# --- Opening detractor cases --------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    opened: int
    #: Low answers found in this batch (a full batch means more may wait).
    found: int
    is_full: bool


def _sweep_state(now: datetime) -> DetractorSweep:
    """The locked sweep row; created on the first sweep, starting :data:`DETRACTOR_BACKFILL_DAYS` back."""
    state = DetractorSweep.objects.select_for_update().filter(pk=1).first()
    if state is not None:
        return state
    cutoff = now - timedelta(days=DETRACTOR_BACKFILL_DAYS)
    # The first answer of each workspace since the cutoff, through the (workspace, created_at) index.
    first_ids = Workspace.objects.annotate(
        first_answer=Subquery(
            Answer.objects.filter(workspace=OuterRef("pk"), created_at__gte=cutoff)
            .order_by("created_at", "pk")
            .values("pk")[:1]
        )
    ).aggregate(first=Min("first_answer"))
    start = first_ids["first"]
    through = start - 1 if start is not None else (Answer.objects.aggregate(last=Max("pk"))["last"] or 0)
    DetractorSweep.objects.get_or_create(pk=1, defaults={"swept_through_id": through})
    return DetractorSweep.objects.select_for_update().get(pk=1)


_SWEEP_FIELDS = (
    "pk",
    "response_id",
    "workspace_id",
    "created_at",
    "number",
    "question__type",
    "response__invitation__customer_id",
    "response__invitation__touchpoint_id",
    "response__invitation__touchpoint__owner_team",
    "response__invitation__touchpoint__stage_id",
    "response__invitation__touchpoint__stage__journey_id",
    "workspace__timezone",
)


def _first_per_response(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One answer per response: NPS before CSAT before CES, then the earliest."""
    order = {kind: index for index, kind in enumerate(DETRACTOR_MAX_SCORE)}
    chosen: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        best = chosen.get(row["response_id"])
        key = (order[row["question__type"]], row["pk"])
        if best is None or key < (order[best["question__type"]], best["pk"]):
            chosen[row["response_id"]] = row
    return list(chosen.values())


@transaction.atomic
def detractor_cases_open(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> SweepResult:
    """Open a case for each detractor response without one, up to ``limit`` low answers; idempotent.

    Two queries find the work and one bulk insert does it, whatever the batch size;
    a response that got its case meanwhile (an overlapping sweep) is skipped by the
    unique constraint.
    """
    now = now or timezone.now()
    state = _sweep_state(now)
    has_case = FollowUpCase.objects.filter(response_id=OuterRef("response_id"))
    rows = list(
        Answer.objects.filter(detractor_q(), pk__gt=state.swept_through_id)
        .filter(~Exists(has_case))
        .order_by("pk")
        .values(*_SWEEP_FIELDS)[:limit]
    )
    cases = [
        FollowUpCase(
            workspace_id=row["workspace_id"],
            source=CaseSource.DETRACTOR,
            status=CaseStatus.OPEN,
            response_id=row["response_id"],
            customer_id=row["response__invitation__customer_id"],
            question_type=row["question__type"],
            score=row["number"],
            feedback_at=row["created_at"],
            journey_id=row["response__invitation__touchpoint__stage__journey_id"],
            stage_id=row["response__invitation__touchpoint__stage_id"],
            touchpoint_id=row["response__invitation__touchpoint_id"],
            owner_team=row["response__invitation__touchpoint__owner_team"] or "",
            opened_at=now,
            due_at=add_business_days(now, DETRACTOR_DUE_BUSINESS_DAYS, row["workspace__timezone"]),
        )
        for row in _first_per_response(rows)
    ]
    opened = 0
    if cases:
        FollowUpCase.objects.bulk_create(cases, ignore_conflicts=True)
        # Ours carry this run's ``now``; a response another run served meanwhile kept its case.
        opened = FollowUpCase.objects.filter(
            response_id__in=[case.response_id for case in cases], opened_at=now
        ).count()
    is_full = len(rows) == limit
    _advance(state, now=now, last_id=rows[-1]["pk"] if is_full else None)
    return SweepResult(opened=opened, found=len(rows), is_full=is_full)


def _advance(state: DetractorSweep, *, now: datetime, last_id: int | None) -> None:
    """Move the watermark to the matured checkpoint (not past a full batch), then take a new checkpoint."""
    matured = state.checkpoint_at is None or state.checkpoint_at <= now - SWEEP_COMMIT_LAG
    if not matured:
        return
    if state.checkpoint_at is not None:
        target = state.checkpoint_id if last_id is None else min(state.checkpoint_id, last_id)
        state.swept_through_id = max(state.swept_through_id, target)
    state.checkpoint_id = Answer.objects.aggregate(last=Max("pk"))["last"] or 0
    state.checkpoint_at = now
    state.save(update_fields=["swept_through_id", "checkpoint_id", "checkpoint_at", "updated_at"])


# --- Reading cases ----------------------------------------------------------------------


def case_list(*, workspace: Workspace) -> QuerySet[FollowUpCase]:
    """The workspace's cases with everything a list shows, in one query (``note_count`` annotated)."""
    notes = (
        CaseNote.objects.filter(case=OuterRef("pk"), kind=CaseNote.Kind.NOTE)
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        FollowUpCase.objects.for_workspace(workspace)
        .select_related("journey", "stage", "touchpoint", "assignee", "customer", "flag")
        .annotate(note_count=Coalesce(Subquery(notes, output_field=IntegerField()), Value(0)))
    )


def case_detail(*, workspace: Workspace) -> QuerySet[FollowUpCase]:
    """:func:`case_list` with the notes (and authors) and the response's answers (and questions) prefetched."""
    return case_list(workspace=workspace).prefetch_related(
        Prefetch("notes", queryset=CaseNote.objects.select_related("author").order_by("created_at", "pk")),
        Prefetch(
            "response",
            queryset=Response.objects.prefetch_related(
                Prefetch(
                    "answers",
                    queryset=Answer.objects.select_related("question__survey").order_by("question__order"),
                )
            ),
        ),
    )


def case_status_counts(cases: QuerySet[FollowUpCase]) -> dict[str, int]:
    """Cases per status (every status present), one query."""
    counts = dict.fromkeys(CaseStatus.values, 0)
    for row in cases.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def case_assignees(*, workspace: Workspace) -> QuerySet[Any]:
    """Active users who may be assigned a case here: admins and designers, by name."""
    members = Membership.objects.filter(workspace=workspace, role__in=ASSIGNABLE_ROLES, user=OuterRef("pk"))
    return get_user_model().objects.filter(Exists(members), is_active=True).order_by("username")


def case_owner_teams(*, workspace: Workspace) -> list[str]:
    """The owner teams that have cases (for the filters), sorted."""
    teams = FollowUpCase.objects.for_workspace(workspace).exclude(owner_team="").values_list("owner_team", flat=True)
    return sorted(set(teams.order_by().distinct()))


def is_overdue(case: FollowUpCase, now: datetime | None = None) -> bool:
    return case.status != CaseStatus.CLOSED and case.due_at < (now or timezone.now())


# --- Changing cases -----------------------------------------------------------------------


def _author(author: AbstractBaseUser | None) -> User | None:
    """A user to link the note to; ``None`` for an API key (its label names it)."""
    return author if isinstance(author, User) else None


def _user_label(user: Any) -> str:
    return "" if user is None else str(user.get_username())


@transaction.atomic
def case_update(
    *,
    workspace: Workspace,
    case_id: int,
    data: Mapping[str, Any],
    author: AbstractBaseUser | None,
    author_label: str,
) -> FollowUpCase:
    """Change a case's ``status``, ``assignee_id`` (``None``: unassigned) and/or ``due_at``; records the change.

    Closing sets ``closed_at``, reopening clears it; the first move away from open
    marks the case followed up. The assignee must be an admin or designer of the
    workspace; a new due date must lie between now and :data:`DUE_AT_MAX_AHEAD` from
    now (an unchanged one may be past). The bounds are checked before the date is
    converted anywhere, so a date at the end of the calendar is a field error, not
    an overflow. Unknown keys are refused. Errors name their field.
    """
    unknown = sorted(set(data) - {"status", "assignee_id", "due_at"})
    if unknown:
        raise ApplicationError(
            _("Only the status, the assignee and the due date can be changed."),
            fields={name: [_("This field cannot be changed.")] for name in unknown},
        )
    case = FollowUpCase.objects.for_workspace(workspace).select_for_update().get(pk=case_id)
    now = timezone.now()
    changes: dict[str, list[Any]] = {}
    fields: list[str] = []
    if "status" in data and data["status"] != case.status:
        status = data["status"]
        if status not in CaseStatus.values:
            raise ApplicationError.for_field("status", _("Choose open, in progress or closed."))
        changes["status"] = [case.status, status]
        case.status = status
        case.closed_at = now if status == CaseStatus.CLOSED else None
        fields += ["status", "closed_at"]
        if case.followed_up_at is None:
            case.followed_up_at = now
            fields.append("followed_up_at")
    if "assignee_id" in data and data["assignee_id"] != case.assignee_id:
        assignee = None
        if data["assignee_id"] is not None:
            assignee = case_assignees(workspace=workspace).filter(pk=data["assignee_id"]).first()
            if assignee is None:
                raise ApplicationError.for_field(
                    "assignee", _("Choose a member of this workspace who can work on cases (an admin or a designer).")
                )
        old = _user_label(case.assignee) if case.assignee_id else ""
        changes["assignee"] = [old, _user_label(assignee)]
        case.assignee = assignee
        fields.append("assignee")
    if "due_at" in data and data["due_at"] != case.due_at:
        due_at = data["due_at"]
        if not isinstance(due_at, datetime) or timezone.is_naive(due_at):
            raise ApplicationError.for_field("due_at", _("Give a date and time with a time zone."))
        # Aware datetimes compare without conversion, whatever their offset.
        if due_at < now - timedelta(minutes=1):
            raise ApplicationError.for_field("due_at", _("Give a due date that is not in the past."))
        if due_at > now + DUE_AT_MAX_AHEAD:
            raise ApplicationError.for_field("due_at", _("Give a due date at most two years ahead."))
        changes["due_at"] = [case.due_at.isoformat(), due_at.isoformat()]
        case.due_at = due_at
        fields.append("due_at")
    if not changes:
        return case
    case.save(update_fields=[*fields, "updated_at"])
    CaseNote.objects.create(
        workspace=workspace,
        case=case,
        kind=CaseNote.Kind.CHANGE,
        author=_author(author),
        author_label=author_label[:150],
        changes=changes,
    )
    return case


@transaction.atomic
def case_note_add(
    *, workspace: Workspace, case_id: int, text: str, author: AbstractBaseUser | None, author_label: str
) -> CaseNote:
    """Add a note (1–5000 characters) to a case; the first note marks the case followed up."""
    text = (text or "").strip()
    if not text:
        raise ApplicationError.for_field("text", _("Write a note."))
    if len(text) > NOTE_MAX_LENGTH:
        raise ApplicationError.for_field("text", _("A note has at most %(max)d characters.") % {"max": NOTE_MAX_LENGTH})
    if "\x00" in text:
        raise ApplicationError.for_field("text", _("Contains an invalid character."))
    case = FollowUpCase.objects.for_workspace(workspace).select_for_update().get(pk=case_id)
    note = CaseNote.objects.create(
        workspace=workspace,
        case=case,
        kind=CaseNote.Kind.NOTE,
        author=_author(author),
        author_label=author_label[:150],
        text=text,
    )
    case.followed_up_at = case.followed_up_at or note.created_at
    case.save(update_fields=["followed_up_at", "updated_at"])
    return note


# --- The dashboard's summary --------------------------------------------------------------


class FollowUpSummary(TypedDict):
    detractors: int
    followed_up: int
    share: Estimate
    closed: int
    median_hours_to_close: float | None


def followup_summary(*, workspace: Workspace, journey: Journey | None, since: date, until: date) -> FollowUpSummary:
    """How well the loop was closed for the detractors of a period (UTC days ``since``..``until``, included).

    * ``detractors``: responses with a detractor answer (see the module docstring)
      given in the period, at the journey's touchpoints (``journey=None``: anywhere
      in the workspace). Counted from the answers, not the cases, so a sweep that
      fell behind shows as a lower share, not a smaller denominator.
    * ``followed_up``: of them, those whose case has a note or left "open".
    * ``share``: ``followed_up / detractors`` with its Wilson interval. ``min_n`` is
      1: this is a count of the team's own work, not a sample, so even a few
      detractors give a figure (its interval says how little it may mean).
    * ``closed`` and ``median_hours_to_close``: cases of those detractors closed now,
      and the median hours from opening to closing (``None`` when none is closed).

    Three queries whatever the period.
    """
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    answers = Answer.objects.for_workspace(workspace).filter(detractor_q(), created_at__gte=start, created_at__lt=end)
    if journey is not None:
        answers = answers.filter(response__invitation__touchpoint__stage__journey=journey)
    responses = answers.order_by().values("response_id").distinct()
    detractors = responses.count()
    cases = FollowUpCase.objects.for_workspace(workspace).filter(
        source=CaseSource.DETRACTOR, response_id__in=Subquery(responses)
    )
    followed_up = cases.filter(followed_up_at__isnull=False).count()
    durations = [
        (closed_at - opened_at).total_seconds() / 3600
        for opened_at, closed_at in cases.filter(status=CaseStatus.CLOSED).values_list("opened_at", "closed_at")
        if closed_at is not None
    ]
    return FollowUpSummary(
        detractors=detractors,
        followed_up=followed_up,
        share=metrics.share(min(followed_up, detractors), detractors, min_n=1),
        closed=len(durations),
        median_hours_to_close=round(statistics.median(durations), 2) if durations else None,
    )
