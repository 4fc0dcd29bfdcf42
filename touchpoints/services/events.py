"""Event ingestion: one service for the native API and the Segment-compatible one.

:func:`events_ingest` takes a batch of plain dicts in the native shape (the
Segment endpoints translate theirs), validates each item on its own, and stores
the valid ones in a fixed number of queries whatever the batch size:

1. customers are upserted set-based (missing ones inserted, then every customer
   involved locked in primary-key order, so concurrent batches cannot deadlock
   or lose a trait, and updated in one bulk UPDATE);
2. event names are resolved to touchpoints in one query;
3. events are inserted under the unique ``(workspace, message_id)``, so a retried
   event is stored once; one already stored counts as a duplicate.

After the transaction commits, :data:`touchpoints.signals.events_ingested`
announces the new events that need a decision (mapped to a touchpoint, of an
identified customer); the surveys app evaluates its trigger rules for them.
The others are stored already evaluated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from config.limits import EVENT_FUTURE_TOLERANCE_HOURS, EVENT_MAX_BYTES, TRAITS_MAX_BYTES
from touchpoints.models import (
    Customer,
    EventKind,
    TouchpointEvent,
    TouchpointEventName,
    Workspace,
    validate_json_object,
    validate_language_tag,
    validate_timezone,
)
from touchpoints.signals import events_ingested

NAME_MAX = 200
ID_MAX_LENGTH = 200
#: The kinds an item may have: events, and ``identify`` (a customer's traits, no event).
IDENTIFY = "identify"
KINDS = (*EventKind.values, IDENTIFY)


@dataclass
class ItemError:
    index: int
    field: str
    message: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[ItemError] = field(default_factory=list)
    #: Ids of the events this call stored (not the duplicates).
    event_ids: list[int] = field(default_factory=list)


@dataclass
class _Item:
    """One valid item, normalised."""

    index: int
    kind: str
    name: str
    user_id: str
    anonymous_id: str
    message_id: str
    occurred_at: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    profile: dict[str, str]


class _Invalid(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field_name, message


def _text(item: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise _Invalid(name, _("This field is required."))
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Invalid(name, _("Must be a string."))
    text = str(value).strip()
    if len(text) > NAME_MAX:
        raise _Invalid(name, _("At most %(max)d characters.") % {"max": NAME_MAX})
    if "\x00" in text:
        raise _Invalid(name, _("Contains an invalid character."))
    return text


def _object(item: dict[str, Any], name: str) -> dict[str, Any]:
    value = item.get(name)
    if value is None:
        return {}
    try:
        validate_json_object(value, max_bytes=EVENT_MAX_BYTES)
    except ValidationError as error:
        raise _Invalid(name, error.messages[0]) from error
    return value


def _timestamp(item: dict[str, Any], now: datetime) -> datetime:
    value = item.get("timestamp")
    if value in (None, ""):
        return now
    parsed = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise _Invalid("timestamp", _("Use an ISO 8601 date and time, e.g. 2026-11-23T14:05:00Z."))
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > now + timedelta(hours=EVENT_FUTURE_TOLERANCE_HOURS):
        raise _Invalid("timestamp", _("The timestamp is more than a day in the future."))
    return parsed


def _profile(traits: dict[str, Any], context: dict[str, Any]) -> dict[str, str]:
    """Email, language and time zone from the traits (or Segment's ``context``)."""
    profile: dict[str, str] = {}
    email = traits.get("email")
    if isinstance(email, str) and email.strip():
        try:
            validate_email(email.strip())
        except ValidationError as error:
            raise _Invalid("traits.email", _("Enter a valid email address.")) from error
        profile["email"] = email.strip()
    language = traits.get("language") or context.get("locale")
    if isinstance(language, str) and language.strip():
        try:
            validate_language_tag(language.strip())
        except ValidationError as error:
            raise _Invalid("context.locale", error.messages[0]) from error
        profile["language"] = language.strip()
    zone = traits.get("timezone") or context.get("timezone")
    if isinstance(zone, str) and zone.strip():
        try:
            validate_timezone(zone.strip())
        except ValidationError as error:
            raise _Invalid("traits.timezone", error.messages[0]) from error
        profile["timezone"] = zone.strip()
    return profile


def _derived_message_id(item: dict[str, Any]) -> str:
    """The same content gets the same id, so a client's blind retry still deduplicates."""
    canonical = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    return "derived-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _parse(index: int, item: Any, now: datetime) -> _Item:
    if not isinstance(item, dict):
        raise _Invalid("", _("Each event must be a JSON object."))
    if len(json.dumps(item, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")) > EVENT_MAX_BYTES:
        raise _Invalid("", _("An event may be at most %(size)d bytes.") % {"size": EVENT_MAX_BYTES})
    kind = item.get("type") or EventKind.TRACK
    if kind not in KINDS:
        raise _Invalid("type", _("Use one of: %(kinds)s.") % {"kinds": ", ".join(KINDS)})
    name = _text(item, "event", required=kind == EventKind.TRACK) or ("" if kind == IDENTIFY else kind)
    user_id = _text(item, "user_id")
    anonymous_id = _text(item, "anonymous_id")
    if not user_id and (kind == IDENTIFY or not anonymous_id):
        raise _Invalid("user_id", _("Send a user_id (or an anonymous_id for events of visitors not identified yet)."))
    message_id = _text(item, "message_id") or _derived_message_id(item)
    context: dict[str, Any] = item["context"] if isinstance(item.get("context"), dict) else {}
    traits = _object(item, "traits")
    return _Item(
        index=index,
        kind=kind,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        message_id=message_id,
        occurred_at=_timestamp(item, now),
        properties=_object(item, "properties"),
        traits={key: value for key, value in traits.items() if key not in ("email", "language", "timezone")},
        profile=_profile(traits, context),
    )


@transaction.atomic
def events_ingest(*, workspace: Workspace, items: list[Any]) -> IngestResult:
    """Validate and store a batch of events and identifies; see the module docstring.

    Each item is a dict with ``type`` (``track`` by default, ``page``, ``screen`` or
    ``identify``), ``event``, ``user_id`` or ``anonymous_id``, ``message_id``,
    ``timestamp`` (ISO 8601), ``properties``, ``traits`` and ``context.locale``.
    Invalid items are reported by index and skipped; the others are kept.
    """
    now = timezone.now()
    result = IngestResult()
    valid: list[_Item] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        try:
            item = _parse(index, raw, now)
        except _Invalid as invalid:
            result.errors.append(ItemError(index, invalid.field, invalid.message))
            continue
        if item.message_id in seen:
            result.duplicates += 1
            continue
        seen.add(item.message_id)
        valid.append(item)
    if not valid:
        return result

    customers = _customers_upsert(workspace, [item for item in valid if item.user_id], now, result.errors)
    events = [item for item in valid if item.kind != IDENTIFY]
    identifies = len(valid) - len(events)
    stored = set(
        TouchpointEvent.objects.for_workspace(workspace)
        .filter(message_id__in=[item.message_id for item in events])
        .values_list("message_id", flat=True)
    )
    fresh = [item for item in events if item.message_id not in stored]
    touchpoints = dict(
        TouchpointEventName.objects.for_workspace(workspace)
        .filter(name__in={item.name for item in fresh})
        .values_list("name", "touchpoint_id")
    )
    TouchpointEvent.objects.bulk_create(
        [
            TouchpointEvent(
                workspace=workspace,
                customer=customers.get(item.user_id),
                anonymous_id=item.anonymous_id if not item.user_id else "",
                touchpoint_id=touchpoints.get(item.name),
                kind=item.kind,
                name=item.name,
                message_id=item.message_id,
                properties=item.properties,
                occurred_at=item.occurred_at,
                received_at=now,
                # Nothing to decide for an unmapped name or an anonymous visitor: evaluated on arrival,
                # so mapping the name later never fires surveys for old events.
                evaluated_at=None if touchpoints.get(item.name) and item.user_id else now,
            )
            for item in fresh
        ],
        ignore_conflicts=True,  # a concurrent request stored the same message id first: still once
    )
    rows = (
        TouchpointEvent.objects.for_workspace(workspace)
        .filter(message_id__in=[item.message_id for item in fresh], received_at=now)
        .values_list("pk", "evaluated_at")
        if fresh
        else []
    )
    result.event_ids = [pk for pk, _evaluated in rows]
    pending = [pk for pk, evaluated in rows if evaluated is None]
    result.duplicates += len(events) - len(result.event_ids)
    result.accepted = len(result.event_ids) + identifies
    if pending:
        event_ids, workspace_id = pending, workspace.pk
        transaction.on_commit(
            lambda: events_ingested.send_robust(sender=TouchpointEvent, workspace_id=workspace_id, event_ids=event_ids)
        )
    return result


def _customers_upsert(
    workspace: Workspace, items: list[_Item], now: datetime, errors: list[ItemError]
) -> dict[str, Customer]:
    """Insert missing customers, then lock every one involved (primary-key order) and apply the batch.

    Traits that would grow a customer's traits past ``TRAITS_MAX_BYTES`` are not
    merged (the item's event is still stored) and reported as an item error.
    """
    if not items:
        return {}
    external_ids = sorted({item.user_id for item in items})
    first_seen: dict[str, datetime] = {}
    for item in items:
        first_seen[item.user_id] = min(first_seen.get(item.user_id, item.occurred_at), item.occurred_at)
    Customer.objects.bulk_create(
        [
            Customer(
                workspace=workspace,
                external_id=external_id,
                first_seen_at=first_seen[external_id],
                last_seen_at=first_seen[external_id],
            )
            for external_id in external_ids
        ],
        ignore_conflicts=True,
    )
    customers = {
        customer.external_id: customer
        for customer in Customer.objects.for_workspace(workspace)
        .filter(external_id__in=external_ids)
        .select_for_update()
        .order_by("pk")
    }
    changed: dict[str, Customer] = {}
    for item in items:  # in batch order: a later identify wins
        customer = customers[item.user_id]
        before = (customer.email, customer.language, customer.timezone, customer.traits, customer.last_seen_at)
        for name, value in item.profile.items():
            setattr(customer, name, value)
        if item.traits:
            merged = {**customer.traits, **item.traits}
            merged = {key: value for key, value in merged.items() if value is not None}
            if len(json.dumps(merged, ensure_ascii=False).encode()) <= TRAITS_MAX_BYTES:
                customer.traits = merged
            else:
                message = _("The customer's traits would pass %(size)d bytes; remove some by sending them as null.")
                errors.append(ItemError(item.index, "traits", message % {"size": TRAITS_MAX_BYTES}))
        customer.last_seen_at = max(customer.last_seen_at, item.occurred_at)
        if before != (customer.email, customer.language, customer.timezone, customer.traits, customer.last_seen_at):
            changed[customer.external_id] = customer
    if changed:
        for customer in changed.values():
            customer.updated_at = now  # bulk_update skips auto_now
        Customer.objects.bulk_update(
            list(changed.values()), ["email", "language", "timezone", "traits", "last_seen_at", "updated_at"]
        )
    return customers
