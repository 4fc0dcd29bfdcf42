"""Event ingestion: one service for the native API and the Segment-compatible one.

:func:`events_ingest` takes a batch of plain dicts in the native shape (the
Segment endpoints translate theirs), validates each item on its own, and stores
the valid ones in a fixed number of queries whatever the batch size:

1. customers: the batch's customers already stored are read and locked, ordered
   by external id, so concurrent batches cannot deadlock or lose a trait; the
   items are applied to them in Python, in batch order (profile fields replaced,
   traits merged key by key with the size cap checked per item, ``last_seen_at``
   moved forward); then one ``INSERT … ON CONFLICT DO UPDATE`` writes the new
   customers and the changed ones and returns their ids;
2. event names are resolved to touchpoints in one query;
3. events are inserted by one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` under
   the unique ``(workspace, message_id)``, so a retried event is stored once and
   one already stored counts as a duplicate without another query.

Why raw SQL: with the ORM (``bulk_create``, ``select_for_update``, ``bulk_update``)
most of a 1,000-item batch went into preparing a dozen parameters per row and a
``CASE`` per column. Here a batch travels as one JSON document (PostgreSQL's
``json_to_recordset``, SQLite's ``json_each``): one parameter whatever the batch
size, so SQLite's parameter limit never splits a batch and the query count stays
flat. Only PostgreSQL and SQLite are supported; SQLite older than 3.35 has no
``RETURNING`` and gets one more ``SELECT`` per statement.

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
from django.db import NotSupportedError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from config.limits import EVENT_FUTURE_TOLERANCE_HOURS, EVENT_MAX_BYTES, TRAITS_MAX_BYTES, TRAITS_MAX_DEPTH
from touchpoints.models import (
    EventKind,
    TouchpointEvent,
    TouchpointEventName,
    Workspace,
    _json_depth,
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
#: Profile fields an item may set (from its traits or Segment's ``context``).
PROFILE_FIELDS = ("email", "language", "timezone")
#: A profile key for ``context.locale``: the customer's language only while they have none.
LOCALE_HINT = "locale"


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
    #: Ids of the events this call stored (not the duplicates), ascending.
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


def _object(item: dict[str, Any], name: str, *, is_clean: bool) -> dict[str, Any]:
    """``item[name]`` as a JSON object (``{}`` when absent), or :class:`_Invalid`.

    ``is_clean`` says the whole item, serialised once by :func:`_parse`, holds no
    NUL and no lone surrogate; it is at most ``EVENT_MAX_BYTES`` already. Then a
    part of it is too, and only its shape and depth are left to check: no second
    ``json.dumps``. Anything else goes through :func:`validate_json_object`, so
    the messages stay the same.
    """
    value = item.get(name)
    if value is None:
        return {}
    if is_clean and isinstance(value, dict) and _json_depth(value) <= TRAITS_MAX_DEPTH:
        return value
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
    # ``traits.language`` is a choice the customer made; ``context.locale`` only what their device
    # says, so it fills an empty language but never replaces one (see ``LOCALE_HINT``).
    for language, where, key in (
        (traits.get("language"), "traits.language", "language"),
        (context.get("locale"), "context.locale", LOCALE_HINT),
    ):
        if isinstance(language, str) and language.strip():
            try:
                validate_language_tag(language.strip())
            except ValidationError as error:
                raise _Invalid(where, error.messages[0]) from error
            profile[key] = language.strip()
    zone = traits.get("timezone") or context.get("timezone")
    if isinstance(zone, str) and zone.strip():
        try:
            validate_timezone(zone.strip())
        except ValidationError as error:
            raise _Invalid("traits.timezone", error.messages[0]) from error
        profile["timezone"] = zone.strip()
    return profile


def _parse(index: int, item: Any, now: datetime) -> _Item:
    if not isinstance(item, dict):
        raise _Invalid("", _("Each event must be a JSON object."))
    # Serialised once, canonically: its size is the item's size (key order changes no byte),
    # its hash the derived message id, and its characters vouch for properties and traits.
    canonical = json.dumps(item, sort_keys=True, ensure_ascii=False, default=str)
    try:
        encoded = canonical.encode("utf-8")
        is_clean = "\\u0000" not in canonical
    except UnicodeEncodeError:  # a lone surrogate somewhere: each part is checked on its own
        encoded, is_clean = canonical.encode("utf-8", "surrogatepass"), False
    if len(encoded) > EVENT_MAX_BYTES:
        raise _Invalid("", _("An event may be at most %(size)d bytes.") % {"size": EVENT_MAX_BYTES})
    kind = item.get("type") or EventKind.TRACK
    if kind not in KINDS:
        raise _Invalid("type", _("Use one of: %(kinds)s.") % {"kinds": ", ".join(KINDS)})
    name = _text(item, "event", required=kind == EventKind.TRACK) or ("" if kind == IDENTIFY else kind)
    user_id = _text(item, "user_id")
    anonymous_id = _text(item, "anonymous_id")
    if not user_id and (kind == IDENTIFY or not anonymous_id):
        raise _Invalid("user_id", _("Send a user_id (or an anonymous_id for events of visitors not identified yet)."))
    # The same content gets the same id, so a client's blind retry still deduplicates.
    message_id = _text(item, "message_id") or "derived-" + hashlib.sha256(encoded).hexdigest()
    context: dict[str, Any] = item["context"] if isinstance(item.get("context"), dict) else {}
    traits = _object(item, "traits", is_clean=is_clean)
    return _Item(
        index=index,
        kind=kind,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        message_id=message_id,
        occurred_at=_timestamp(item, now),
        properties=_object(item, "properties", is_clean=is_clean),
        traits={key: value for key, value in traits.items() if key not in PROFILE_FIELDS},
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

    sql = _dialect()
    customer_ids = _customers_upsert(sql, workspace, [item for item in valid if item.user_id], now, result.errors)
    events = [item for item in valid if item.kind != IDENTIFY]
    inserted = _events_insert(sql, workspace, events, customer_ids, now) if events else []
    result.event_ids = sorted(pk for pk, _is_pending in inserted)
    result.duplicates += len(events) - len(inserted)
    result.accepted = len(inserted) + len(valid) - len(events)  # the identifies count as accepted
    pending = sorted(pk for pk, is_pending in inserted if is_pending)
    if pending:
        workspace_id = workspace.pk
        transaction.on_commit(
            lambda: events_ingested.send_robust(sender=TouchpointEvent, workspace_id=workspace_id, event_ids=pending)
        )
    return result


# Customers -------------------------------------------------------------------------------------------------


@dataclass
class _Customer:
    """A customer as the batch leaves it; ``pk`` is None until it is stored."""

    external_id: str
    pk: int | None
    email: str
    language: str
    timezone: str
    traits: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    #: The stored (email, language, timezone, traits, last_seen_at), to write only what changed.
    stored: tuple[Any, ...] | None = None

    def values(self) -> tuple[Any, ...]:
        return (self.email, self.language, self.timezone, self.traits, self.last_seen_at)


def _customers_upsert(
    sql: _Dialect, workspace: Workspace, items: list[_Item], now: datetime, errors: list[ItemError]
) -> dict[str, int]:
    """Apply the items to their customers; return each customer's id by external id.

    Traits that would grow a customer's traits past ``TRAITS_MAX_BYTES`` are not
    merged (the item's event is still stored) and reported as an item error.

    A customer read as missing may be inserted by a concurrent batch before our
    insert: PostgreSQL then locks that row for us but leaves it alone (the
    ``DO UPDATE`` only touches the rows we read), and those customers go round
    again, read as stored this time. Their items' errors are reported once, from
    the last round.
    """
    customer_ids: dict[str, int] = {}
    rounds = 0
    while items:
        if rounds == 2:  # cannot happen: a customer our insert ran into was committed, and we hold its lock since
            raise RuntimeError("Customers inserted by a concurrent batch could not be read.")
        rounds += 1
        customers = _customers_read(sql, workspace, sorted({item.user_id for item in items}))
        round_errors = _customers_apply(customers, items)
        changed = [customer for customer in customers.values() if customer.stored != customer.values()]
        written = _customers_write(sql, workspace, changed, now) if changed else {}
        customer_ids.update((customer.external_id, customer.pk) for customer in customers.values() if customer.pk)
        customer_ids.update(written)
        errors.extend(error for user_id, error in round_errors if user_id in customer_ids)
        items = [item for item in items if item.user_id not in customer_ids]
    return customer_ids


def _customers_read(sql: _Dialect, workspace: Workspace, external_ids: list[str]) -> dict[str, _Customer]:
    """The stored customers among ``external_ids``, locked in external-id order (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.customers_read, [workspace.pk, sql.list_param(external_ids)])
        rows = cursor.fetchall()
    customers = {}
    for pk, external_id, email, language, zone, traits, last_seen_at in rows:
        last_seen_at = _aware(last_seen_at)
        customer = _Customer(
            external_id=external_id,
            pk=pk,
            email=email,
            language=language,
            timezone=zone,
            traits=json.loads(traits) if isinstance(traits, str) else traits,
            first_seen_at=last_seen_at,  # a placeholder: the update leaves a stored customer's own
            last_seen_at=last_seen_at,
        )
        customer.stored = customer.values()
        customers[external_id] = customer
    return customers


def _customers_apply(customers: dict[str, _Customer], items: list[_Item]) -> list[tuple[str, ItemError]]:
    """Apply the items in batch order (a later identify wins); add the new customers to ``customers``.

    A new customer is first seen at its earliest item; ``last_seen_at`` only moves
    forward; ``first_seen_at`` of a stored customer is left as it is. Returns the
    items' errors with their customers' external ids.
    """
    errors = []
    for item in items:
        customer = customers.get(item.user_id)
        if customer is None:
            customer = customers[item.user_id] = _Customer(
                external_id=item.user_id,
                pk=None,
                email="",
                language="",
                timezone="",
                traits={},
                first_seen_at=item.occurred_at,
                last_seen_at=item.occurred_at,
            )
        if customer.pk is None:
            customer.first_seen_at = min(customer.first_seen_at, item.occurred_at)
        customer.last_seen_at = max(customer.last_seen_at, item.occurred_at)
        for name, value in item.profile.items():
            if name == LOCALE_HINT:
                if not customer.language and "language" not in item.profile:
                    customer.language = value
            else:
                setattr(customer, name, value)
        if item.traits:
            merged = {**customer.traits, **item.traits}
            merged = {key: value for key, value in merged.items() if value is not None}
            if len(json.dumps(merged, ensure_ascii=False).encode()) <= TRAITS_MAX_BYTES:
                customer.traits = merged
            else:
                message = _("The customer's traits would pass %(size)d bytes; remove some by sending them as null.")
                errors.append((item.user_id, ItemError(item.index, "traits", message % {"size": TRAITS_MAX_BYTES})))
    return errors


def _customers_write(sql: _Dialect, workspace: Workspace, customers: list[_Customer], now: datetime) -> dict[str, int]:
    """Insert the new customers and update the changed stored ones; their ids by external id.

    Rows go in external-id order, so concurrent inserts of the same new customers
    wait for each other instead of deadlocking. A new customer inserted meanwhile
    by another transaction is missing from the answer.
    """
    customers = sorted(customers, key=lambda customer: customer.external_id)
    document = json.dumps(
        [
            {
                "external_id": customer.external_id,
                "email": customer.email,
                "language": customer.language,
                "timezone": customer.timezone,
                "traits": customer.traits,
                "first_seen_at": sql.json_datetime(customer.first_seen_at),
                "last_seen_at": sql.json_datetime(customer.last_seen_at),
            }
            for customer in customers
        ]
    )
    stored_ids = [customer.pk for customer in customers if customer.pk is not None]
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if sql.has_returning:
            cursor.execute(
                sql.customers_write + " RETURNING id, external_id",
                [workspace.pk, moment, moment, document, sql.list_param(stored_ids)],
            )
        else:  # SQLite < 3.35; it lets one writer at a time, so nothing was inserted meanwhile
            cursor.execute(sql.customers_write, [workspace.pk, moment, moment, document, sql.list_param(stored_ids)])
            external_ids = sql.list_param([customer.external_id for customer in customers])
            cursor.execute(sql.customers_ids, [workspace.pk, external_ids])
        return {external_id: pk for pk, external_id in cursor.fetchall()}


# Events ----------------------------------------------------------------------------------------------------


def _events_insert(
    sql: _Dialect, workspace: Workspace, events: list[_Item], customer_ids: dict[str, int], now: datetime
) -> list[tuple[int, bool]]:
    """Insert the events not stored yet, in batch order; return (id, needs a decision) for each one inserted.

    Nothing to decide for an unmapped name or an anonymous visitor: such an event
    is stored evaluated, so mapping the name later never fires surveys for old events.
    """
    touchpoints = dict(
        TouchpointEventName.objects.for_workspace(workspace)
        .filter(name__in={item.name for item in events})
        .values_list("name", "touchpoint_id")
    )
    document = json.dumps(
        [
            {
                "customer_id": customer_ids.get(item.user_id),
                "anonymous_id": item.anonymous_id if not item.user_id else "",
                "touchpoint_id": touchpoints.get(item.name),
                "kind": item.kind,
                "name": item.name,
                "message_id": item.message_id,
                "properties": item.properties,
                "occurred_at": sql.json_datetime(item.occurred_at),
                "is_pending": bool(item.user_id and touchpoints.get(item.name)),
            }
            for item in events
        ]
    )
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if sql.has_returning:
            cursor.execute(sql.events_insert + " RETURNING id, evaluated_at", [workspace.pk, moment, moment, document])
        else:  # SQLite < 3.35: this call's rows are the ones received at its ``now``
            cursor.execute(sql.events_insert, [workspace.pk, moment, moment, document])
            message_ids = sql.list_param([item.message_id for item in events])
            cursor.execute(sql.events_ids, [workspace.pk, moment, message_ids])
        # evaluated_at itself: SQLite 3.40 answers "evaluated_at IS NULL" wrongly in a RETURNING clause here.
        return [(pk, evaluated_at is None) for pk, evaluated_at in cursor.fetchall()]


# SQL -------------------------------------------------------------------------------------------------------


def _aware(value: datetime | str) -> datetime:
    """A datetime read by a raw query: SQLite gives it naive (or as text), in the connection's time zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return timezone.make_aware(value, connection.timezone) if timezone.is_naive(value) else value


@dataclass(frozen=True)
class _Dialect:
    """The statements of one database, and how its parameters are passed.

    Every statement takes the workspace id first; the batch goes in as one JSON
    document of rows. ``customers_write`` and ``events_insert`` end where a
    ``RETURNING`` clause may be added.
    """

    customers_read: str
    customers_write: str
    events_insert: str
    #: Used only without RETURNING.
    customers_ids: str = ""
    events_ids: str = ""
    is_postgresql: bool = False

    @property
    def has_returning(self) -> bool:
        """PostgreSQL always; SQLite from 3.35."""
        return self.is_postgresql or bool(connection.features.can_return_rows_from_bulk_insert)

    def list_param(self, values: list[Any]) -> Any:
        """A list as one parameter: an array for PostgreSQL, JSON text for SQLite's ``json_each``."""
        return values if self.is_postgresql else json.dumps(values)

    def json_datetime(self, value: datetime) -> str:
        """A datetime inside the JSON document, as the column takes it (SQLite stores text)."""
        return value.isoformat() if self.is_postgresql else str(connection.ops.adapt_datetimefield_value(value))


_POSTGRESQL = _Dialect(
    is_postgresql=True,
    # FOR NO KEY UPDATE: what the later UPDATE takes anyway; it lets other batches insert events of these customers.
    customers_read="""
        SELECT id, external_id, email, language, timezone, traits, last_seen_at
        FROM touchpoints_customer
        WHERE workspace_id = %s AND external_id = ANY(%s)
        ORDER BY external_id
        FOR NO KEY UPDATE
    """,
    customers_write="""
        INSERT INTO touchpoints_customer (
            workspace_id, external_id, email, language, timezone, traits,
            first_seen_at, last_seen_at, created_at, updated_at
        )
        SELECT %s, row.external_id, row.email, row.language, row.timezone, row.traits,
               row.first_seen_at, row.last_seen_at, %s, %s
        FROM json_to_recordset(%s::json) AS row (
            external_id text, email text, language text, timezone text, traits jsonb,
            first_seen_at timestamptz, last_seen_at timestamptz
        )
        ON CONFLICT (workspace_id, external_id) DO UPDATE SET
            email = EXCLUDED.email,
            language = EXCLUDED.language,
            timezone = EXCLUDED.timezone,
            traits = EXCLUDED.traits,
            last_seen_at = EXCLUDED.last_seen_at,
            updated_at = EXCLUDED.updated_at
        WHERE touchpoints_customer.id = ANY(%s::bigint[])
    """,
    events_insert="""
        INSERT INTO touchpoints_touchpointevent (
            workspace_id, customer_id, anonymous_id, touchpoint_id, kind, name, message_id, properties,
            occurred_at, received_at, evaluated_at
        )
        SELECT %s, row.customer_id, row.anonymous_id, row.touchpoint_id, row.kind, row.name, row.message_id,
               row.properties, row.occurred_at, %s, CASE WHEN row.is_pending THEN NULL ELSE %s END
        FROM json_to_recordset(%s::json) AS row (
            customer_id bigint, anonymous_id text, touchpoint_id bigint, kind text, name text, message_id text,
            properties jsonb, occurred_at timestamptz, is_pending boolean
        )
        ON CONFLICT (workspace_id, message_id) DO NOTHING
    """,
)

_SQLITE = _Dialect(
    # No row locks in SQLite: its writers take turns, the whole database at a time.
    customers_read="""
        SELECT id, external_id, email, language, timezone, traits, last_seen_at
        FROM touchpoints_customer
        WHERE workspace_id = %s AND external_id IN (SELECT value FROM json_each(%s))
        ORDER BY external_id
    """,
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
    customers_write="""
        INSERT INTO touchpoints_customer (
            workspace_id, external_id, email, language, timezone, traits,
            first_seen_at, last_seen_at, created_at, updated_at
        )
        SELECT %s, json_extract(value, '$.external_id'), json_extract(value, '$.email'),
               json_extract(value, '$.language'), json_extract(value, '$.timezone'), json_extract(value, '$.traits'),
               json_extract(value, '$.first_seen_at'), json_extract(value, '$.last_seen_at'), %s, %s
        FROM json_each(%s) WHERE true
        ON CONFLICT (workspace_id, external_id) DO UPDATE SET
            email = excluded.email,
            language = excluded.language,
            timezone = excluded.timezone,
            traits = excluded.traits,
            last_seen_at = excluded.last_seen_at,
            updated_at = excluded.updated_at
        WHERE touchpoints_customer.id IN (SELECT value FROM json_each(%s))
    """,
    events_insert="""
        INSERT INTO touchpoints_touchpointevent (
            workspace_id, customer_id, anonymous_id, touchpoint_id, kind, name, message_id, properties,
            occurred_at, received_at, evaluated_at
        )
        SELECT %s, json_extract(value, '$.customer_id'), json_extract(value, '$.anonymous_id'),
               json_extract(value, '$.touchpoint_id'), json_extract(value, '$.kind'), json_extract(value, '$.name'),
               json_extract(value, '$.message_id'), json_extract(value, '$.properties'),
               json_extract(value, '$.occurred_at'), %s,
               CASE WHEN json_extract(value, '$.is_pending') THEN NULL ELSE %s END
        FROM json_each(%s) WHERE true
        ON CONFLICT (workspace_id, message_id) DO NOTHING
    """,
    customers_ids="""
        SELECT id, external_id FROM touchpoints_customer
        WHERE workspace_id = %s AND external_id IN (SELECT value FROM json_each(%s))
    """,
    events_ids="""
        SELECT id, evaluated_at FROM touchpoints_touchpointevent
        WHERE workspace_id = %s AND received_at = %s AND message_id IN (SELECT value FROM json_each(%s))
    """,
)


def _dialect() -> _Dialect:
    if connection.vendor == "postgresql":
        return _POSTGRESQL
    if connection.vendor == "sqlite":
        return _SQLITE
    raise NotSupportedError(f"Event ingestion supports PostgreSQL and SQLite, not {connection.vendor}.")
