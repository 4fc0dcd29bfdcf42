"""The follow-up pages: ``/follow-up/`` (the list, filters, counts by status) and a case's page.

Every role reads; admins and designers change a case (status, assignee, due
date) and add notes, others get a 403 for those. Customer details (external id,
email), unmasked text answers and unmasked notes only for roles that may see PII,
as in the API; others read them with e-mail addresses and phone numbers masked.
Dates and times are shown and read in the workspace's time zone. A bad filter or
form comes back with its errors beside the fields and status 400; another
workspace's case is a 404. The list costs a fixed number of queries per page.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from analytics import cases
from analytics.alerts.common import flag_label, severity_label
from analytics.case_forms import ASSIGNEE_ME, ASSIGNEE_NONE, CaseFilterForm, CaseNoteForm, CaseUpdateForm
from analytics.models import CaseNote, CaseStatus, FollowUpCase
from analytics.reports import default_period
from surveys.models import QuestionType
from surveys.texts import text_for
from touchpoints.models import Journey, Role, Workspace
from touchpoints.permissions import workspace_member_required
from touchpoints.pii import mask_pii

PAGE_SIZE = 50


def _zone(workspace: Workspace) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(workspace.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _filtered(rows: QuerySet[FollowUpCase], data: dict[str, Any], user: Any) -> QuerySet[FollowUpCase]:
    for name in ("source", "owner_team"):
        if data.get(name):
            rows = rows.filter(**{name: data[name]})
    if data.get("journey"):
        rows = rows.filter(journey_id=int(data["journey"]))
    assignee = data.get("assignee")
    if assignee == ASSIGNEE_ME:
        rows = rows.filter(assignee=user)
    elif assignee == ASSIGNEE_NONE:
        rows = rows.filter(assignee__isnull=True)
    elif assignee:
        rows = rows.filter(assignee_id=int(assignee))
    if data.get("overdue"):
        rows = rows.exclude(status=CaseStatus.CLOSED).filter(due_at__lt=timezone.now())
    return rows


def _ordered(rows: QuerySet[FollowUpCase]) -> QuerySet[FollowUpCase]:
    """Work first, most urgent first: cases not closed by due date, then closed ones, newest closed first."""
    closed = Case(When(status=CaseStatus.CLOSED, then=Value(1)), default=Value(0), output_field=IntegerField())
    return rows.annotate(is_closed=closed).order_by("is_closed", "due_at", "-closed_at", "-pk")


def where_text(case: FollowUpCase) -> str:
    return " › ".join(part.name for part in (case.journey, case.stage, case.touchpoint) if part is not None) or _(
        "Not tied to a journey"
    )


def case_title(case: FollowUpCase) -> str:
    if case.flag_id is not None and case.flag is not None:
        return _("%(kind)s (%(severity)s)") % {
            "kind": flag_label(case.flag.kind),
            "severity": severity_label(case.flag.severity),
        }
    if case.question_type:
        label = QuestionType(case.question_type).label if case.question_type in QuestionType.values else ""
        return _("%(question)s: %(score)s") % {"question": label, "score": case.score}
    return str(case.get_source_display())


@workspace_member_required()
def case_list_page(request: HttpRequest) -> HttpResponse:
    """``/follow-up/``: cases with filters, counts by status and pages of 50."""
    workspace: Workspace = request.workspace  # type: ignore[attr-defined]
    with timezone.override(_zone(workspace)):
        form = CaseFilterForm(
            request.GET or None,
            teams=cases.case_owner_teams(workspace=workspace),
            journeys=list(Journey.objects.for_workspace(workspace).order_by("name", "pk")),
            assignees=list(cases.case_assignees(workspace=workspace)),
        )
        rows = cases.case_list(workspace=workspace)
        status, data = 200, {}
        if form.is_bound:
            if form.is_valid():
                data = form.cleaned_data
            else:
                status = 400
        rows = _filtered(rows, data, request.user)
        counts = cases.case_status_counts(rows)
        if data.get("status"):
            rows = rows.filter(status=data["status"])
        page = Paginator(_ordered(rows), PAGE_SIZE).get_page(request.GET.get("page"))
        now = timezone.now()
        rows_shown = [
            {"case": case, "title": case_title(case), "where": where_text(case), "overdue": cases.is_overdue(case, now)}
            for case in page.object_list
        ]
        query = {key: value for key, value in request.GET.items() if key not in ("page", "status") and value}
        context = {
            "form": form,
            "page": page,
            "rows": rows_shown,
            "counts": [
                (value, label, counts[value], urlencode({**query, "status": value}))
                for value, label in CaseStatus.choices
            ],
            "all_count": sum(counts.values()),
            "all_query": urlencode(query),
            "query": urlencode({**query, **({"status": data["status"]} if data.get("status") else {})}),
            "current_status": data.get("status", ""),
            "show_pii": Role.can_view_pii(request.membership.role),  # type: ignore[attr-defined]
            "zone": str(_zone(workspace)),
        }
        return render(request, "analytics/cases/list.html", context, status=status)


def _change_lines(note: CaseNote, zone: zoneinfo.ZoneInfo) -> list[str]:
    """A recorded change in words, in the active language: ``Status: Open → In progress``."""
    lines = []
    statuses = dict(CaseStatus.choices)
    for name, (old, new) in note.changes.items():
        if name == "status":
            lines.append(
                _("Status: %(old)s → %(new)s") % {"old": statuses.get(old, old), "new": statuses.get(new, new)}
            )
        elif name == "assignee":
            lines.append(_("Assignee: %(old)s → %(new)s") % {"old": old or _("nobody"), "new": new or _("nobody")})
        elif name == "due_at":
            old_text, new_text = (
                formats.date_format(datetime.fromisoformat(value).astimezone(zone), "SHORT_DATETIME_FORMAT")
                for value in (old, new)
            )
            lines.append(_("Due: %(old)s → %(new)s") % {"old": old_text, "new": new_text})
    return lines


def _answers(case: FollowUpCase, show_pii: bool) -> list[dict[str, Any]]:
    if case.response_id is None or case.response is None:
        return []
    language = case.response.language
    rows = []
    for answer in case.response.answers.all():
        question = answer.question
        text = answer.text if show_pii else mask_pii(answer.text)
        value = answer.number if answer.number is not None else ", ".join(map(str, answer.choices)) or text
        rows.append(
            {
                "question": text_for(question.texts, "text", language, question.survey.default_language)
                or question.get_type_display(),
                "type": question.get_type_display(),
                "value": value,
                "is_detractor": cases.is_detractor(question.type, answer.number),
            }
        )
    return rows


def _render_case(
    request: HttpRequest,
    case: FollowUpCase,
    *,
    update_form: CaseUpdateForm | None = None,
    note_form: CaseNoteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace: Workspace = request.workspace  # type: ignore[attr-defined]
    role = request.membership.role  # type: ignore[attr-defined]
    zone = _zone(workspace)
    with timezone.override(zone):
        can_edit = Role.can_write(role)
        assignees = list(cases.case_assignees(workspace=workspace)) if can_edit else []
        if can_edit and update_form is None:
            update_form = CaseUpdateForm(
                initial={
                    "status": case.status,
                    "assignee": str(case.assignee_id or ""),
                    "due_at": timezone.localtime(case.due_at),
                },
                assignees=assignees,
                zone=str(zone),
            )
        show_pii = Role.can_view_pii(role)
        history = [
            {
                "note": note,
                # Staff write notes, but a note may quote the customer's phone or e-mail.
                "text": note.text if show_pii else mask_pii(note.text),
                "changes": _change_lines(note, zone),
            }
            for note in case.notes.all()
        ]
        context = {
            "case": case,
            "title": case_title(case),
            "where": where_text(case),
            "overdue": cases.is_overdue(case),
            "show_pii": show_pii,
            "answers": _answers(case, show_pii),
            "history": history,
            "can_edit": can_edit,
            "update_form": update_form,
            "note_form": note_form or (CaseNoteForm() if can_edit else None),
            "zone": str(zone),
            "report_url": _report_url(case),
        }
        return render(request, "analytics/cases/detail.html", context, status=status)


def _report_url(case: FollowUpCase) -> str:
    """The case's stage in the dashboard, over the period that holds it. Empty without a stage.

    A friction flag: the flag's window. A detractor: 90 days around the answer
    (ending today at the latest), so an older answer is in the report it links to.
    """
    if case.journey_id is None or case.stage_id is None:
        return ""
    url = reverse("analytics:stage", args=[case.journey_id, case.stage_id])
    if case.flag is not None:
        since, until = case.flag.window_since, case.flag.window_until
    elif case.feedback_at is not None:
        until = min(case.feedback_at.astimezone(UTC).date() + timedelta(days=45), timezone.now().date())
        since = default_period(until)[0]
    else:
        return url
    return f"{url}?{urlencode({'since': since.isoformat(), 'until': until.isoformat()})}"


def _case(request: HttpRequest, case_id: int) -> FollowUpCase:
    return get_object_or_404(cases.case_detail(workspace=request.workspace), pk=case_id)  # type: ignore[attr-defined]


def _author(request: HttpRequest) -> tuple[Any, str]:
    return request.user, request.user.get_username()


@workspace_member_required()
def case_page(request: HttpRequest, case_id: int) -> HttpResponse:
    """A case: what happened, who owns it, its history; admins and designers change it here (POST)."""
    case = _case(request, case_id)
    if request.method != "POST":
        return _render_case(request, case)
    if not Role.can_write(request.membership.role):  # type: ignore[attr-defined]
        return render(request, "403.html", status=403)
    workspace: Workspace = request.workspace  # type: ignore[attr-defined]
    zone = _zone(workspace)
    with timezone.override(zone):
        form = CaseUpdateForm(request.POST, assignees=list(cases.case_assignees(workspace=workspace)), zone=str(zone))
        if form.is_valid():
            author, label = _author(request)
            saved = form.run_service(
                lambda: cases.case_update(
                    workspace=workspace,
                    case_id=case.pk,
                    data=form.service_data(current_due_at=case.due_at),
                    author=author,
                    author_label=label,
                )
            )
            if saved is not None:
                messages.success(request, _("Case saved."))
                return redirect(reverse("followup:case", args=[case.pk]))
    return _render_case(request, case, update_form=form, status=400)


@require_POST
@workspace_member_required(write=True)
def case_note_create(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case(request, case_id)
    form = CaseNoteForm(request.POST)
    if form.is_valid():
        author, label = _author(request)
        note = form.run_service(
            lambda: cases.case_note_add(
                workspace=request.workspace,  # type: ignore[attr-defined]
                case_id=case.pk,
                text=form.cleaned_data["text"],
                author=author,
                author_label=label,
            )
        )
        if note is not None:
            messages.success(request, _("Note added."))
            return redirect(reverse("followup:case", args=[case.pk]) + "#history")
    return _render_case(request, case, note_form=form, status=400)
