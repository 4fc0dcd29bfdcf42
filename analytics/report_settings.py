"""A workspace's friction thresholds: read as :class:`~analytics.friction.FrictionSettings`, changed by admins.

The issue speaks of "the workspace's threshold" for customer effort; the response
rate below which a score may be biased is a threshold of the same kind. Both live
in :class:`analytics.models.ReportSettings` (one row per workspace, created on the
first change); every report, flag refresh and digest reads them through
:func:`friction_settings` (one query).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from analytics.friction import FrictionSettings
from analytics.models import ReportSettings
from config.errors import ApplicationError
from touchpoints.models import Workspace

CES_MIN, CES_MAX = Decimal("1.0"), Decimal("7.0")
RESPONSE_MIN, RESPONSE_MAX = 1, 99


def report_settings_get(*, workspace: Workspace) -> ReportSettings:
    """The workspace's settings; an unsaved row with the defaults when it has none yet."""
    found = ReportSettings.objects.filter(workspace=workspace).first()
    return found or ReportSettings(workspace=workspace)


def friction_settings(*, workspace: Workspace) -> FrictionSettings:
    """The workspace's thresholds as the friction detector takes them (the other knobs keep their defaults)."""
    row = report_settings_get(workspace=workspace)
    return FrictionSettings(
        ces_threshold=float(row.ces_threshold), low_response_threshold=row.low_response_percent / 100
    )


def _ces(value: Any) -> Decimal:
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else Decimal("NaN")
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite() or not CES_MIN <= number <= CES_MAX or number != number.quantize(Decimal("0.1")):
        raise ApplicationError.for_field(
            "ces_threshold",
            _("Enter a number from %(min)s to %(max)s with at most one decimal.") % {"min": CES_MIN, "max": CES_MAX},
        )
    return number


def _percent(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not RESPONSE_MIN <= value <= RESPONSE_MAX:
        raise ApplicationError.for_field(
            "low_response_percent",
            _("Enter a whole number from %(min)d to %(max)d.") % {"min": RESPONSE_MIN, "max": RESPONSE_MAX},
        )
    return value


#: A field the caller leaves as it is.
UNCHANGED: Any = object()


@transaction.atomic
def report_settings_update(
    *, workspace: Workspace, ces_threshold: Any = UNCHANGED, low_response_percent: Any = UNCHANGED
) -> ReportSettings:
    """Set the CES threshold (1–7, one decimal) and/or the low-response threshold (1–99 %).

    A field left :data:`UNCHANGED` keeps its value, read under the row's lock, so two
    admins changing one field each at the same time both keep their change.
    """
    changes: dict[str, Any] = {}
    if ces_threshold is not UNCHANGED:
        changes["ces_threshold"] = _ces(ces_threshold)
    if low_response_percent is not UNCHANGED:
        changes["low_response_percent"] = _percent(low_response_percent)
    ReportSettings.objects.get_or_create(workspace=workspace)
    row = ReportSettings.objects.select_for_update().get(workspace=workspace)
    for name, value in changes.items():
        setattr(row, name, value)
    if changes:
        row.save(update_fields=[*changes, "updated_at"])
    return row
