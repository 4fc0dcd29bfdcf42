"""The weekly digest email to managers (see the package)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from analytics.aggregation import ReportFilters
from analytics.alerts.common import (
    DIGEST_HOUR_UTC,
    DIGEST_NEW_FLAG_DAYS,
    DIGEST_ROLES,
    WINDOW_DAYS,
    flag_context,
    mail_errors,
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
from touchpoints.models import Journey, Membership, Workspace

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
        report = journey_report(
            workspace=workspace, journey=journey, filters=ReportFilters(since, until), with_drivers=False
        )
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
    """The Monday of the digest week ``now`` falls in; a digest week starts on Monday at :data:`DIGEST_HOUR_UTC`.

    So before 07:00 UTC on a Monday it is still last week's Monday: the hourly run
    sends the new week's digest from Monday 07:00 on, not at midnight.
    """
    day = (now.astimezone(UTC) - timedelta(hours=DIGEST_HOUR_UTC)).date()
    return day - timedelta(days=day.weekday())


def _digest_messages(digest: Digest, recipients: list[Any]) -> list[EmailMultiAlternatives]:
    """One message per recipient, in their language (rendered before anything is claimed or sent)."""
    messages = []
    for user in recipients:
        language = recipient_language(user, digest.workspace)
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
    return messages


def _send_each(messages: list[EmailMultiAlternatives]) -> tuple[int, list[str]]:
    """Send the messages one by one over one connection; the number sent and the errors (one per failure).

    One refused address does not stop the others. A connection that cannot be
    opened fails them all.
    """
    sent, errors = 0, []
    try:
        with get_connection() as connection:
            for message in messages:
                try:
                    if connection.send_messages([message]):
                        sent += 1
                    else:
                        errors.append("not sent")
                except mail_errors() as exc:
                    errors.append(type(exc).__name__)
    except mail_errors() as exc:  # opening or closing the connection
        errors.extend([type(exc).__name__] * (len(messages) - sent - len(errors)))
    return sent, errors


def digest_send(*, workspace: Workspace, now: datetime | None = None) -> int:
    """Send this week's digest of ``workspace`` unless sent already; returns the emails sent.

    The week is claimed with a :class:`DigestDelivery` row (unique per workspace and
    week) just before sending, so two runs never both send it. An empty digest
    claims the week with ``recipients = 0``: it is decided, nothing to send until
    next week. When no message at all could be sent (the mail server is down), the
    claim is released and the next run tries again; when some went out, the week
    stays delivered (``recipients`` is the number sent) and the failures are logged,
    so nobody gets the digest twice.
    """
    now = now or timezone.now()
    week_start = _week_start(now)
    recipients = members_to_email(workspace, DIGEST_ROLES)
    if not recipients or DigestDelivery.objects.filter(workspace=workspace, week_start=week_start).exists():
        return 0
    digest = digest_build(workspace=workspace, now=now)
    messages = [] if digest.is_empty else _digest_messages(digest, recipients)
    try:
        with transaction.atomic():
            delivery = DigestDelivery.objects.create(
                workspace=workspace, week_start=week_start, sent_at=now, recipients=len(messages)
            )
    except IntegrityError:  # another run claimed this week meanwhile
        return 0
    if not messages:
        logger.info("Weekly digest of workspace %s (week of %s): nothing to report", workspace.pk, week_start)
        return 0
    sent, errors = _send_each(messages)
    if not sent:
        DigestDelivery.objects.filter(pk=delivery.pk).delete()
        logger.error(
            "Weekly digest of workspace %s (week of %s) could not be sent (%s); the next run tries again",
            workspace.pk,
            week_start,
            ", ".join(sorted(set(errors))),
            extra={"workspace_id": workspace.pk},
        )
        return 0
    if errors:
        DigestDelivery.objects.filter(pk=delivery.pk).update(recipients=sent)
        logger.warning(
            "Weekly digest of workspace %s (week of %s): %s of %s messages failed (%s); not retried",
            workspace.pk,
            week_start,
            len(errors),
            len(messages),
            ", ".join(sorted(set(errors))),
            extra={"workspace_id": workspace.pk},
        )
    logger.info("Weekly digest of workspace %s (week of %s) sent to %s members", workspace.pk, week_start, sent)
    return sent


def digest_send_weekly(*, now: datetime | None = None) -> int:
    """Send this week's digest of every workspace that is still due one; returns the emails sent.

    Beat runs this every hour; a workspace is due until its week is claimed (see
    :func:`digest_send`), so a run lost to a stopped worker or a failed send is made
    up by the next one. Each workspace stands alone: an error in one is logged with
    its id and the others go on.
    """
    now = now or timezone.now()
    delivered = DigestDelivery.objects.filter(workspace=OuterRef("pk"), week_start=_week_start(now))
    members = Membership.objects.filter(workspace=OuterRef("pk"), role__in=DIGEST_ROLES, user__is_active=True).exclude(
        user__email=""
    )
    sent = 0
    for workspace in Workspace.objects.filter(Exists(members)).exclude(Exists(delivered)).order_by("pk"):
        try:
            sent += digest_send(workspace=workspace, now=now)
        except Exception:  # one workspace's failure must not cost the others their digest
            logger.exception("Weekly digest of workspace %s failed", workspace.pk, extra={"workspace_id": workspace.pk})
    return sent
