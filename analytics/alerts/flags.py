"""Flag records: the hourly refresh that keeps each friction flag once, and opens its case (see the package)."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from analytics.aggregation import ReportFilters
from analytics.alerts.common import FLAG_REOPEN_DAYS, NOTE_AUTHOR, WINDOW_DAYS, monitoring_window
from analytics.alerts.notify import flag_alerts_send
from analytics.cases import FLAG_DUE_BUSINESS_DAYS, add_business_days
from analytics.models import CaseNote, CaseSource, CaseStatus, FollowUpCase, FrictionFlagRecord
from analytics.reports import JourneyReport, journey_report
from touchpoints.models import Journey, Touchpoint, Workspace

logger = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """Evidence as plain JSON (numpy numbers become floats and ints)."""
    return json.loads(json.dumps(value, default=lambda item: item.item() if hasattr(item, "item") else str(item)))


@dataclass
class RefreshResult:
    journeys: int = 0
    opened: int = 0
    seen: int = 0
    #: Resolved records taken up again (the flag came back within :data:`FLAG_REOPEN_DAYS`).
    reopened: int = 0
    resolved: int = 0
    alerted: int = 0
    #: Workspaces whose refresh failed (logged; the others went on).
    failed: int = 0

    def add(self, other: RefreshResult) -> None:
        for name in ("journeys", "opened", "seen", "reopened", "resolved", "alerted", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _owner_teams(journey: Journey) -> tuple[dict[int, str], dict[int, str]]:
    """Owner team per touchpoint, and per stage the most common one of its touchpoints (ties: alphabetical)."""
    rows = Touchpoint.objects.filter(stage__journey=journey).values_list("pk", "stage_id", "owner_team")
    by_touchpoint: dict[int, str] = {}
    per_stage: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for touchpoint_id, stage_id, team in rows:
        by_touchpoint[touchpoint_id] = team
        if team:
            per_stage[stage_id][team] += 1
    by_stage = {stage_id: min(counts, key=lambda team: (-counts[team], team)) for stage_id, counts in per_stage.items()}
    return by_touchpoint, by_stage


@transaction.atomic
def _journey_flags_record(
    *, workspace: Workspace, journey: Journey, report: JourneyReport, now: datetime
) -> RefreshResult:
    list(Journey.objects.select_for_update().filter(pk=journey.pk).values_list("pk"))  # one refresh per journey
    current = {
        (flag.level, int(flag.unit_id), flag.kind): (unit.stage_id, flag)
        for unit in report.units()
        for flag in unit.flags
    }
    open_records = {
        (record.level, record.unit_id, record.kind): record
        for record in FrictionFlagRecord.objects.filter(journey=journey, resolved_at__isnull=True)
    }
    since, until = report.filters.since, report.filters.until
    seen = []
    for key, record in open_records.items():
        if key in current:
            flag = current[key][1]
            record.severity, record.reason, record.evidence = flag.severity, flag.reason, _plain(flag.evidence)
            record.last_seen_at, record.window_since, record.window_until, record.updated_at = now, since, until, now
            seen.append(record)
    FrictionFlagRecord.objects.bulk_update(
        seen, ["severity", "reason", "evidence", "last_seen_at", "window_since", "window_until", "updated_at"]
    )
    gone = [record.pk for key, record in open_records.items() if key not in current]
    FrictionFlagRecord.objects.filter(pk__in=gone).update(resolved_at=now, updated_at=now)
    back = {key: value for key, value in current.items() if key not in open_records}
    reopened = _reopen_recent(workspace=workspace, journey=journey, back=back, now=now, since=since, until=until)
    new = [
        FrictionFlagRecord(
            workspace=workspace,
            journey=journey,
            stage_id=stage_id,
            touchpoint_id=unit_id if level == FrictionFlagRecord.Level.TOUCHPOINT else None,
            level=level,
            unit_id=unit_id,
            kind=kind,
            severity=flag.severity,
            reason=flag.reason,
            evidence=_plain(flag.evidence),
            window_since=since,
            window_until=until,
            first_seen_at=now,
            last_seen_at=now,
        )
        for (level, unit_id, kind), (stage_id, flag) in back.items()
        if (level, unit_id, kind) not in reopened
    ]
    if new:
        FrictionFlagRecord.objects.bulk_create(new)
        by_touchpoint, by_stage = _owner_teams(journey)
        due_at = add_business_days(now, FLAG_DUE_BUSINESS_DAYS, workspace.timezone)
        FollowUpCase.objects.bulk_create(
            FollowUpCase(
                workspace=workspace,
                source=CaseSource.FLAG,
                flag=record,
                journey=journey,
                stage_id=record.stage_id,
                touchpoint_id=record.touchpoint_id,
                owner_team=(
                    by_touchpoint.get(record.touchpoint_id, "")
                    if record.touchpoint_id
                    else by_stage.get(record.stage_id, "")
                ),
                opened_at=now,
                due_at=due_at,
            )
            for record in new
        )
    return RefreshResult(journeys=1, opened=len(new), seen=len(seen), reopened=len(reopened), resolved=len(gone))


def _reopen_recent(
    *,
    workspace: Workspace,
    journey: Journey,
    back: dict[tuple[str, int, str], tuple[int, Any]],
    now: datetime,
    since: date,
    until: date,
) -> set[tuple[str, int, str]]:
    """Reopen the latest record of each flag in ``back`` resolved less than :data:`FLAG_REOPEN_DAYS` ago.

    The record takes the current severity, reason, evidence and window; its case is
    left as it is, and a closed one gets a note that the flag is back. Returns the
    keys reopened (they are not new).
    """
    if not back:
        return set()
    latest: dict[tuple[str, int, str], FrictionFlagRecord] = {}
    recent = FrictionFlagRecord.objects.filter(
        journey=journey, resolved_at__gte=now - timedelta(days=FLAG_REOPEN_DAYS), resolved_at__lte=now
    ).order_by("resolved_at", "pk")
    for record in recent:
        key = (record.level, record.unit_id, record.kind)
        if key in back:
            latest[key] = record  # the last one resolved wins
    for key, record in latest.items():
        flag = back[key][1]
        record.severity, record.reason, record.evidence = flag.severity, flag.reason, _plain(flag.evidence)
        record.resolved_at, record.last_seen_at, record.updated_at = None, now, now
        record.window_since, record.window_until = since, until
    FrictionFlagRecord.objects.bulk_update(
        latest.values(),
        ["severity", "reason", "evidence", "resolved_at", "last_seen_at", "window_since", "window_until", "updated_at"],
    )
    # One note per closing: a flag that keeps coming back does not fill the case with notes.
    noted_since_closing = CaseNote.objects.filter(
        case=OuterRef("pk"), author_label=NOTE_AUTHOR, kind=CaseNote.Kind.NOTE, created_at__gte=OuterRef("closed_at")
    )
    closed = list(
        FollowUpCase.objects.filter(flag__in=latest.values(), status=CaseStatus.CLOSED)
        .exclude(Exists(noted_since_closing))
        .select_related("flag")
    )
    if closed:
        with translation.override(workspace.default_language):
            text = _("The friction flag is back. This case stays closed: reopen it if the problem needs more work.")
        CaseNote.objects.bulk_create(
            CaseNote(
                workspace=workspace,
                case=case,
                kind=CaseNote.Kind.NOTE,
                author_label=NOTE_AUTHOR,
                text=f"{text}\n\n{case.flag.reason}" if case.flag else text,
            )
            for case in closed
        )
    return set(latest)


def flags_refresh(
    *, workspace: Workspace, now: datetime | None = None, window_days: int = WINDOW_DAYS
) -> RefreshResult:
    """Record the flags of every active journey of ``workspace`` over the rolling window (see the module docstring)."""
    now = now or timezone.now()
    since, until = monitoring_window(now, window_days)
    result = RefreshResult()
    journeys = list(Journey.objects.for_workspace(workspace).filter(is_active=True).order_by("pk"))
    for journey in journeys:
        with translation.override(workspace.default_language):
            report = journey_report(
                workspace=workspace, journey=journey, filters=ReportFilters(since, until), with_drivers=False
            )
        result.add(_journey_flags_record(workspace=workspace, journey=journey, report=report, now=now))
    result.resolved += (
        FrictionFlagRecord.objects.for_workspace(workspace)
        .filter(resolved_at__isnull=True)
        .exclude(journey__in=[journey.pk for journey in journeys])
        .update(resolved_at=now, updated_at=now)
    )
    return result


def flag_monitoring_run(*, workspace: Workspace | None = None, now: datetime | None = None) -> RefreshResult:
    """Refresh the flags of one workspace (or of every workspace with an active journey), then send due alerts.

    Over every workspace each one stands alone: an error in one is logged with its
    id and counted in ``failed``, the others are refreshed, and the alerts go out.
    Asked for one workspace, its error is raised (after nothing was alerted: the
    next run sends what is due).
    """
    now = now or timezone.now()
    if workspace is not None:
        result = flags_refresh(workspace=workspace, now=now)
    else:  # those with a journey to watch, or open flags to resolve
        active = Journey.objects.filter(workspace=OuterRef("pk"), is_active=True)
        flagged = FrictionFlagRecord.objects.filter(workspace=OuterRef("pk"), resolved_at__isnull=True)
        result = RefreshResult()
        for item in Workspace.objects.filter(Exists(active) | Exists(flagged)).order_by("pk"):
            try:
                result.add(flags_refresh(workspace=item, now=now))
            except Exception:  # one workspace's failure must not hold back the others' flags and alerts
                logger.exception("Flag refresh of workspace %s failed", item.pk, extra={"workspace_id": item.pk})
                result.failed += 1
    result.alerted = flag_alerts_send(workspace=workspace, now=now)
    return result
