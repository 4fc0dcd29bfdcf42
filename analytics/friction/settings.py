"""The vocabulary of friction detection: kinds, levels, severity bands and :class:`FrictionSettings`.

Shared by every module of :mod:`analytics.friction`; the package docstring explains
what each kind tests and what the bands mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from django.utils.translation import gettext_lazy

from analytics import metrics

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

BELOW_JOURNEY = "below_journey"
DECLINING = "declining"
HIGH_EFFORT = "high_effort"
DROP_OFF = "drop_off"
LOW_RESPONSE = "low_response"
DETRACTOR_SPIKE = "detractor_spike"
KINDS = (BELOW_JOURNEY, DECLINING, HIGH_EFFORT, DROP_OFF, LOW_RESPONSE, DETRACTOR_SPIKE)
STAGE, TOUCHPOINT = "stage", "touchpoint"
LEVELS = (STAGE, TOUCHPOINT)
CORRECTIONS = ("holm", "fdr_bh")
HIGH, MEDIUM, LOW = "high", "medium", "low"

#: The kinds and severities as people read them (badges, alerts, the digest, the API's labels).
KIND_LABELS = {
    BELOW_JOURNEY: gettext_lazy("Below the journey"),
    DECLINING: gettext_lazy("Declining"),
    HIGH_EFFORT: gettext_lazy("High effort"),
    DROP_OFF: gettext_lazy("High drop-off"),
    LOW_RESPONSE: gettext_lazy("Low response"),
    DETRACTOR_SPIKE: gettext_lazy("Detractor spike"),
}
SEVERITY_LABELS = {
    HIGH: gettext_lazy("high severity"),
    MEDIUM: gettext_lazy("medium severity"),
    LOW: gettext_lazy("low severity"),
}

#: (large, medium) effect per kind, in the kind's units (see :mod:`analytics.friction`).
SEVERITY_BANDS: dict[str, tuple[float, float]] = {
    BELOW_JOURNEY: (15.0, 5.0),
    DECLINING: (15.0, 5.0),
    HIGH_EFFORT: (1.0, 0.5),
    DROP_OFF: (0.10, 0.05),
    LOW_RESPONSE: (0.5, 0.25),
    DETRACTOR_SPIKE: (0.10, 0.05),
}
#: A corrected p-value below this is strong evidence (needed for "high").
STRONG_EVIDENCE = 0.001
CES_SCORES = np.arange(1, 8)
NPS_COUNTS = ["promoters", "passives", "detractors"]


@dataclass(frozen=True)
class FrictionSettings:
    """The detector's knobs; the defaults are the issue's.

    Reports take ``ces_threshold`` and ``low_response_threshold`` from the
    workspace (:func:`analytics.report_settings.friction_settings`); the others keep
    their defaults.
    """

    alpha: float = 0.05
    min_n: int = metrics.MIN_N
    ces_threshold: float = 5.0  # on 1–7
    low_response_threshold: float = 0.10
    correction: Literal["holm", "fdr_bh"] = "holm"
    min_weeks: int = 4  # weeks with answers needed for a trend

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if self.min_n < 1 or self.min_weeks < 3:
            raise ValueError("min_n must be at least 1 and min_weeks at least 3")
        if not 0 < self.low_response_threshold < 1:
            raise ValueError("low_response_threshold must lie in (0, 1)")
