"""Analytics keeps no tables yet: it aggregates touchpoints and surveys data in SQL."""
