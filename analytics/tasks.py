"""Celery tasks of analytics: thin wrappers that take ids and call one service.

``analytics.refresh_rollups`` runs from Celery beat every 15 minutes
(``CELERY_BEAT_SCHEDULE``). It is idempotent, so a redelivered or overlapping run
only recomputes the same days again (runs of one workspace queue on its
``RollupState`` row).
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.db import OperationalError

from analytics.rollups import rollups_refresh
from touchpoints.models import Workspace

logger = logging.getLogger(__name__)


@shared_task(name="analytics.refresh_rollups", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def refresh_rollups(workspace_id: int | None = None) -> int:
    """Roll up complete days of one workspace (or all); returns the days recomputed."""
    started = time.monotonic()
    workspace = Workspace.objects.get(pk=workspace_id) if workspace_id is not None else None
    days = rollups_refresh(workspace=workspace)
    logger.info(
        "Rollups refreshed (workspace %s): %s days recomputed in %.2f s",
        workspace_id if workspace_id is not None else "all",
        days,
        time.monotonic() - started,
    )
    return days
