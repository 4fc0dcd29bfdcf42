"""Alerting new flags once: email to admins and designers, a signed ``friction.flag`` webhook (see the package)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from http.client import HTTPException, InvalidURL
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analytics.alerts.common import (
    ALERT_BATCH,
    ALERT_LEASE,
    ALERT_MAX_ATTEMPTS,
    ALERT_ROLES,
    ERROR_MAX_LENGTH,
    WEBHOOK_EVENT,
    case_url,
    flag_context,
    mail_errors,
    members_to_email,
    recipient_language,
)
from analytics.models import FollowUpCase, FrictionFlagRecord
from surveys.delivery import WEBHOOK_TIMEOUT_SECONDS, WEBHOOK_USER_AGENT, public_base_url, webhook_signature
from touchpoints.models import Workspace

logger = logging.getLogger(__name__)


class AlertDeliveryError(Exception):
    """An alert channel failed; the message (short, English, no remote body) is kept on the record."""


@transaction.atomic
def _claim_alerts(*, workspace: Workspace | None, now: datetime) -> list[FrictionFlagRecord]:
    """Claim a batch of due records for :data:`ALERT_LEASE` from now.

    The lease runs from the moment of the claim, not from the start of the run
    (``now``, which a long refresh may have left behind): the later of the two.
    """
    claimed_at = max(now, timezone.now())
    due = (
        FrictionFlagRecord.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(alerted_at__isnull=True, resolved_at__isnull=True, alert_attempts__lt=ALERT_MAX_ATTEMPTS)
        .filter(Q(alert_claimed_at__isnull=True) | Q(alert_claimed_at__lte=claimed_at - ALERT_LEASE))
        .select_related("workspace", "journey", "stage", "touchpoint")
        .order_by("pk")
    )
    if workspace is not None:
        due = due.filter(workspace=workspace)
    records = list(due[:ALERT_BATCH])
    FrictionFlagRecord.objects.filter(pk__in=[record.pk for record in records]).update(
        alert_claimed_at=claimed_at, alert_attempts=F("alert_attempts") + 1
    )
    for record in records:
        record.alert_claimed_at, record.alert_attempts = claimed_at, record.alert_attempts + 1
    return records


def flag_alerts_send(*, workspace: Workspace | None = None, now: datetime | None = None) -> int:
    """Alert every new flag not alerted yet (of one workspace, or all); returns the records fully alerted."""
    now = now or timezone.now()
    alerted = 0
    while records := _claim_alerts(workspace=workspace, now=now):
        by_workspace: dict[int, list[FrictionFlagRecord]] = defaultdict(list)
        for record in records:
            by_workspace[record.workspace_id].append(record)
        for workspace_id, items in by_workspace.items():
            try:
                alerted += _alert_workspace(items, now=now)
            except Exception:  # the other workspaces' alerts go out; these stay claimed until the lease ends
                logger.exception(
                    "Flag alerts of workspace %s failed", workspace_id, extra={"workspace_id": workspace_id}
                )
        if len(records) < ALERT_BATCH:
            break
    return alerted


def _alert_workspace(records: list[FrictionFlagRecord], *, now: datetime) -> int:
    """Email the workspace's new flags (one message per person) and POST each to its webhook; stamp what worked."""
    workspace = records[0].workspace
    cases: dict[int, FollowUpCase] = {}
    for case in FollowUpCase.objects.filter(flag__in=records):
        if case.flag_id is not None:
            cases[case.flag_id] = case
    recipients = members_to_email(workspace, ALERT_ROLES)
    errors: dict[int, list[str]] = {record.pk: [] for record in records}
    pending = [record for record in records if record.alert_emailed_at is None]
    if pending and recipients:
        try:
            _send_alert_emails(workspace, pending, cases, recipients)
        except mail_errors() as exc:
            for record in pending:
                errors[record.pk].append(f"Email failed: {type(exc).__name__}.")
        else:
            for record in pending:
                record.alert_emailed_at = now
    url = workspace.webhook_url.strip()
    for record in records:
        if url and record.alert_webhook_at is None:
            try:
                post_signed_json(
                    url,
                    secret=workspace.webhook_secret,
                    payload=flag_webhook_payload(record, cases.get(record.pk)),
                    delivery_id=f"flag-{record.pk}-{record.alert_attempts}",
                )
            except AlertDeliveryError as exc:
                errors[record.pk].append(str(exc))
            else:
                record.alert_webhook_at = now
    done = 0
    for record in records:
        email_done = record.alert_emailed_at is not None or not recipients
        webhook_done = record.alert_webhook_at is not None or not url
        if email_done and webhook_done:
            record.alerted_at, done = now, done + 1
        record.alert_error = " ".join(errors[record.pk])[:ERROR_MAX_LENGTH]
        record.updated_at = now
    FrictionFlagRecord.objects.bulk_update(
        records, ["alerted_at", "alert_emailed_at", "alert_webhook_at", "alert_error", "updated_at"]
    )
    failed = {pk: messages for pk, messages in errors.items() if messages}
    log = logger.warning if failed else logger.info
    log(
        "Flag alerts of workspace %s: %s of %s alerted; failures: %s",
        workspace.pk,
        done,
        len(records),
        failed or "none",
        extra={"workspace_id": workspace.pk, "flag_ids": [record.pk for record in records]},
    )
    return done


def _send_alert_emails(
    workspace: Workspace,
    records: list[FrictionFlagRecord],
    cases: dict[int, FollowUpCase],
    recipients: Iterable[Any],
) -> None:
    messages = []
    for user in recipients:
        language = recipient_language(user, workspace)
        with translation.override(language):
            flags = [flag_context(record, cases.get(record.pk)) for record in records]
            if len(flags) == 1:
                subject = _("New friction flag: %(kind)s at %(where)s") % {
                    "kind": flags[0]["kind_label"],
                    "where": flags[0]["where"],
                }
            else:
                subject = ngettext(
                    "%(count)d new friction flag in %(workspace)s",
                    "%(count)d new friction flags in %(workspace)s",
                    len(flags),
                ) % {"count": len(flags), "workspace": workspace.name}
            context: dict[str, Any] = {
                "subject": subject[:200],
                "workspace": workspace,
                "flags": flags,
                "language": language,
                "follow_up_url": public_base_url() + reverse("followup:list"),
            }
            message = EmailMultiAlternatives(
                subject=context["subject"],
                body=render_to_string("analytics/email/flag_alert.txt", context),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[user.email],
                headers={"Content-Language": language},
            )
            message.attach_alternative(render_to_string("analytics/email/flag_alert.html", context), "text/html")
        messages.append(message)
    get_connection().send_messages(messages)


def flag_webhook_payload(record: FrictionFlagRecord, case: FollowUpCase | None) -> dict[str, Any]:
    """The JSON body of the ``friction.flag`` webhook: the flag, where it is, and its case."""
    touchpoint = record.touchpoint
    return {
        "type": WEBHOOK_EVENT,
        "flag": {
            "id": record.pk,
            "kind": record.kind,
            "level": record.level,
            "severity": record.severity,
            "reason": record.reason,
            "evidence": record.evidence,
            "first_seen_at": record.first_seen_at.isoformat(),
            "window": {"since": record.window_since.isoformat(), "until": record.window_until.isoformat()},
            "journey": {"id": record.journey_id, "name": record.journey.name},
            "stage": {"id": record.stage_id, "name": record.stage.name},
            "touchpoint": {"id": touchpoint.pk, "name": touchpoint.name} if touchpoint else None,
        },
        "case": (
            {"id": case.pk, "url": case_url(case.pk), "owner_team": case.owner_team, "due_at": case.due_at.isoformat()}
            if case
            else None
        ),
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is an error to report (use the final URL), never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post_signed_json(
    url: str, *, secret: str, payload: dict[str, Any], delivery_id: str, now: datetime | None = None
) -> int:
    """POST ``payload`` signed as the invitation webhooks are; the 2xx status, or :class:`AlertDeliveryError`."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise AlertDeliveryError("The webhook URL is not valid.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertDeliveryError("The webhook URL must start with https:// or http://.")
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    timestamp = int((now or timezone.now()).timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": WEBHOOK_USER_AGENT,
        "X-JourneyPulse-Timestamp": str(timestamp),
        "X-JourneyPulse-Signature": webhook_signature(secret, timestamp, body),
        "X-JourneyPulse-Delivery": delivery_id,
    }
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.build_opener(_NoRedirect()).open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise AlertDeliveryError(f"The webhook answered {exc.code}.") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, str) else type(exc.reason).__name__
        raise AlertDeliveryError(f"Could not reach the webhook: {reason}.") from exc
    except (InvalidURL, ValueError) as exc:
        raise AlertDeliveryError("The webhook URL is not valid.") from exc
    except (TimeoutError, HTTPException, OSError) as exc:
        raise AlertDeliveryError(f"The webhook did not answer in time or hung up: {type(exc).__name__}.") from exc
