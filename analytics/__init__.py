"""Scoring, friction detection, reports, charts, exports and alerts.

Reads :mod:`touchpoints` and :mod:`surveys`; nothing depends on it.
"""
