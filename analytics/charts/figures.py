"""The report pages' plotly charts, each with the small DataFrame its CSV and data table hold."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from django.utils import formats
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from analytics import metrics
from analytics.aggregation import ReportFilters, answer_counts, stage_reach
from analytics.charts.cells import (
    PRIMARY,
    TEXT_COLOUR,
    estimate_text,
    format_value,
    is_missing,
    nps_colour,
)
from analytics.metrics import Estimate
from analytics.reports import DROP_OFF_WINDOW_DAYS, JourneyReport
from surveys.exports import safe_cell
from touchpoints.models import Journey, Stage, Workspace

#: The texts of plotly.js's toolbar and hints that our charts can show, keyed by plotly's
#: English (its locale dictionary's keys), so the toolbar speaks the page's language.
PLOTLY_TEXTS = {
    "Download plot as a PNG": gettext_lazy("Download the chart as a PNG"),
    "Download plot": gettext_lazy("Download the chart"),
    "Zoom": gettext_lazy("Zoom"),
    "Pan": gettext_lazy("Pan"),
    "Zoom in": gettext_lazy("Zoom in"),
    "Zoom out": gettext_lazy("Zoom out"),
    "Autoscale": gettext_lazy("Autoscale"),
    "Reset axes": gettext_lazy("Reset axes"),
    "Reset view": gettext_lazy("Reset view"),
    "Toggle Spike Lines": gettext_lazy("Toggle spike lines"),
    "Show closest data on hover": gettext_lazy("Show closest data on hover"),
    "Compare data on hover": gettext_lazy("Compare data on hover"),
    "Double-click to zoom back out": gettext_lazy("Double-click to zoom back out"),
    "Preparing image - this may take a few seconds": gettext_lazy("Preparing the image: this may take a few seconds"),
    "Image download succeeded": gettext_lazy("Image downloaded"),
    "Sorry, there was a problem downloading your image!": gettext_lazy("Sorry, the image could not be downloaded."),
    "Reset": gettext_lazy("Reset"),
    "Toggle show closest data on hover": gettext_lazy("Toggle showing the closest data on hover"),
}


def script_json(text: str) -> str:
    """JSON text made safe inside ``<script type="application/json">`` (no ``<``, ``>`` or ``&``)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def plotly_locale() -> str:
    """The active language's plotly.js locale (``name`` and ``dictionary``), as JSON for ``analytics/charts.js``."""
    locale = {"name": get_language() or "en", "dictionary": {key: str(text) for key, text in PLOTLY_TEXTS.items()}}
    return script_json(json.dumps(locale, ensure_ascii=False))


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
        return script_json(pio.to_json(self.figure, validate=False))

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
    if is_missing(value):
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str):
        return safe_cell(value)
    return value


def _table_cell(value: Any) -> str:
    if is_missing(value):
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


def estimate_columns(prefix: str, estimate: Estimate | None) -> dict[str, Any]:
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
        {"stage_id": unit.id, "order": unit.order, "stage": unit.name, **estimate_columns("nps", unit.figures["nps"])}
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
    if not n or is_missing(row["nps_value"]):
        return "–"
    text = estimate_text(Estimate(row["nps_value"], row["nps_ci_low"], row["nps_ci_high"], n, min_n=0))
    return text if row["nps_sufficient"] else _("%(nps)s, too few answers") % {"nps": text}


def _week_label(week: Any) -> str:
    return formats.date_format(pd.Timestamp(week).date(), "DATE_FORMAT")


def _with_empty_weeks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (one per week with answers, in order) with the weeks between them that had none.

    An empty week has no value, so the line and the band break there instead of
    drawing across it as if it had data; its table row says n = 0.
    """
    if not rows:
        return rows
    by_week = {row["week"]: row for row in rows}
    first, last = rows[0]["week"], rows[-1]["week"]
    empty = {"nps_value": None, "nps_ci_low": None, "nps_ci_high": None, "nps_n": 0, "nps_sufficient": False}
    return [
        by_week.get(first + timedelta(weeks=k), {"week": first + timedelta(weeks=k), **empty})
        for k in range((last - first).days // 7 + 1)
    ]


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
    rows = _with_empty_weeks(rows)
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
    reached = {
        int(row.stage_id): (int(row.reached), row.cohort, row.continued) for row in reach.itertuples(index=False)
    }
    rows = []
    for stage_id, name in stages:
        count, cohort, continued = reached.get(stage_id, (0, pd.NA, pd.NA))
        settled = None if pd.isna(cohort) else int(cohort)
        rows.append(
            {
                "stage_id": stage_id,
                "stage": name,
                "reached": count,
                "cohort": settled,
                "continued": None if pd.isna(continued) else int(continued),
                "drop_off": None if pd.isna(continued) or not settled else 1 - int(continued) / settled,
            }
        )
    frame = pd.DataFrame(rows, columns=["stage_id", "stage", "reached", "cohort", "continued", "drop_off"]).astype(
        {"cohort": "Int64", "continued": "Int64"}
    )
    figure = go.Figure(
        go.Funnel(
            y=[row["stage"] for row in rows],
            x=[row["reached"] for row in rows],
            textinfo="value+percent initial",
            # White on the bar; a label too long for a narrow bar is drawn beside it, in the text colour.
            insidetextfont={"color": "#ffffff"},
            outsidetextfont={"color": TEXT_COLOUR},
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
            (lambda row: _table_cell(row["cohort"]), _("Customers whose window ended in the period")),
            (lambda row: _table_cell(row["continued"]), _("Of them, went on to the next stage")),
            (lambda row: "–" if is_missing(row["drop_off"]) else format_value(row["drop_off"], "share"), _("Drop-off")),
        ],
    )


def weekly_counts(*, workspace: Workspace, journey: Journey, filters: ReportFilters) -> pd.DataFrame:
    """The journey's answers per stage and week: the trend's and the distribution's data (one aggregation call)."""
    return answer_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["stage_id", "week"])
