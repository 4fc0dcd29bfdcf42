"""What the report pages show: figures as text, plotly charts with their data, the drill-down's reads.

Each chart is a :class:`Chart`: a small DataFrame (exactly what its CSV holds and
its data table shows), a plotly figure drawn from that frame, and a one-sentence
summary for screen readers. The pages embed the figure as JSON
(:func:`plotly.io.to_json`) for ``analytics/charts.js``; the numbers are also in
the HTML, so a page without JavaScript still shows them.

Reads follow the report's rules: counts come from :mod:`analytics.aggregation`
(SQL, a fixed number of queries), figures from :mod:`analytics.metrics`. The
open-text reads (detractor comments, key terms) are bounded: at most
:data:`COMMENTS_SHOWN` comments and :data:`TERM_TEXTS_READ` texts, one query each.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, Lower, NullIf
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from analytics import friction, metrics
from analytics.aggregation import ReportFilters, answer_counts, invitation_counts, stage_reach
from analytics.metrics import Estimate
from analytics.reports import DROP_OFF_WINDOW_DAYS, JourneyReport, UnitReport
from analytics.text import Term, base_language, distinguishing_terms_by_language
from surveys.exports import safe_cell
from surveys.models import Answer, Invitation, QuestionType
from touchpoints.models import Journey, Persona, Stage, Workspace

#: Detractor comments shown on a stage's page, newest first.
COMMENTS_SHOWN = 20
#: The newest detractor and promoter texts read for a stage's key terms.
TERM_TEXTS_READ = 2_000
#: Key terms shown per language.
TERMS_SHOWN = 10

FLAG_LABELS = {
    friction.BELOW_JOURNEY: gettext_lazy("Below the journey"),
    friction.DECLINING: gettext_lazy("Declining"),
    friction.HIGH_EFFORT: gettext_lazy("High effort"),
    friction.DROP_OFF: gettext_lazy("High drop-off"),
    friction.LOW_RESPONSE: gettext_lazy("Low response"),
    friction.DETRACTOR_SPIKE: gettext_lazy("Detractor spike"),
}
SEVERITY_LABELS = {
    friction.HIGH: gettext_lazy("high severity"),
    friction.MEDIUM: gettext_lazy("medium severity"),
    friction.LOW: gettext_lazy("low severity"),
}
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
_EMAIL = re.compile(r"[^\s@<>()\[\]]+@[^\s@<>()\[\]]+\.[^\s@<>()\[\]]+")


# --- Figures as text ------------------------------------------------------------------


def _signed(text: str) -> str:
    """A minus sign, not a hyphen, before a negative number (as the friction reasons write it)."""
    return "\u2212" + text[1:] if text.startswith("-") else text


def _integer(value: float) -> str:
    return _signed(formats.number_format(round(value) + 0, 0))  # "+ 0": no "-0"


def _format(value: float, kind: str) -> str:
    if kind == "share":
        return _("%(percent)s%%") % {"percent": _integer(100 * value)}
    if kind == "mean":
        return _signed(formats.number_format(round(value, 1) + 0.0, 1))
    return _integer(value)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def estimate_text(estimate: Estimate | None, kind: str = "nps") -> str:
    """``12 (4 to 20)``, ``78% (72% to 83%)``, ``5.2 (5.0 to 5.4)`` or ``insufficient data (n = 12)``."""
    if estimate is None:
        return _("not applicable")
    if not estimate.sufficient or estimate.value is None:
        return _("insufficient data (n = %(n)s)") % {"n": formats.number_format(estimate.n, force_grouping=True)}
    value = _format(estimate.value, kind)
    if estimate.ci_low is None or estimate.ci_high is None:
        return value
    return _("%(value)s (%(low)s to %(high)s)") % {
        "value": value,
        "low": _format(estimate.ci_low, kind),
        "high": _format(estimate.ci_high, kind),
    }


def nps_band(estimate: Estimate | None) -> str:
    """The CSS band of an NPS: ``excellent``, ``good``, ``fair``, ``negative`` or ``insufficient``."""
    if estimate is None or not estimate.sufficient or estimate.value is None:
        return "insufficient"
    return next(name for lowest, name, _colour in NPS_BANDS if estimate.value >= lowest)


def nps_colour(estimate: Estimate | None) -> str:
    band = nps_band(estimate)
    return next((colour for _lowest, name, colour in NPS_BANDS if name == band), INSUFFICIENT_COLOUR)


def mask_emails(text: str) -> str:
    return _EMAIL.sub(_("[email hidden]"), text)


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


# --- Charts ---------------------------------------------------------------------------


@dataclass
class Chart:
    """A chart's data (its CSV and data table), its plotly figure and a summary for screen readers."""

    name: str
    title: str
    frame: pd.DataFrame
    summary: str
    figure: go.Figure | None = None
    #: The data table's columns: (frame column or callable of a row, header).
    columns: list[tuple[str | Callable[[Any], str], str]] = field(default_factory=list)
    #: Where its CSV is downloaded, and the PNG's file name (set by the view).
    csv_url: str = ""
    filename: str = ""

    def json(self) -> str:
        """The figure as JSON that is safe inside ``<script type="application/json">``."""
        if self.figure is None:
            return ""
        text = pio.to_json(self.figure, validate=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(list(self.frame.columns))
        for row in self.frame.itertuples(index=False):
            writer.writerow([_csv_cell(value) for value in row])
        return out.getvalue()

    def table(self) -> list[list[str]]:
        """The data table's rows, as text."""
        rows = []
        for row in self.frame.to_dict("records"):
            rows.append(
                [column(row) if callable(column) else _table_cell(row[column]) for column, _head in self.columns]
            )
        return rows

    def headers(self) -> list[str]:
        return [head for _column, head in self.columns]


def _csv_cell(value: Any) -> Any:
    if _is_missing(value):
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str):
        return safe_cell(value)
    return value


def _table_cell(value: Any) -> str:
    if _is_missing(value):
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, date | pd.Timestamp):
        return formats.date_format(value, "DATE_FORMAT")
    if isinstance(value, int):
        return formats.number_format(value, force_grouping=True)
    if isinstance(value, float) and value.is_integer():
        return formats.number_format(int(value), force_grouping=True)
    return str(value)


def _layout(**changes: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "none",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "color": TEXT_COLOUR, "size": 13},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 60, "r": 20, "t": 20, "b": 60},
        "height": 340,
        "hoverlabel": {"bgcolor": "#ffffff", "font": {"color": TEXT_COLOUR}},
        "xaxis": {"linecolor": "#6b7280", "tickcolor": "#6b7280", "automargin": True},
        "yaxis": {"gridcolor": "#e5e7eb", "zerolinecolor": "#6b7280", "automargin": True},
        "legend": {"orientation": "h", "y": -0.2},
        # The toolbar's icons at 3:1 or more on white (plotly's default grey is fainter).
        "modebar": {"bgcolor": "#ffffff", "color": "#4b5563", "activecolor": PRIMARY},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _estimate_columns(prefix: str, estimate: Estimate | None) -> dict[str, Any]:
    """``{prefix}_value, _ci_low, _ci_high, _n, _sufficient`` (value and interval empty when insufficient)."""
    if estimate is None or not estimate.sufficient:
        value, low, high = None, None, None
    else:
        value, low, high = estimate.value, estimate.ci_low, estimate.ci_high
    return {
        f"{prefix}_value": value,
        f"{prefix}_ci_low": low,
        f"{prefix}_ci_high": high,
        f"{prefix}_n": None if estimate is None else estimate.n,
        f"{prefix}_sufficient": estimate is not None and estimate.sufficient,
    }


def _nps_value_text(row: dict[str, Any]) -> str:
    """The NPS of a chart row (``nps_value``, ``nps_ci_low``, ``nps_ci_high``, ``nps_n``, ``nps_sufficient``)."""
    n = int(row["nps_n"] or 0)
    if not row["nps_sufficient"]:
        return estimate_text(Estimate(None, None, None, n))
    return estimate_text(Estimate(row["nps_value"], row["nps_ci_low"], row["nps_ci_high"], n, min_n=0))


def stage_nps_chart(report: JourneyReport) -> Chart:
    """The stages' NPS with their intervals as error bars, in journey order."""
    rows = [
        {"stage_id": unit.id, "order": unit.order, "stage": unit.name, **_estimate_columns("nps", unit.figures["nps"])}
        for unit in report.stages
    ]
    frame = pd.DataFrame(
        rows,
        columns=["stage_id", "order", "stage", "nps_value", "nps_ci_low", "nps_ci_high", "nps_n", "nps_sufficient"],
    )
    texts = [_nps_value_text(row) for row in frame.to_dict("records")]
    values = [row["nps_value"] if row["nps_sufficient"] else None for row in rows]
    figure = go.Figure(
        go.Bar(
            x=[row["stage"] for row in rows],
            y=values,
            marker={"color": [nps_colour(unit.figures["nps"]) for unit in report.stages]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [(row["nps_ci_high"] - row["nps_value"]) if row["nps_sufficient"] else None for row in rows],
                "arrayminus": [
                    (row["nps_value"] - row["nps_ci_low"]) if row["nps_sufficient"] else None for row in rows
                ],
                "color": TEXT_COLOUR,
                "thickness": 1.5,
                "width": 6,
            },
            customdata=[[text, row["nps_n"]] for text, row in zip(texts, rows, strict=True)],
            hovertemplate="%{x}<br>NPS %{customdata[0]}<br>n = %{customdata[1]}<extra></extra>",
            name=_("NPS"),
        ),
        layout=_layout(
            yaxis={"title": {"text": _("NPS (95 percent interval)")}, "range": [-100, 100], "dtick": 25},
            annotations=[
                {"x": row["stage"], "y": 0, "text": text, "showarrow": False, "yshift": 12, "font": {"size": 11}}
                for row, text in zip(rows, texts, strict=True)
                if not row["nps_sufficient"]
            ],
        ),
    )
    summary = _("NPS by stage: %(stages)s.") % {
        "stages": "; ".join(f"{row['stage']} {text}" for row, text in zip(rows, texts, strict=True))
    }
    return Chart(
        name="stages",
        title=_("NPS by stage"),
        frame=frame,
        summary=summary,
        figure=figure,
        columns=[("stage", _("Stage")), (_nps_value_text, _("NPS (95 percent interval)")), ("nps_n", _("Answers"))],
    )


def _trend_text(row: dict[str, Any]) -> str:
    """A week's NPS with its interval, also when the week has too few answers (marked so)."""
    n = int(row["nps_n"] or 0)
    if not n or _is_missing(row["nps_value"]):
        return "–"
    text = estimate_text(Estimate(row["nps_value"], row["nps_ci_low"], row["nps_ci_high"], n, min_n=0))
    return text if row["nps_sufficient"] else _("%(nps)s, too few answers") % {"nps": text}


def _week_label(week: Any) -> str:
    return formats.date_format(pd.Timestamp(week).date(), "DATE_FORMAT")


def trend_chart(weekly: pd.DataFrame, *, stage: Stage, min_n: int) -> Chart:
    """The stage's weekly NPS with its interval as a band; ``weekly`` is ``answer_counts(by=["stage_id", "week"])``."""
    rows = []
    if not weekly.empty:
        answers = weekly[(weekly["stage_id"] == stage.pk) & (weekly["question_type"] == "nps")]
        for week, part in answers.groupby("week", sort=True):
            estimate = metrics.nps_from_counts(metrics.score_counts(part), min_n=min_n)
            rows.append(
                {
                    "week": pd.Timestamp(week).date(),
                    "nps_value": estimate.value,
                    "nps_ci_low": estimate.ci_low,
                    "nps_ci_high": estimate.ci_high,
                    "nps_n": estimate.n,
                    "nps_sufficient": estimate.sufficient,
                }
            )
    frame = pd.DataFrame(
        rows, columns=["week", "nps_value", "nps_ci_low", "nps_ci_high", "nps_n", "nps_sufficient"]
    ).astype({"nps_n": "int64"})
    weeks = [row["week"].isoformat() for row in rows]
    band = {"width": 0}
    figure = go.Figure(
        [
            go.Scatter(
                x=weeks,
                y=[row["nps_ci_high"] for row in rows],
                mode="lines",
                line=band,
                hoverinfo="skip",
                showlegend=False,
            ),
            go.Scatter(
                x=weeks,
                y=[row["nps_ci_low"] for row in rows],
                mode="lines",
                line=band,
                fill="tonexty",
                fillcolor="rgba(29, 78, 216, 0.18)",
                name=_("95 percent interval"),
                hoverinfo="skip",
            ),
            go.Scatter(
                x=weeks,
                y=[row["nps_value"] for row in rows],
                mode="lines+markers",
                line={"color": PRIMARY, "width": 2},
                marker={
                    "size": 8,
                    "color": [PRIMARY if row["nps_sufficient"] else "#ffffff" for row in rows],
                    "line": {"color": PRIMARY, "width": 2},
                },
                customdata=[[row["nps_n"]] for row in rows],
                hovertemplate="%{x|%Y-%m-%d}<br>NPS %{y:.0f}<br>n = %{customdata[0]}<extra></extra>",
                name=_("NPS"),
            ),
        ],
        layout=_layout(
            yaxis={"title": {"text": _("NPS")}, "range": [-100, 100], "dtick": 25},
            # ISO dates: plotly's own month names would be English in every language.
            xaxis={"title": {"text": _("Week starting (UTC)")}, "type": "date", "tickformat": "%Y-%m-%d"},
        ),
    )
    if rows:
        summary = ngettext(
            "Weekly NPS of %(stage)s over %(weeks)d week, from %(first)s to %(last)s; last week %(nps)s.",
            "Weekly NPS of %(stage)s over %(weeks)d weeks, from %(first)s to %(last)s; last week %(nps)s.",
            len(rows),
        ) % {
            "stage": stage.name,
            "weeks": len(rows),
            "first": _week_label(rows[0]["week"]),
            "last": _week_label(rows[-1]["week"]),
            "nps": _nps_value_text(rows[-1]),
        }
    else:
        summary = _("No NPS answers in this period.")
    return Chart(
        name="trend",
        title=_("Weekly NPS"),
        frame=frame,
        summary=summary,
        figure=figure,
        columns=[
            ("week", _("Week starting")),
            (_trend_text, _("NPS (95 percent interval)")),
            ("nps_n", _("Answers")),
        ],
    )


def _score_group(score: int) -> str:
    if score <= metrics.DETRACTOR:
        return "detractor"
    return "promoter" if score >= metrics.PROMOTER else "passive"


GROUPS = (
    ("detractor", gettext_lazy("Detractors (0–6)"), "#b91c1c"),
    ("passive", gettext_lazy("Passives (7–8)"), "#6b7280"),
    ("promoter", gettext_lazy("Promoters (9–10)"), "#15803d"),
)


def distribution_chart(weekly: pd.DataFrame, *, stage: Stage) -> Chart:
    """How many answers gave each NPS score, 0 to 10, coloured by detractor, passive and promoter."""
    counts: dict[int, int] = {}
    if not weekly.empty:
        answers = weekly[(weekly["stage_id"] == stage.pk) & (weekly["question_type"] == "nps")]
        counts = metrics.score_counts(answers)
    frame = pd.DataFrame(
        [{"score": score, "group": _score_group(score), "answers": counts.get(score, 0)} for score in range(11)]
    )
    figure = go.Figure(
        [
            go.Bar(
                x=[str(score) for score in range(11) if _score_group(score) == group],
                y=[counts.get(score, 0) for score in range(11) if _score_group(score) == group],
                name=str(label),
                marker={"color": colour},
                hovertemplate=_("Score %{x}: %{y} answers") + "<extra></extra>",
            )
            for group, label, colour in GROUPS
        ],
        layout=_layout(
            barmode="group",
            bargap=0.15,
            xaxis={
                "title": {"text": _("Score")},
                "type": "category",
                "categoryorder": "array",
                "categoryarray": [str(score) for score in range(11)],
            },
            yaxis={"title": {"text": _("Answers")}, "rangemode": "tozero"},
        ),
    )
    totals = frame.groupby("group")["answers"].sum()
    summary = _(
        "NPS scores of %(stage)s: %(detractors)s detractors, %(passives)s passives, %(promoters)s promoters."
    ) % {
        "stage": stage.name,
        "detractors": int(totals.get("detractor", 0)),
        "passives": int(totals.get("passive", 0)),
        "promoters": int(totals.get("promoter", 0)),
    }
    labels = {group: str(label) for group, label, _colour in GROUPS}
    return Chart(
        name="distribution",
        title=_("Score distribution"),
        frame=frame,
        summary=summary,
        figure=figure,
        columns=[("score", _("Score")), (lambda row: labels[row["group"]], _("Group")), ("answers", _("Answers"))],
    )


def funnel_chart(
    *, workspace: Workspace, journey: Journey, filters: ReportFilters, stages: Sequence[tuple[int, str]], current: int
) -> Chart:
    """Customers reaching each stage (touchpoint events; one query) and how many went on to the next."""
    reach = stage_reach(
        workspace=workspace,
        journey_id=journey.pk,
        since=filters.since,
        until=filters.until,
        window_days=DROP_OFF_WINDOW_DAYS,
    )
    reached = {int(row.stage_id): (int(row.reached), row.continued) for row in reach.itertuples(index=False)}
    rows = []
    for stage_id, name in stages:
        count, continued = reached.get(stage_id, (0, pd.NA))
        rows.append(
            {
                "stage_id": stage_id,
                "stage": name,
                "reached": count,
                "continued": None if pd.isna(continued) else int(continued),
                "drop_off": None if pd.isna(continued) or not count else 1 - int(continued) / count,
            }
        )
    frame = pd.DataFrame(rows, columns=["stage_id", "stage", "reached", "continued", "drop_off"]).astype(
        {"continued": "Int64"}
    )
    figure = go.Figure(
        go.Funnel(
            y=[row["stage"] for row in rows],
            x=[row["reached"] for row in rows],
            textinfo="value+percent initial",
            textfont={"color": "#ffffff"},
            marker={"color": [PRIMARY if row["stage_id"] != current else "#1e3a8a" for row in rows]},
            connector={"fillcolor": "#dbe3f5"},
            hovertemplate="%{y}: %{x}<extra></extra>",
        ),
        layout=_layout(margin={"l": 140}, yaxis={"automargin": True}),
    )
    summary = _("Customers reaching each stage: %(stages)s.") % {
        "stages": "; ".join(f"{row['stage']} {row['reached']}" for row in rows)
    }
    return Chart(
        name="funnel",
        title=_("Funnel"),
        frame=frame,
        summary=summary,
        figure=figure,
        columns=[
            ("stage", _("Stage")),
            ("reached", _("Customers reaching it")),
            (lambda row: _table_cell(row["continued"]), _("Went on to the next stage")),
            (lambda row: "–" if _is_missing(row["drop_off"]) else _format(row["drop_off"], "share"), _("Drop-off")),
        ],
    )


# --- Breakdowns of a stage: touchpoints, channels, personas -------------------------------


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
            row.update(_estimate_columns(name, figures.get(name)))
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
    sent = invitation_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["stage_id", dimension])
    answers = answers[answers["stage_id"] == stage.pk] if not answers.empty else answers
    sent = sent[sent["stage_id"] == stage.pk] if not sent.empty else sent
    keys = sorted(set(answers[dimension]) | set(sent[dimension])) if not (answers.empty and sent.empty) else []
    if dimension == "channel":
        order = [value for value in Invitation.Channel.values if value in keys]
        keys = order + [key for key in keys if key not in order]
    units = []
    for key in keys:
        part = answers[answers[dimension] == key] if not answers.empty else answers
        per_type = {kind: metrics.score_counts(group) for kind, group in part.groupby("question_type")}
        csat = metrics.csat_from_counts(per_type.get("csat", {}), min_n=min_n)
        ces = metrics.ces_from_counts(per_type.get("ces", {}), min_n=min_n)
        rows = sent[sent[dimension] == key] if not sent.empty else sent
        figures: dict[str, Estimate | None] = {
            "nps": metrics.nps_from_counts(per_type.get("nps", {}), min_n=min_n),
            "csat": csat.top_box,
            "ces": ces.mean,
            "response_rate": metrics.response_rate(
                int(rows["sent"].sum()) if not rows.empty else 0,
                int(rows["answered"].sum()) if not rows.empty else 0,
                min_n=min_n,
            ),
        }
        units.append((str(key), _dimension_label(dimension, str(key)), figures))
    frame = _breakdown_frame(units)
    rows_out = [BreakdownRow(key=key, label=label, cells=cells(figures)) for key, label, figures in units]
    chart = Chart(name=f"{dimension}s", title=str(DIMENSION_TITLES[dimension]), frame=frame, summary="")
    return Breakdown(chart=chart, rows=rows_out)


def _dimension_label(dimension: str, key: str) -> str:
    if dimension == "channel":
        return str(Invitation.Channel(key).label) if key in Invitation.Channel.values else key
    return key or _("Without a persona")


def weekly_counts(*, workspace: Workspace, journey: Journey, filters: ReportFilters) -> pd.DataFrame:
    """The journey's answers per stage and week: the trend's and the distribution's data (one aggregation call)."""
    return answer_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["stage_id", "week"])


# --- Open-text answers of a stage -------------------------------------------------------


def _period(filters: ReportFilters) -> tuple[datetime, datetime]:
    return (
        datetime.combine(filters.since, time.min, tzinfo=UTC),
        datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC),
    )


def stage_texts(*, workspace: Workspace, stage: Stage, filters: ReportFilters) -> QuerySet[Answer]:
    """The stage's non-empty open-text answers within the filters, each with its response's NPS (``nps``).

    The same rules as the counts: the answer's UTC day, the invitation's channel
    and survey, the response's language (else the invitation's), the customer's
    ``persona`` trait matched to the workspace's personas regardless of case.
    """
    start, end = _period(filters)
    nps = (
        Answer.objects.filter(response=OuterRef("response"), question__type=QuestionType.NPS, number__isnull=False)
        .order_by("question__order", "pk")
        .values("number")[:1]
    )
    texts = (
        Answer.objects.for_workspace(workspace)
        .filter(
            question__type=QuestionType.TEXT,
            response__invitation__touchpoint__stage=stage,
            created_at__gte=start,
            created_at__lt=end,
        )
        .exclude(text="")
        .annotate(
            nps=Subquery(nps),
            language_code=Coalesce(NullIf("response__language", Value("")), "response__invitation__language"),
        )
    )
    if filters.channel is not None:
        texts = texts.filter(response__invitation__channel=filters.channel)
    if filters.survey_id is not None:
        texts = texts.filter(response__invitation__survey_id=filters.survey_id)
    if filters.language is not None:
        texts = texts.filter(language_code=filters.language)
    if filters.persona is not None:
        texts = texts.annotate(persona_key=Lower(KeyTextTransform("persona", "response__invitation__customer__traits")))
        known = (
            Persona.objects.for_workspace(workspace)
            .annotate(name_key=Lower("name"))
            .filter(name_key=OuterRef("persona_key"))
        )
        if filters.persona == "":
            texts = texts.filter(~Exists(known))
        else:
            texts = texts.filter(Exists(known.filter(name=filters.persona)))
    return texts


@dataclass(frozen=True)
class Comment:
    text: str
    score: int
    language: str
    touchpoint: str
    created_at: datetime
    customer: str  # empty for roles that may not see PII


def detractor_comments(
    *, workspace: Workspace, stage: Stage, filters: ReportFilters, show_pii: bool, limit: int = COMMENTS_SHOWN
) -> list[Comment]:
    """The newest open-text answers of the stage's detractors (NPS 0–6), one query.

    Without ``show_pii`` the customer is left out and e-mail addresses in the
    text are masked.
    """
    answers = (
        stage_texts(workspace=workspace, stage=stage, filters=filters)
        .filter(Q(nps__lte=metrics.DETRACTOR))
        .select_related("response__invitation__touchpoint", "response__invitation__customer")
        .order_by("-created_at", "-pk")[:limit]
    )
    comments = []
    for answer in answers:
        invitation = answer.response.invitation
        customer = ""
        if show_pii:
            person = invitation.customer
            customer = f"{person.external_id} <{person.email}>" if person.email else person.external_id
        comments.append(
            Comment(
                text=answer.text if show_pii else mask_emails(answer.text),
                score=int(answer.nps),  # type: ignore[attr-defined]
                language=answer.language_code or "",  # type: ignore[attr-defined]
                touchpoint=invitation.touchpoint.name if invitation.touchpoint else "",
                created_at=answer.created_at,
                customer=customer,
            )
        )
    return comments


@dataclass(frozen=True)
class TermView:
    term: Term
    examples: list[str]


@dataclass(frozen=True)
class LanguageTerms:
    language: str
    detractors: int
    promoters: int
    terms: list[TermView]


def key_terms(
    *,
    workspace: Workspace,
    stage: Stage,
    filters: ReportFilters,
    show_pii: bool,
    limit: int = TERM_TEXTS_READ,
    top: int = TERMS_SHOWN,
) -> tuple[list[LanguageTerms], int]:
    """Terms that distinguish the stage's detractors from its promoters, per language, and the texts read.

    Reads the newest ``limit`` detractor and promoter texts (one query) and hands
    them to :func:`analytics.text.distinguishing_terms_by_language`.
    """
    rows = list(
        stage_texts(workspace=workspace, stage=stage, filters=filters)
        .filter(Q(nps__lte=metrics.DETRACTOR) | Q(nps__gte=metrics.PROMOTER))
        .order_by("-created_at", "-pk")
        .values_list("language_code", "nps", "text")[:limit]  # type: ignore[misc] # annotations
    )
    answers = [
        (language or "", "detractor" if score <= metrics.DETRACTOR else "promoter", text)
        for language, score, text in rows
    ]
    found = distinguishing_terms_by_language(answers, top=top)
    sizes: dict[str, list[int]] = {}
    for language, group, _text in answers:
        counts = sizes.setdefault(base_language(language), [0, 0])
        counts[0 if group == "detractor" else 1] += 1
    result = []
    for language, terms in found.items():
        views = [
            TermView(
                term=term,
                examples=[answers[index][2] if show_pii else mask_emails(answers[index][2]) for index in term.examples],
            )
            for term in terms
        ]
        detractors, promoters = sizes.get(language, [0, 0])
        result.append(LanguageTerms(language=language, detractors=detractors, promoters=promoters, terms=views))
    return result, len(rows)
