"""Workspaces, members and API keys; journeys, stages, touchpoints, personas; customers."""
