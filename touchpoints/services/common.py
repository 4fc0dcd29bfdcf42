"""Helpers shared by the touchpoints services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
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
