"""Customers: one profile per person, upserted by the company's own id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from touchpoints.models import Customer, Workspace
from touchpoints.services.common import model_clean

_PROFILE_FIELDS = ("email", "language", "timezone")


@transaction.atomic
def customer_upsert(
    *,
    workspace: Workspace,
    external_id: str,
    data: dict[str, Any] | None = None,
    seen_at: datetime | None = None,
) -> tuple[Customer, bool]:
    """Create or update the customer with ``external_id``; return it and whether it is new.

    ``data`` may hold ``email``, ``language``, ``timezone`` (replaced when given)
    and ``traits`` (merged key by key into the stored traits; a ``None`` value
    removes a key). ``seen_at`` is when the customer was last active (ingestion
    passes the event time); without it, an edit leaves ``last_seen_at`` alone and
    a new customer is first and last seen now. ``last_seen_at`` moves forward only.
    """
    external_id = external_id.strip()
    if not external_id:
        raise ApplicationError.for_field("external_id", _("This field may not be blank."))
    data = dict(data or {})
    traits = data.pop("traits", None)
    unknown = set(data) - set(_PROFILE_FIELDS)
    if unknown:
        raise ApplicationError.for_field(sorted(unknown)[0], _("Unknown field."))
    if traits is not None and not isinstance(traits, dict):
        raise ApplicationError.for_field("traits", _("Traits must be a JSON object."))

    customer = Customer.objects.for_workspace(workspace).select_for_update().filter(external_id=external_id).first()
    created = customer is None
    if customer is None:
        first_seen = seen_at or timezone.now()
        customer = Customer(
            workspace=workspace, external_id=external_id, first_seen_at=first_seen, last_seen_at=first_seen
        )
    for name, value in data.items():
        setattr(customer, name, value or "")
    if traits:
        merged = {**customer.traits, **traits}
        customer.traits = {key: value for key, value in merged.items() if value is not None}
    if seen_at is not None:
        customer.last_seen_at = max(customer.last_seen_at, seen_at)
    model_clean(customer)
    if not created:
        customer.save()
        return customer, False
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        # Another request created the same customer between our read and insert:
        # apply our changes to theirs, as if we had come second.
        return customer_upsert(
            workspace=workspace, external_id=external_id, data={**data, "traits": traits}, seen_at=seen_at
        )
    return customer, True


@transaction.atomic
def customer_delete(*, workspace: Workspace, external_id: str) -> None:
    """Erase a customer's profile (a data-subject deletion request)."""
    Customer.objects.for_workspace(workspace).get(external_id=external_id).delete()
