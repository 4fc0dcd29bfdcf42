"""Figures as text for the report pages: intervals, NPS bands, friction badges and table cells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from analytics import friction
from analytics.cases import FollowUpSummary
from analytics.metrics import Estimate
from analytics.reports import JourneyReport, UnitReport

FLAG_LABELS, SEVERITY_LABELS = friction.KIND_LABELS, friction.SEVERITY_LABELS
#: NPS bands: (lowest NPS of the band, CSS suffix, chart colour). Text on the pages
#: always gives the number too; the colour only repeats it.
NPS_BANDS = (
    (70.0, "excellent", "#166534"),
    (30.0, "good", "#16a34a"),
    (0.0, "fair", "#b45309"),
    (-100.0, "negative", "#b91c1c"),
)
INSUFFICIENT_COLOUR = "#6b7280"
TEXT_COLOUR = "#1a1a2e"
PRIMARY = "#1d4ed8"


def _signed(text: str) -> str:
    """A minus sign, not a hyphen, before a negative number (as the friction reasons write it)."""
    return "\u2212" + text[1:] if text.startswith("-") else text


def _integer(value: float) -> str:
    return _signed(formats.number_format(round(value) + 0, 0))  # "+ 0": no "-0"


def format_value(value: float, kind: str) -> str:
    if kind == "share":
        return _("%(percent)s%%") % {"percent": _integer(100 * value)}
    if kind == "mean":
        return _signed(formats.number_format(round(value, 1) + 0.0, 1))
    return _integer(value)


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def estimate_text(estimate: Estimate | None, kind: str = "nps") -> str:
    """``12 (4 to 20)``, ``78% (72% to 83%)``, ``5.2 (5.0 to 5.4)`` or ``insufficient data (n = 12)``."""
    if estimate is None:
        return _("not applicable")
    if not estimate.sufficient or estimate.value is None:
        return _("insufficient data (n = %(n)s)") % {"n": formats.number_format(estimate.n, force_grouping=True)}
    value = format_value(estimate.value, kind)
    if estimate.ci_low is None or estimate.ci_high is None:
        return value
    return _("%(value)s (%(low)s to %(high)s)") % {
        "value": value,
        "low": format_value(estimate.ci_low, kind),
        "high": format_value(estimate.ci_high, kind),
    }


def nps_band(estimate: Estimate | None) -> str:
    """The CSS band of an NPS: ``excellent``, ``good``, ``fair``, ``negative`` or ``insufficient``."""
    if estimate is None or not estimate.sufficient or estimate.value is None:
        return "insufficient"
    return next(name for lowest, name, _colour in NPS_BANDS if estimate.value >= lowest)


def nps_colour(estimate: Estimate | None) -> str:
    band = nps_band(estimate)
    return next((colour for _lowest, name, colour in NPS_BANDS if name == band), INSUFFICIENT_COLOUR)


@dataclass(frozen=True)
class Cell:
    """One figure of a unit as the pages show it."""

    label: str
    text: str
    n: int | None
    sufficient: bool
    band: str = ""

    @property
    def n_text(self) -> str:
        return "" if self.n is None else _("n = %(n)s") % {"n": formats.number_format(self.n, force_grouping=True)}


@dataclass(frozen=True)
class FlagView:
    kind: str
    label: str
    severity: str
    severity_label: str
    reason: str


def flag_views(flags: Sequence[friction.Flag]) -> list[FlagView]:
    return [
        FlagView(
            kind=flag.kind,
            label=str(FLAG_LABELS.get(flag.kind, flag.kind)),
            severity=flag.severity,
            severity_label=str(SEVERITY_LABELS.get(flag.severity, flag.severity)),
            reason=flag.reason,
        )
        for flag in flags
    ]


#: (figure, label, kind) of the figures a unit's row shows.
ROW_FIGURES = (
    ("nps", gettext_lazy("NPS"), "nps"),
    ("csat", gettext_lazy("CSAT"), "share"),
    ("ces", gettext_lazy("CES (1–7)"), "mean"),
    ("response_rate", gettext_lazy("Response rate"), "share"),
)


def cells(figures: dict[str, Estimate | None], names: Sequence[tuple[str, Any, str]] = ROW_FIGURES) -> list[Cell]:
    """The ``names`` figures (``(figure, label, kind)``) of a unit as cells."""
    result = []
    for name, label, kind in names:
        estimate = figures.get(name)
        result.append(
            Cell(
                label=str(label),
                text=estimate_text(estimate, kind),
                n=None if estimate is None else estimate.n,
                sufficient=estimate is not None and estimate.sufficient,
                band=nps_band(estimate) if name == "nps" else "",
            )
        )
    return result


#: (figure, label, kind) beside a stage's NPS in the journey view.
STAGE_FIGURES = (
    ("csat", gettext_lazy("CSAT"), "share"),
    ("csat_mean", gettext_lazy("CSAT mean (1–5)"), "mean"),
    ("ces", gettext_lazy("CES (1–7)"), "mean"),
    ("response_rate", gettext_lazy("Response rate"), "share"),
    ("drop_off", gettext_lazy("Drop-off to the next stage"), "share"),
)


@dataclass
class StageView:
    """A stage of the journey view: its figures as text, its flags and its touchpoints' flags."""

    unit: UnitReport
    nps: Cell
    figures: list[Cell]
    flags: list[FlagView]
    touchpoint_flags: list[tuple[str, FlagView]]


def stage_views(report: JourneyReport) -> list[StageView]:
    views = []
    for unit in report.stages:
        figures = cells(unit.figures, STAGE_FIGURES)
        if unit.figures.get("drop_off") is None:  # the last stage has no next one
            figures[-1] = Cell(figures[-1].label, _("none: the last stage"), None, False)
        views.append(
            StageView(
                unit=unit,
                nps=cells(unit.figures, ROW_FIGURES[:1])[0],
                figures=figures,
                flags=flag_views(unit.flags),
                touchpoint_flags=[
                    (point.name, view)
                    for point in report.touchpoints
                    if point.stage_id == unit.id
                    for view in flag_views(point.flags)
                ],
            )
        )
    return views


# --- Closing the loop -------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpView:
    """The journey view's follow-up figures (:func:`analytics.cases.followup_summary`) as text."""

    detractors: int
    followed_up: int
    share: str
    closed: int
    time_to_close: str  # empty when no case is closed


def duration_text(hours: float) -> str:
    """``under an hour``, ``5 hours`` (below two days) or ``4 days`` (whole numbers: plural forms need them)."""
    if hours < 1:
        return _("under an hour")
    if hours < 48:
        count = round(hours)
        return ngettext("%(count)s hour", "%(count)s hours", count) % {"count": formats.number_format(count)}
    days = round(hours / 24)
    return ngettext("%(count)s day", "%(count)s days", days) % {"count": formats.number_format(days)}


def followup_view(summary: FollowUpSummary) -> FollowUpView:
    hours = summary["median_hours_to_close"]
    return FollowUpView(
        detractors=summary["detractors"],
        followed_up=summary["followed_up"],
        share=estimate_text(summary["share"], "share") if summary["detractors"] else "",
        closed=summary["closed"],
        time_to_close="" if hours is None else duration_text(hours),
    )
