"""CSV exports of reports: one row per stage and touchpoint, every figure with its interval and n.

Numbers are written as numbers; text cells (names, reasons) go through
:func:`surveys.exports.safe_cell`, so a stage called ``=cmd`` is shown, never run.
Insufficient figures leave their value and interval empty but keep their n.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from surveys.exports import safe_cell

if TYPE_CHECKING:
    from analytics.reports import JourneyReport

HEAD = ["level", "id", "name", "stage", "order"]


def report_csv(report: JourneyReport) -> str:
    from analytics.reports import FIGURES

    out = io.StringIO()
    writer = csv.writer(out)
    columns = [f"{name}_{part}" for name in FIGURES for part in ("value", "ci_low", "ci_high", "n")]
    writer.writerow([*HEAD, *columns, "flags"])
    for unit in report.units():
        cells: list[Any] = [unit.level, unit.id, safe_cell(unit.name), unit.stage_id, unit.order]
        for name in FIGURES:
            estimate = unit.figures.get(name)
            if estimate is None:
                cells += ["", "", "", ""]
            elif not estimate.sufficient:
                cells += ["", "", "", estimate.n]
            else:
                shown = estimate.as_dict()
                cells += [shown["value"], shown["ci_low"], shown["ci_high"], shown["n"]]
        cells.append(safe_cell("; ".join(f"{flag.kind}: {flag.reason}" for flag in unit.flags)))
        writer.writerow(cells)
    return out.getvalue()
