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

The package's modules:

- :mod:`~analytics.charts.cells`: figures as text, NPS bands, friction badges;
- :mod:`~analytics.charts.figures`: the plotly charts and their data;
- :mod:`~analytics.charts.breakdowns`: a stage per touchpoint, channel and persona,
  and the drivers of its gap;
- :mod:`~analytics.charts.comments`: detractor comments and key terms.

The names the views use are re-exported here.
"""

from analytics.charts.breakdowns import (
    Breakdown,
    BreakdownRow,
    Drivers,
    DriverTable,
    dimension_breakdown,
    driver_tables,
    touchpoint_breakdown,
)
from analytics.charts.cells import (
    NPS_BANDS,
    ROW_FIGURES,
    STAGE_FIGURES,
    Cell,
    FlagView,
    FollowUpView,
    StageView,
    cells,
    estimate_text,
    flag_views,
    followup_view,
    nps_band,
    stage_views,
)
from analytics.charts.comments import (
    COMMENTS_SHOWN,
    TERM_TEXTS_READ,
    TERMS_SHOWN,
    Comment,
    LanguageTerms,
    TermView,
    detractor_comments,
    key_terms,
    stage_texts,
)
from analytics.charts.figures import (
    Chart,
    distribution_chart,
    funnel_chart,
    plotly_locale,
    stage_nps_chart,
    trend_chart,
    weekly_counts,
)

__all__ = [
    "NPS_BANDS",
    "COMMENTS_SHOWN",
    "ROW_FIGURES",
    "STAGE_FIGURES",
    "TERMS_SHOWN",
    "TERM_TEXTS_READ",
    "Breakdown",
    "BreakdownRow",
    "Cell",
    "Chart",
    "Comment",
    "DriverTable",
    "Drivers",
    "FlagView",
    "FollowUpView",
    "LanguageTerms",
    "StageView",
    "TermView",
    "cells",
    "detractor_comments",
    "dimension_breakdown",
    "distribution_chart",
    "driver_tables",
    "estimate_text",
    "flag_views",
    "followup_view",
    "funnel_chart",
    "plotly_locale",
    "key_terms",
    "nps_band",
    "stage_nps_chart",
    "stage_texts",
    "stage_views",
    "touchpoint_breakdown",
    "trend_chart",
    "weekly_counts",
]
