"""What the flag alerts and the digest share: limits, labels, recipients and their language."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.urls import reverse

from analytics.friction import KIND_LABELS, SEVERITY_LABELS
from analytics.models import FollowUpCase, FrictionFlagRecord
from surveys.delivery import public_base_url
from touchpoints.models import Membership, Role, Workspace

logger = logging.getLogger(__name__)

WINDOW_DAYS = 28
ALERT_MAX_ATTEMPTS = 5


ALERT_LEASE = timedelta(minutes=15)
#: Records claimed per alert transaction.
ALERT_BATCH = 200
ALERT_ROLES = (Role.ADMIN, Role.DESIGNER)
DIGEST_ROLES = (Role.ADMIN, Role.DESIGNER, Role.ANALYST)
DIGEST_NEW_FLAG_DAYS = 7
#: A digest week starts on Monday at this hour (UTC); the hourly run sends the week's digest from then on.
DIGEST_HOUR_UTC = 7
#: A flag back within this many days of being resolved reopens its record: no new alert, no new case.
FLAG_REOPEN_DAYS = 7
#: Who wrote the notes the alerts add to cases (a name, not translated).
NOTE_AUTHOR = "JourneyPulse"
WEBHOOK_EVENT = "friction.flag"
ERROR_MAX_LENGTH = 500


def flag_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def severity_label(severity: str) -> str:
    return str(SEVERITY_LABELS.get(severity, severity))


def recipient_language(user: Any, workspace: Workspace) -> str:
    """The language to write to ``user`` in: theirs when known, else the workspace's default.

    Users have no stored language yet (the switcher keeps it in a cookie), so this
    is the workspace's default today; a profile language plugs in here.
    """
    language = getattr(user, "language", "") or workspace.default_language
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def members_to_email(workspace: Workspace, roles: Sequence[str]) -> list[Any]:
    """Active members of ``workspace`` with one of ``roles`` and an email address, one query."""
    members = Membership.objects.filter(workspace=workspace, role__in=roles, user=OuterRef("pk"))
    return list(get_user_model().objects.filter(Exists(members), is_active=True).exclude(email="").order_by("pk"))


def case_url(case_id: int) -> str:
    return public_base_url() + reverse("followup:case", args=[case_id])


def monitoring_window(now: datetime, days: int = WINDOW_DAYS) -> tuple[date, date]:
    """The last ``days`` UTC days, today included."""
    until = now.astimezone(UTC).date()
    return until - timedelta(days=days - 1), until


def mail_errors() -> tuple[type[Exception], ...]:
    """What a mail backend raises for a failed send: SMTP and network errors, and django-anymail's when installed."""
    errors: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError, ValueError)
    try:
        from anymail.exceptions import AnymailError
    except ImportError:
        return errors
    return (AnymailError, *errors)


def flag_context(record: FrictionFlagRecord, case: FollowUpCase | None) -> dict[str, Any]:
    return {
        "record": record,
        "kind_label": flag_label(record.kind),
        "severity_label": severity_label(record.severity),
        "where": " › ".join(
            name for name in (record.journey.name, record.stage.name, getattr(record.touchpoint, "name", "")) if name
        ),
        "owner_team": case.owner_team if case else "",
        "case_url": case_url(case.pk) if case else "",
        "case": case,
    }
