"""The dispatcher: delivers invitations that are due, from the database, in batches.

Due invitations are found by a query, not by Celery ETAs (a countdown longer than
the broker's visibility timeout would be redelivered, and one lost with the
broker would be lost for good).

A batch is handled in two steps so no lock is held while a mail server or a
webhook answers:

1. **Claim**, in one short transaction: ``select_for_update(skip_locked=True)``
   the oldest due ``scheduled`` invitations, so any number of dispatchers never
   take the same one. Those needing no network are finished here: an unsubscribed
   customer or an archived survey → ``suppressed``; past expiry → ``expired``;
   link and embedded → ``sent`` (the customer or the company's own system picks
   them up). Email and webhook invitations get a lease instead: their ``send_at``
   moves :data:`CLAIM_LEASE` ahead, so nobody else takes them meanwhile, and a
   dispatcher that dies mid-send leaves them due again when the lease ends.
2. **Deliver** each leased invitation through :mod:`surveys.delivery`, then write
   the outcome: ``sent``; or, for a failure that may pass, still ``scheduled``
   with ``send_at`` moved by an exponential backoff; after the last try, or at
   once when retrying cannot help, ``failed`` with the error kept.

Delivery is at least once: a process killed between a mail server's "accepted"
and the write of ``sent`` sends that email again when the lease ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from surveys import delivery
from surveys.models import Invitation, Survey

logger = logging.getLogger(__name__)

#: Invitations claimed per transaction.
DISPATCH_BATCH = 100
#: How long a claimed email or webhook invitation is reserved for the dispatcher sending it.
CLAIM_LEASE = timedelta(minutes=10)
#: Fields a dispatch may change.
_FIELDS = [
    "status",
    "send_at",
    "sent_at",
    "expired_at",
    "suppressed_at",
    "failed_at",
    "delivery_attempts",
    "last_error",
    "updated_at",
]


@dataclass
class DispatchResult:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def invitations_dispatch(*, now: datetime | None = None, limit: int = 5000) -> DispatchResult:
    """Deliver up to ``limit`` due invitations, a batch at a time; returns what happened."""
    now = now or timezone.now()
    base_url = delivery.public_base_url()
    result = DispatchResult()
    while result.total < limit:
        leased = _claim(now, min(DISPATCH_BATCH, limit - result.total), result)
        if leased is None:
            break
        for invitation, due in leased:
            result.add(_deliver(invitation, due, base_url, now))
            invitation.updated_at = timezone.now()
        Invitation.objects.bulk_update([invitation for invitation, _due in leased], _FIELDS)
    return result


def _claim(now: datetime, size: int, result: DispatchResult) -> list[tuple[Invitation, datetime]] | None:
    """Lock a batch, finish what needs no network, lease the rest (with the time each was due).

    ``None`` when nothing is due.
    """
    with transaction.atomic():
        batch = list(
            Invitation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Invitation.Status.SCHEDULED, send_at__lte=now)
            .select_related("survey", "customer", "workspace", "touchpoint")
            .order_by("send_at", "pk")[:size]
        )
        if not batch:
            return None
        leased = []
        for invitation in batch:
            outcome = _settle(invitation, now)
            if outcome is None:
                leased.append((invitation, invitation.send_at))
                invitation.send_at = now + CLAIM_LEASE
            else:
                result.add(outcome)
            invitation.updated_at = now
        Invitation.objects.bulk_update(batch, _FIELDS)
    return leased


def _settle(invitation: Invitation, now: datetime) -> str | None:
    """The outcome of an invitation that needs no network, or ``None`` for email and webhook."""
    if invitation.customer.unsubscribed_at is not None or invitation.survey.status != Survey.Status.ACTIVE:
        invitation.status, invitation.suppressed_at = Invitation.Status.SUPPRESSED, now
        return invitation.status
    if invitation.expires_at <= now:
        invitation.status, invitation.expired_at = Invitation.Status.EXPIRED, now
        return invitation.status
    if invitation.channel in (Invitation.Channel.EMAIL, Invitation.Channel.WEBHOOK):
        return None
    invitation.status, invitation.sent_at = Invitation.Status.SENT, now
    return invitation.status


def _deliver(invitation: Invitation, due: datetime, base_url: str, started: datetime) -> str:
    """Send one leased invitation (no lock held); returns ``sent``, ``retry`` or ``failed``.

    Times are those of the sending (a batch takes a while), but never before the
    run's own ``now``, so a run given a time in the future (tests, catch-up) stays consistent.
    """
    invitation.delivery_attempts += 1
    try:
        if invitation.channel == Invitation.Channel.EMAIL:
            delivery.send_email(invitation, base_url=base_url)
        else:
            delivery.send_webhook(invitation, base_url=base_url)  # signed with the time of sending
    except delivery.DeliveryError as error:
        now = max(started, timezone.now())
        invitation.last_error = str(error)[:500]
        if error.retryable and invitation.delivery_attempts < delivery.WEBHOOK_MAX_ATTEMPTS:
            invitation.send_at = now + delivery.retry_delay(invitation.delivery_attempts)
            return "retry"
        logger.warning("Invitation %s failed after %s tries: %s", invitation.pk, invitation.delivery_attempts, error)
        invitation.status, invitation.failed_at, invitation.send_at = Invitation.Status.FAILED, now, due
        return invitation.status
    invitation.status, invitation.sent_at, invitation.last_error = (
        Invitation.Status.SENT,
        max(started, timezone.now()),
        "",
    )
    invitation.send_at = due  # when it was due, not the lease
    return invitation.status
