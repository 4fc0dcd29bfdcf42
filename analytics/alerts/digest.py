"""The weekly digest email to managers (see the package)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from analytics.aggregation import ReportFilters
from analytics.alerts.common import (
    DIGEST_NEW_FLAG_DAYS,
    DIGEST_ROLES,
    WINDOW_DAYS,
    flag_context,
    members_to_email,
    monitoring_window,
    recipient_language,
)
from analytics.cases import followup_summary
from analytics.charts.cells import estimate_text
from analytics.metrics import Estimate
from analytics.models import CaseStatus, DigestDelivery, FollowUpCase, FrictionFlagRecord
from analytics.reports import journey_report
from surveys.delivery import public_base_url
from touchpoints.models import Journey, Workspace

logger = logging.getLogger(__name__)


@dataclass
class StageLine:
    order: int
    name: str
    nps: Estimate | None
    response_rate: Estimate | None
    open_flags: int


@dataclass
class JourneyDigest:
    journey_id: int
    name: str
    stages: list[StageLine]


@dataclass
class Digest:
    workspace: Workspace
    since: date
    until: date
    journeys: list[JourneyDigest]
    new_flags: list[FrictionFlagRecord]
    cases: dict[str, Any] = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return any(
            (line.nps is not None and line.nps.n) or (line.response_rate is not None and line.response_rate.n)
            for journey in self.journeys
            for line in journey.stages
        )

    @property
    def is_empty(self) -> bool:
        return not self.has_data and not self.new_flags


def digest_build(*, workspace: Workspace, now: datetime) -> Digest:
    """What the weekly digest says: the last 28 complete UTC days and the flags of the last 7."""
    until = monitoring_window(now, 1)[1] - timedelta(days=1)
    since = until - timedelta(days=WINDOW_DAYS - 1)
    open_flags = Counter(
        FrictionFlagRecord.objects.for_workspace(workspace)
        .filter(resolved_at__isnull=True)
        .values_list("stage_id", flat=True)
    )
    journeys = []
    for journey in Journey.objects.for_workspace(workspace).filter(is_active=True).order_by("name", "pk"):
        report = journey_report(workspace=workspace, journey=journey, filters=ReportFilters(since, until))
        lines = [
            StageLine(
                unit.order, unit.name, unit.figures["nps"], unit.figures["response_rate"], open_flags.get(unit.id, 0)
            )
            for unit in report.stages
        ]
        journeys.append(JourneyDigest(journey.pk, journey.name, lines))
    new_flags = list(
        FrictionFlagRecord.objects.for_workspace(workspace)
        .filter(first_seen_at__gte=now - timedelta(days=DIGEST_NEW_FLAG_DAYS))
        .select_related("journey", "stage", "touchpoint")
        .prefetch_related("cases")
        .order_by("journey__name", "stage__order", "-first_seen_at")
    )
    cases: dict[str, Any] = (
        FollowUpCase.objects.for_workspace(workspace)
        .exclude(status=CaseStatus.CLOSED)
        .aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=now)))
    )
    cases["summary"] = followup_summary(workspace=workspace, journey=None, since=since, until=until)
    return Digest(workspace, since, until, journeys, new_flags, cases)


def _number(value: float, decimals: int = 0) -> str:
    return str(formats.number_format(round(value, decimals) + 0.0, decimals, force_grouping=True))


def _digest_context(digest: Digest, language: str) -> dict[str, Any]:
    """The template context, worded in the active language."""
    summary = digest.cases["summary"]
    journeys = [
        {
            "name": journey.name,
            "stages": [
                {
                    "order": line.order,
                    "name": line.name,
                    "nps": estimate_text(line.nps),
                    "answers": _number(line.nps.n if line.nps else 0),
                    "response_rate": estimate_text(line.response_rate, "share"),
                    "open_flags": line.open_flags,
                }
                for line in journey.stages
            ],
        }
        for journey in digest.journeys
    ]
    flags = [flag_context(record, next(iter(record.cases.all()), None)) for record in digest.new_flags]
    return {
        "subject": _("Weekly journey digest: %(workspace)s") % {"workspace": digest.workspace.name},
        "workspace": digest.workspace,
        "language": language,
        "since": digest.since,
        "until": digest.until,
        "journeys": journeys,
        "flags": flags,
        "open_cases": digest.cases["open"],
        "overdue_cases": digest.cases["overdue"],
        "detractors": summary["detractors"],
        "followed_up": summary["followed_up"],
        "followed_up_share": estimate_text(summary["share"], "share") if summary["detractors"] else "",
        "median_hours_to_close": _number(summary["median_hours_to_close"], 1)
        if summary["median_hours_to_close"] is not None
        else "",
        "follow_up_url": public_base_url() + reverse("followup:list"),
        "new_flag_days": DIGEST_NEW_FLAG_DAYS,
    }


def _week_start(now: datetime) -> date:
    today = monitoring_window(now, 1)[1]
    return today - timedelta(days=today.weekday())


def digest_send(*, workspace: Workspace, now: datetime | None = None) -> int:
    """Send this week's digest of ``workspace`` unless sent already or empty; returns the emails sent."""
    now = now or timezone.now()
    week_start = _week_start(now)
    recipients = members_to_email(workspace, DIGEST_ROLES)
    if not recipients or DigestDelivery.objects.filter(workspace=workspace, week_start=week_start).exists():
        return 0
    digest = digest_build(workspace=workspace, now=now)
    if digest.is_empty:
        return 0
    try:
        with transaction.atomic():
            DigestDelivery.objects.create(
                workspace=workspace, week_start=week_start, sent_at=now, recipients=len(recipients)
            )
    except IntegrityError:  # another run claimed this week meanwhile
        return 0
    messages = []
    for user in recipients:
        language = recipient_language(user, workspace)
        with translation.override(language):
            context = _digest_context(digest, language)
            message = EmailMultiAlternatives(
                subject=context["subject"][:200],
                body=render_to_string("analytics/email/weekly_digest.txt", context),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[user.email],
                headers={"Content-Language": language},
            )
            message.attach_alternative(render_to_string("analytics/email/weekly_digest.html", context), "text/html")
        messages.append(message)
    get_connection().send_messages(messages)
    logger.info(
        "Weekly digest of workspace %s (week of %s) sent to %s members", workspace.pk, week_start, len(messages)
    )
    return len(messages)


def digest_send_weekly(*, now: datetime | None = None) -> int:
    """Send this week's digest of every workspace (see :func:`digest_send`); returns the emails sent."""
    now = now or timezone.now()
    return sum(digest_send(workspace=workspace, now=now) for workspace in Workspace.objects.order_by("pk"))
