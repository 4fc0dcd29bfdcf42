"""Helpers shared by the touchpoints services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F, Max, QuerySet
from django.utils.translation import gettext as _

from config.errors import ApplicationError


def model_clean(instance: models.Model, *, exclude: list[str] | None = None) -> None:
    """Run field validation (lengths, choices, validators) and raise ``ApplicationError``.

    Uniqueness and constraints are left to explicit checks and the database, so
    this costs no query.
    """
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        first = next(iter(fields.values()))[0]
        raise ApplicationError(first, fields=fields) from exc


def apply_changes(instance: models.Model, data: dict[str, object], allowed: set[str]) -> list[str]:
    """Set the ``allowed`` attributes present in ``data``; return the names that changed."""
    unknown = set(data) - allowed
    if unknown:
        raise ApplicationError.for_field(sorted(unknown)[0], _("This field cannot be changed."))
    changed = []
    for name, value in data.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def save_or_raise(instance: models.Model, error: ApplicationError, *, update_fields: list[str] | None = None) -> None:
    """Save; if a unique constraint refuses (a concurrent request won the race), raise ``error``.

    Services check uniqueness first for a friendly message; this turns the race
    that slips past the check into the same 400 instead of a 500.
    """
    try:
        with transaction.atomic():
            instance.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise error from exc


def save_with_unique_name(instance: Any, error: ApplicationError, *, update_fields: list[str] | None = None) -> None:
    """Save a row whose ``name`` is unique in its workspace; a clash raises ``error``.

    The check gives the friendly message; the unique constraint settles a race.
    """
    clash = type(instance).objects.for_workspace(instance.workspace).filter(name=instance.name)
    if instance.pk is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise error
    save_or_raise(instance, error, update_fields=update_fields)


def renumber(siblings: QuerySet, ordered_ids: Sequence[int], *, field: str = "order") -> None:
    """Give ``ordered_ids`` (all of ``siblings``) the values ``1..n`` of ``field`` in two set-based steps.

    First every value moves past the current maximum, then each row gets its
    final place, so a unique constraint on ``field`` among siblings never sees a
    clash. The caller holds a lock on the siblings' parent.
    """
    offset = (siblings.aggregate(last=Max(field))["last"] or 0) + 1
    siblings.update(**{field: F(field) + offset})
    by_id = siblings.in_bulk(ordered_ids)
    for position, row_id in enumerate(ordered_ids, 1):
        setattr(by_id[row_id], field, position)
    siblings.model.objects.bulk_update(by_id.values(), [field])


def lock_in_workspace(model: type[Any], workspace: Any, pk: int, *, field: str | None = None, unknown: str = "") -> Any:
    """``SELECT ... FOR UPDATE`` one row of ``model`` in ``workspace``.

    Without ``field`` (the id came in the URL) a missing row is ``DoesNotExist``
    (a 404); with it (the id came in the body) an ``ApplicationError`` on that field.
    """
    rows = model.objects.for_workspace(workspace).select_for_update()
    if field is None:
        return rows.get(pk=pk)
    row = rows.filter(pk=pk).first()
    if row is None:
        raise ApplicationError.for_field(field, unknown)
    return row
