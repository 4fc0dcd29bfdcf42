"""A friction finding as shown: :class:`Flag`, its severity, and the wording of its evidence and reason.

The numbers in reasons are formatted for the active language (grouping, decimal
separator, a true minus sign); p-values are quoted with their correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.utils import formats
from django.utils.translation import gettext as _

from analytics.friction.findings import Findings
from analytics.friction.settings import HIGH, LOW, MEDIUM, SEVERITY_BANDS, STRONG_EVIDENCE, FrictionSettings


@dataclass(frozen=True)
class Flag:
    """One friction finding: what, where, how bad, the numbers, and why in words."""

    kind: str
    level: str
    unit_id: Any
    severity: str
    evidence: dict[str, Any]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "level": self.level,
            "unit_id": self.unit_id,
            "severity": self.severity,
            "evidence": self.evidence,
            "reason": self.reason,
        }


def severity(kind: str, effect: float, p_adjusted: float) -> str:
    """``high``, ``medium`` or ``low`` from the kind's bands (:data:`SEVERITY_BANDS`) and the corrected p-value."""
    large, medium = SEVERITY_BANDS[kind]
    if effect >= large and p_adjusted < STRONG_EVIDENCE:
        return HIGH
    return MEDIUM if effect >= medium else LOW


def format_number(value: float, decimals: int = 0) -> str:
    """``value`` rounded and localised, with a true minus sign."""
    rounded = round(float(value), decimals) + 0.0  # + 0.0 turns −0.0 into 0.0
    text = formats.number_format(rounded, decimals, use_l10n=True, force_grouping=True)
    return text.replace("-", "\u2212")


def format_percent(share: float) -> str:
    """A share (0–1) in percent, one decimal below 10%."""
    return format_number(100 * share, 1 if abs(share) < 0.1 else 0)


def p_phrase(p_adjusted: float, correction: str) -> str:
    """ "p = 0.004 after Holm correction" in the active language."""
    small = p_adjusted < 0.001
    shown = format_number(0.001 if small else p_adjusted, 3)
    if correction == "holm":
        template = _("p < %(p)s after Holm correction") if small else _("p = %(p)s after Holm correction")
    else:
        template = (
            _("p < %(p)s after Benjamini–Hochberg correction")
            if small
            else _("p = %(p)s after Benjamini–Hochberg correction")
        )
    return template % {"p": shown}


def significant(value: float) -> float:
    """Three significant digits (p-values in the evidence)."""
    return float(f"{float(value):.3g}")


def round_finite(value: Any, digits: int = 4) -> float | None:
    """``value`` rounded, ``None`` when it is NaN or infinite (JSON-safe evidence)."""
    value = float(value)
    return None if not np.isfinite(value) else round(value, digits)


def common_evidence(findings: Findings, index: int, settings: FrictionSettings, test: str) -> dict[str, Any]:
    """The evidence every kind shares: test, statistic, p-values, correction, α, family size."""
    return {
        "test": test,
        "statistic": round_finite(findings.statistic[0, index]),
        "p_value": significant(findings.p_value[0, index]),
        "p_adjusted": significant(findings.p_adjusted[0, index]),
        "correction": settings.correction,
        "alpha": settings.alpha,
        "family_size": int(findings.family_size[0]),
    }


def make_flag(kind: str, row: pd.Series, findings: Findings, index: int, evidence: dict[str, Any], reason: str) -> Flag:
    """The :class:`Flag` of unit ``index`` (a batch of one journey) from its table ``row``."""
    unit_id = row["unit_id"]
    return Flag(
        kind=kind,
        level=str(row["level"]),
        unit_id=unit_id.item() if isinstance(unit_id, np.generic) else unit_id,
        severity=severity(kind, float(findings.effect[0, index]), float(findings.p_adjusted[0, index])),
        evidence=evidence,
        reason=reason,
    )
