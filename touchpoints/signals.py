"""Signals the touchpoints app sends; other apps listen (they depend on it, never the reverse)."""

from django.dispatch import Signal

#: Sent after the transaction that stored new events commits, with ``workspace_id`` and
#: ``event_ids`` (a list). The surveys app wakes its trigger engine with it. Receivers must
#: not raise: ingestion has already answered, and the sweep catches anything they miss.
events_ingested = Signal()
