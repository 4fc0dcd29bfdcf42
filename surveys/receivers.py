"""Wakes the trigger engine when touchpoints has stored events (connected in ``SurveysConfig.ready``)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def enqueue_evaluation(sender: Any, *, workspace_id: int, event_ids: list[int], **kwargs: Any) -> None:
    """Enqueue one evaluation for one ingest request's events.

    Never raises: the events are already stored and the client has its answer. If
    the broker is unreachable, the failure is logged and the sweep evaluates the
    events a minute later.
    """
    from surveys.tasks import evaluate_triggers

    try:
        evaluate_triggers.delay(workspace_id, list(event_ids))
    except Exception:  # any broker or connection error: the sweep catches up
        logger.warning(
            "Could not enqueue the evaluation of %s events of workspace %s; the sweep will evaluate them.",
            len(event_ids),
            workspace_id,
            exc_info=True,
        )
