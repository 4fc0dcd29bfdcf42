"""Embedded surveys: what ``embed.js`` asks for on a company's own pages.

The page calls ``JourneyPulse.identify(userId, {userHash, ...traits})``; the
script posts that, with the workspace's write key, to ``/api/v1/embed/identify/``.
The customer's pending embedded invitation is revealed only when ``userHash`` is
the HMAC-SHA256 of the user id under the workspace's identity secret, which the
company computes on its server (as Intercom's identity verification does), so a
visitor cannot read somebody else's survey by guessing ids. Closing the slide-in
records the invitation as dismissed; it is not offered again.

Both calls come from other origins: only origins the workspace lists (its
``embed_origins``, the same list that may frame the form) are let in.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from surveys.models import Invitation
from touchpoints.models import Customer, Workspace
from touchpoints.services import customer_upsert

#: Invitations an embed may still show: not answered, expired, dismissed, suppressed or failed.
SHOWABLE_STATUSES = (Invitation.Status.SCHEDULED, Invitation.Status.SENT, Invitation.Status.OPENED)
#: Identify traits that are the customer's profile fields rather than free-form traits.
PROFILE_TRAITS = ("email", "language")


def user_hash(*, workspace: Workspace, user_id: str) -> str:
    """The ``userHash`` a company's server computes: hex HMAC-SHA256 of the user id."""
    return hmac.new(
        workspace.identity_secret.encode(), user_id.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()


def user_hash_valid(*, workspace: Workspace, user_id: str, given: str) -> bool:
    return hmac.compare_digest(user_hash(workspace=workspace, user_id=user_id), given.lower())


def origin_allowed(*, workspace: Workspace, origin: str | None, own_origin: str) -> bool:
    """Our own pages, the workspace's listed origins, and callers that send no Origin (servers)."""
    return origin is None or origin == own_origin or origin in workspace.embed_origins


@transaction.atomic
def embed_identify(*, workspace: Workspace, user_id: str, given_hash: str, traits: dict[str, Any]) -> Invitation | None:
    """Verify the user, record their traits, and return their oldest due embedded invitation.

    A ``scheduled`` invitation that is due becomes ``sent`` here: being offered
    on the page is its delivery. Traits update the customer only when there are
    some (a bare identify on every page view writes nothing); ``email`` and
    ``language`` go to the profile, the rest is merged into the traits.
    """
    if not user_hash_valid(workspace=workspace, user_id=user_id, given=given_hash):
        raise ApplicationError.for_field(
            "userHash",
            _("This is not the HMAC-SHA256 of the user id with the workspace's identity secret."),
            code="identity_not_verified",
        )
    customer: Customer | None = None
    if traits:
        profile = {name: traits[name] for name in PROFILE_TRAITS if isinstance(traits.get(name), str)}
        rest = {name: value for name, value in traits.items() if name not in profile}
        try:
            customer, _created = customer_upsert(
                workspace=workspace,
                external_id=user_id,
                data={**profile, "traits": rest},
                seen_at=timezone.now(),
            )
        except ApplicationError as error:
            fields = {
                f"traits.{name}" if name != "traits" else name: messages for name, messages in error.fields.items()
            }
            raise ApplicationError(error.message, code=error.code, fields=fields) from error
    if customer is None:
        customer = Customer.objects.for_workspace(workspace).filter(external_id=user_id).first()
    if customer is None or customer.unsubscribed_at is not None:  # unsubscribed: never shown a survey again
        return None
    now = timezone.now()
    invitation = (
        Invitation.objects.for_workspace(workspace)
        .select_for_update()
        .select_related("survey", "customer")
        .filter(
            customer=customer,
            channel=Invitation.Channel.EMBEDDED,
            status__in=SHOWABLE_STATUSES,
            send_at__lte=now,
            expires_at__gt=now,
        )
        .order_by("send_at", "pk")
        .first()
    )
    if invitation is not None and invitation.status == Invitation.Status.SCHEDULED:
        invitation.status, invitation.sent_at = Invitation.Status.SENT, now
        invitation.save(update_fields=["status", "sent_at", "updated_at"])
    return invitation


def invitation_for_dismissal(*, token: str) -> Invitation | None:
    """The embedded invitation behind a token, or ``None``."""
    return (
        Invitation.objects.select_related("workspace").filter(token=token, channel=Invitation.Channel.EMBEDDED).first()
    )


@transaction.atomic
def invitation_dismiss(*, invitation: Invitation) -> None:
    """The customer closed the slide-in: ``dismissed`` unless it was answered (or closed) meanwhile."""
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk, status__in=SHOWABLE_STATUSES).update(
        status=Invitation.Status.DISMISSED, dismissed_at=now, updated_at=now
    )
