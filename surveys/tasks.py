"""Celery tasks: thin wrappers that take ids and call one service each.

Every task is idempotent: the services decide from the database and write under
unique constraints, so a redelivered message (``acks_late`` with
``task_reject_on_worker_lost``, set in settings) repeats nothing. The broker only
carries wake-ups; the two periodic tasks (Celery beat, ``CELERY_BEAT_SCHEDULE``)
find whatever a lost message would have left behind.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task

from surveys.dispatch import invitations_dispatch
from surveys.triggers import events_evaluate, unevaluated_event_ids

logger = logging.getLogger(__name__)

#: Events per evaluation when sweeping.
SWEEP_BATCH = 500
#: The sweep leaves events this young to the task their ingest enqueued.
SWEEP_GRACE = timedelta(seconds=30)
#: One periodic run stops taking new work after this long; the next run goes on.
RUN_BUDGET_SECONDS = 50


@shared_task(name="surveys.evaluate_triggers")
def evaluate_triggers(workspace_id: int, event_ids: list[int]) -> int:
    """Decide the rules for one ingest request's events; returns invitations created."""
    result = events_evaluate(event_ids=event_ids)
    logger.info(
        "Workspace %s: %s events, %s decisions, %s invitations",
        workspace_id,
        result.events,
        result.decisions,
        result.invitations,
    )
    return result.invitations


@shared_task(name="surveys.sweep_events")
def sweep_events(grace_seconds: float = SWEEP_GRACE.total_seconds()) -> int:
    """Evaluate events left unevaluated (broker down at ingest, a lost message); returns events decided."""
    started, decided = time.monotonic(), 0
    grace = timedelta(seconds=grace_seconds)
    while time.monotonic() - started < RUN_BUDGET_SECONDS:
        event_ids = unevaluated_event_ids(older_than=grace, limit=SWEEP_BATCH)
        if not event_ids:
            break
        result = events_evaluate(event_ids=event_ids)
        decided += result.events
        if result.events == 0:  # all held by running evaluations
            break
    if decided:
        logger.info("Sweep evaluated %s events", decided)
    return decided


@shared_task(name="surveys.dispatch_invitations")
def dispatch_invitations() -> int:
    """Deliver due invitations; returns how many were handled."""
    result = invitations_dispatch()
    if result.total:
        logger.info("Dispatched invitations: %s", result.counts)
    return result.total
