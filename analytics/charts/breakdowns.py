"""A stage's figures per touchpoint, channel or persona, and the drivers of its gap to the journey."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics import drivers, metrics
from analytics.aggregation import ReportFilters, answer_counts, invitation_counts
from analytics.charts.cells import Cell, FlagView, cells, flag_views, format_value
from analytics.charts.figures import Chart, estimate_columns
from analytics.metrics import Estimate
from analytics.reports import JourneyReport, UnitReport, response_rate_filters
from surveys.models import Invitation
from touchpoints.models import Journey, Stage, Workspace


@dataclass
class BreakdownRow:
    key: str
    label: str
    cells: list[Cell]
    flags: list[FlagView] = field(default_factory=list)
    note: str = ""


@dataclass
class Breakdown:
    chart: Chart
    rows: list[BreakdownRow]


BREAKDOWN_FIGURES = ("nps", "csat", "ces", "response_rate")


def _breakdown_frame(units: Sequence[tuple[str, str, dict[str, Estimate | None]]]) -> pd.DataFrame:
    rows = []
    for key, label, figures in units:
        row: dict[str, Any] = {"key": key, "label": label}
        for name in BREAKDOWN_FIGURES:
            row.update(estimate_columns(name, figures.get(name)))
        rows.append(row)
    columns = ["key", "label"] + [
        f"{name}_{part}" for name in BREAKDOWN_FIGURES for part in ("value", "ci_low", "ci_high", "n", "sufficient")
    ]
    return pd.DataFrame(rows, columns=columns)


def touchpoint_breakdown(report: JourneyReport, *, stage: Stage, channels: dict[int, str]) -> Breakdown:
    """The stage's touchpoints with the report's figures and flags."""
    units = [unit for unit in report.touchpoints if unit.stage_id == stage.pk]
    frame = _breakdown_frame([(str(unit.id), unit.name, unit.figures) for unit in units])
    rows = [
        BreakdownRow(
            key=str(unit.id),
            label=unit.name,
            cells=cells(unit.figures),
            flags=flag_views(unit.flags),
            note=channels.get(unit.id, ""),
        )
        for unit in units
    ]
    chart = Chart(name="touchpoints", title=_("Touchpoints"), frame=frame, summary="")
    return Breakdown(chart=chart, rows=rows)


DIMENSION_TITLES = {"channel": gettext_lazy("Channels"), "persona": gettext_lazy("Personas")}


def dimension_breakdown(
    *,
    workspace: Workspace,
    journey: Journey,
    filters: ReportFilters,
    stage: Stage,
    dimension: str,
    min_n: int,
) -> Breakdown:
    """The stage's figures per invitation channel or persona (two aggregation calls)."""
    answers = answer_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["stage_id", dimension])
    sent = invitation_counts(
        workspace=workspace, journey_id=journey.pk, filters=response_rate_filters(filters), by=["stage_id", dimension]
    )
    answers = answers[answers["stage_id"] == stage.pk] if not answers.empty else answers
    sent = sent[sent["stage_id"] == stage.pk] if not sent.empty else sent
    keys = sorted(set(answers[dimension]) | set(sent[dimension])) if not (answers.empty and sent.empty) else []
    if dimension == "channel":
        order = [value for value in Invitation.Channel.values if value in keys]
        keys = order + [key for key in keys if key not in order]
    units = []
    for key in keys:
        part = answers[answers[dimension] == key] if not answers.empty else answers
        rows = sent[sent[dimension] == key] if not sent.empty else sent
        figures = metrics.unit_figures(
            part,
            sent=int(rows["sent"].sum()) if not rows.empty else 0,
            answered=int(rows["answered"].sum()) if not rows.empty else 0,
            min_n=min_n,
        )
        units.append((str(key), _dimension_label(dimension, str(key)), figures))
    frame = _breakdown_frame(units)
    rows_out = [BreakdownRow(key=key, label=label, cells=cells(figures)) for key, label, figures in units]
    chart = Chart(name=f"{dimension}s", title=str(DIMENSION_TITLES[dimension]), frame=frame, summary="")
    return Breakdown(chart=chart, rows=rows_out)


def _dimension_label(dimension: str, key: str) -> str:
    if dimension == "channel":
        return str(Invitation.Channel(key).label) if key in Invitation.Channel.values else key
    return key or _("Without a persona")


# --- Drivers of a flagged stage's gap ----------------------------------------------------

DRIVER_TITLES = {
    "touchpoint": gettext_lazy("By touchpoint"),
    "channel": gettext_lazy("By channel"),
    "persona": gettext_lazy("By persona"),
}


@dataclass(frozen=True)
class DriverRow:
    """One value's part in the stage's gap, as text (see :mod:`analytics.drivers`)."""

    label: str
    share: str
    nps: Cell
    gap: str
    contribution: str
    detractor_share: str
    sufficient: bool


DRIVER_HEADS = {
    "touchpoint": gettext_lazy("Touchpoint"),
    "channel": gettext_lazy("Channel"),
    "persona": gettext_lazy("Persona"),
}


@dataclass
class DriverTable:
    dimension: str
    title: str
    rows: list[DriverRow]
    #: The first column's header: what the rows are.
    head: str = ""


@dataclass
class Drivers:
    """The drivers section of a stage's page: a sentence on the gap, one table per dimension, one CSV."""

    summary: str
    tables: list[DriverTable]
    chart: Chart


def _points(value: float | None) -> str:
    if value is None:
        return "–"
    text = format_value(value, "mean")
    return text if text.startswith("\u2212") or value == 0 else f"+{text}"


def _driver_label(dimension: str, value: Any, names: dict[int, str]) -> str:
    if dimension == "touchpoint":
        return names.get(int(value), str(value)) if value is not None and not pd.isna(value) else "–"
    return _dimension_label(dimension, "" if value is None else str(value))


DRIVER_COLUMNS = [
    "dimension",
    "value",
    "label",
    "share",
    *(f"nps_{part}" for part in ("value", "ci_low", "ci_high", "n", "sufficient")),
    "gap",
    "contribution",
    "detractors",
    "detractor_share",
]


def _gap_summary(table: drivers.Breakdown) -> str:
    """The stage's gap in words (every dimension's table has the same stage, reference and gap)."""
    return _(
        "NPS %(stage)s against %(reference)s for the rest of the journey: a gap of %(gap)s points. "
        "Each value's contribution is its share of the stage's answers times its own gap; "
        "the contributions add up to the stage's gap."
    ) % {
        "stage": format_value(table.stage.value if table.stage.value is not None else 0.0, "nps"),
        "reference": format_value(table.reference_nps, "nps"),
        "gap": format_value(table.gap or 0.0, "mean"),
    }


def driver_tables(unit: UnitReport, *, touchpoint_names: dict[int, str]) -> Drivers:
    """The drivers of a stage's gap to the rest of the journey; no tables when the report has none.

    The report computes drivers only for a flagged stage below the rest of its
    journey (:func:`analytics.reports.journey_report`). The CSV holds every
    dimension's rows, with the same figures as the API's ``drivers`` (only its
    header when there are none).
    """
    tables: list[DriverTable] = []
    records: list[dict[str, Any]] = []
    for dimension, table in unit.drivers.items():
        rows = []
        for driver in table.drivers:
            label = _driver_label(dimension, driver.value, touchpoint_names)
            sufficient = driver.is_sufficient
            rows.append(
                DriverRow(
                    label=label,
                    share=format_value(driver.share, "share"),
                    nps=cells({"nps": driver.nps})[0],
                    gap=_points(driver.gap) if sufficient else "–",
                    contribution=_points(driver.contribution),
                    detractor_share="–"
                    if driver.detractor_share is None
                    else format_value(driver.detractor_share, "share"),
                    sufficient=sufficient,
                )
            )
            records.append(
                {
                    "dimension": dimension,
                    "value": driver.value,
                    "label": label,
                    "share": driver.share,
                    **estimate_columns("nps", driver.nps),
                    "gap": driver.gap if sufficient else None,
                    "contribution": driver.contribution,
                    "detractors": driver.detractors,
                    "detractor_share": driver.detractor_share,
                }
            )
        tables.append(
            DriverTable(
                dimension=dimension,
                title=str(DRIVER_TITLES[dimension]),
                rows=rows,
                head=str(DRIVER_HEADS[dimension]),
            )
        )
    summary = _gap_summary(next(iter(unit.drivers.values()))) if unit.drivers else ""
    chart = Chart(
        name="drivers",
        title=_("Drivers of the gap"),
        frame=pd.DataFrame(records, columns=DRIVER_COLUMNS),
        summary=summary,
    )
    return Drivers(summary=summary, tables=tables, chart=chart)
