"""Invitations: creating them (a manual send to a list of customers) and reading them by token.

The token is 32 random bytes (256 bits), URL-safe. It is the whole secret of a
survey link and carries nothing about the workspace, survey or customer.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from surveys.models import Invitation, Survey
from touchpoints.models import Customer, Touchpoint, Workspace

#: Channels whose invitation is delivered the moment it exists (the customer or the
#: company's own system picks it up); email and webhook wait for the dispatcher.
IMMEDIATE_CHANNELS = (Invitation.Channel.LINK, Invitation.Channel.EMBEDDED)
#: Customers in one manual send.
MANUAL_SEND_MAX = 1000


def new_token() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def invitations_create(
    *,
    workspace: Workspace,
    survey_id: int,
    customer_external_ids: Sequence[str],
    channel: str,
    language: str = "",
    touchpoint_id: int | None = None,
    send_at: datetime | None = None,
) -> list[Invitation]:
    """Invite customers (by external id) to an active survey; one invitation each.

    Link and embedded invitations due now are ``sent`` at once; the others stay
    ``scheduled`` for the dispatcher. They expire ``survey.invitation_expiry_days``
    after ``send_at``.
    """
    survey = Survey.objects.for_workspace(workspace).filter(pk=survey_id).first()
    if survey is None:
        raise ApplicationError.for_field("survey", _("Unknown survey."))
    if survey.status != Survey.Status.ACTIVE:
        raise ApplicationError.for_field("survey", _("Publish the survey before inviting anyone."))
    if channel not in Invitation.Channel.values:
        raise ApplicationError.for_field("channel", _("Unknown channel."))
    if language and language not in survey.languages:
        raise ApplicationError.for_field("language", _("The survey is not written in this language."))
    external_ids = list(dict.fromkeys(customer_external_ids))
    if not external_ids or len(external_ids) > MANUAL_SEND_MAX:
        raise ApplicationError.for_field(
            "customers", _("Invite between 1 and %(max)d customers at a time.") % {"max": MANUAL_SEND_MAX}
        )
    customers = {
        c.external_id: c for c in Customer.objects.for_workspace(workspace).filter(external_id__in=external_ids)
    }
    unknown = [external_id for external_id in external_ids if external_id not in customers]
    if unknown:
        shown = ", ".join(unknown[:10])
        raise ApplicationError.for_field("customers", _("Unknown customers: %(ids)s.") % {"ids": shown})
    touchpoint = None
    if touchpoint_id is not None:
        touchpoint = Touchpoint.objects.for_workspace(workspace).filter(pk=touchpoint_id).first()
        if touchpoint is None:
            raise ApplicationError.for_field("touchpoint", _("Unknown touchpoint."))

    now = timezone.now()
    send_at = send_at or now
    is_immediate = channel in IMMEDIATE_CHANNELS and send_at <= now
    invitations = [
        Invitation(
            workspace=workspace,
            survey=survey,
            customer=customers[external_id],
            touchpoint=touchpoint,
            channel=channel,
            language=language,
            status=Invitation.Status.SENT if is_immediate else Invitation.Status.SCHEDULED,
            sent_at=now if is_immediate else None,
            token=new_token(),
            send_at=send_at,
            expires_at=send_at + timedelta(days=survey.invitation_expiry_days),
        )
        for external_id in external_ids
    ]
    return Invitation.objects.bulk_create(invitations)
