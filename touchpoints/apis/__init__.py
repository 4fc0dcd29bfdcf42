"""The REST API of the touchpoints app (``/api/v1/``)."""
