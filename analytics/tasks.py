"""Celery tasks of analytics: thin wrappers that take ids and call one service.

``analytics.refresh_rollups`` runs from Celery beat every 15 minutes
(``CELERY_BEAT_SCHEDULE``). It is idempotent, so a redelivered or overlapping run
only recomputes the same days again (runs of one workspace queue on its
``RollupState`` row).

The closed loop (issue 6), all from beat and all idempotent:

* ``analytics.open_detractor_cases`` (every minute): a case per new detractor
  response (:func:`analytics.cases.detractor_cases_open`, batches until done or
  out of time); the unique case per response makes a rerun a no-op.
* ``analytics.refresh_flags`` (hourly): friction flags of every active journey
  over the last 28 days, a case and one alert per new flag
  (:func:`analytics.alerts.flag_monitoring_run`); a flag already open, or back
  within a week of being resolved, alerts no more.
* ``analytics.send_weekly_digest`` (hourly): the managers' digest
  (:func:`analytics.alerts.digest_send_weekly`), once per workspace and week, from
  Monday 07:00 UTC on; a run missed or failed then is made up by the next one.

Run over every workspace, each service handles the workspaces one by one: one that
fails is logged with its id and the others go on. Every beat entry expires before
its next run, so runs do not pile up in the queue while no worker takes them.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.db import OperationalError

from analytics.alerts import digest_send_weekly, flag_monitoring_run
from analytics.cases import detractor_cases_open
from analytics.rollups import rollups_refresh
from touchpoints.models import Workspace

logger = logging.getLogger(__name__)

#: One periodic detractor sweep stops taking new batches after this long; the next run goes on.
SWEEP_BUDGET_SECONDS = 50


@shared_task(name="analytics.refresh_rollups", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def refresh_rollups(workspace_id: int | None = None) -> int:
    """Roll up complete days of one workspace (or all); returns the days recomputed."""
    started = time.monotonic()
    # A task is the tenant boundary itself: it is given a workspace id by beat or an admin, not by a request.
    workspace = Workspace.objects.get(pk=workspace_id) if workspace_id is not None else None
    days = rollups_refresh(workspace=workspace)
    logger.info(
        "Rollups refreshed (workspace %s): %s days recomputed in %.2f s",
        workspace_id if workspace_id is not None else "all",
        days,
        time.monotonic() - started,
    )
    return days


@shared_task(
    name="analytics.open_detractor_cases", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def open_detractor_cases() -> int:
    """Open a follow-up case for each detractor response without one; returns the cases opened."""
    started, opened, batches = time.monotonic(), 0, 0
    while time.monotonic() - started < SWEEP_BUDGET_SECONDS:
        result = detractor_cases_open()
        opened, batches = opened + result.opened, batches + 1
        if not result.is_full:
            break
    if opened:
        logger.info("Detractor cases: %s opened in %s batches, %.2f s", opened, batches, time.monotonic() - started)
    return opened


@shared_task(name="analytics.refresh_flags", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def refresh_flags(workspace_id: int | None = None) -> int:
    """Record the friction flags of one workspace (or all), open cases and alert new ones; returns flags opened."""
    started = time.monotonic()
    # A task is the tenant boundary itself: it is given a workspace id by beat or an admin, not by a request.
    workspace = Workspace.objects.get(pk=workspace_id) if workspace_id is not None else None
    result = flag_monitoring_run(workspace=workspace)
    logger.info(
        "Flags refreshed (workspace %s): %s journeys, %s new, %s still open, %s back, %s resolved, %s alerted, "
        "%s workspaces failed in %.2f s",
        workspace_id if workspace_id is not None else "all",
        result.journeys,
        result.opened,
        result.seen,
        result.reopened,
        result.resolved,
        result.alerted,
        result.failed,
        time.monotonic() - started,
    )
    return result.opened


@shared_task(name="analytics.send_weekly_digest")
def send_weekly_digest() -> int:
    """Email this week's digest to the managers of every workspace still due one; returns the emails sent."""
    started = time.monotonic()
    sent = digest_send_weekly()
    logger.info("Weekly digests: %s emails in %.2f s", sent, time.monotonic() - started)
    return sent
