"""Friction flags that last, the alert each new one raises once, and the weekly digest (issue 6).

Flag monitoring (:func:`flag_monitoring_run`, Celery beat every hour)
---------------------------------------------------------------------
For every active journey the report (:func:`analytics.reports.journey_report`, the
same as the dashboard's, default friction settings, no filters) is computed over a
**rolling window of the last 28 UTC days, today included** (:data:`WINDOW_DAYS`):
four weeks, so the weekly trend and the detractor spike have the four weeks they
need, and short enough that a fixed problem stops being flagged within a month.
Its flags are upserted into :class:`analytics.models.FrictionFlagRecord`:

* a flag already open is *seen* again: ``last_seen_at``, severity, reason, evidence
  and window are refreshed; nothing is sent, even when its severity rises (the
  case and the dashboard show the current severity);
* a flag not open is *new*: a record, a follow-up case for the unit's owner team
  (:data:`analytics.cases.FLAG_DUE_BUSINESS_DAYS` business days to act) and,
  after commit, one alert;
* an open record the report no longer shows is *resolved* (``resolved_at``); so are
  the open records of a journey that is no longer active. Its case stays as it is:
  people close cases, not statistics;
* a flag that comes back within :data:`FLAG_REOPEN_DAYS` days of being resolved
  is *reopened* (hysteresis): its latest record loses ``resolved_at`` and takes
  the current severity, reason, evidence and window; ``first_seen_at`` stays. No
  new record, case or alert: a flag near the significance line, which the hourly
  sliding window can make disappear and return many times (the multiplicity
  correction does not prevent that: it applies within one report, not across
  refreshes), stays one flag with one case. Its case is left as it is; a case
  that was closed stays closed and gets a note (in the workspace's language,
  author "JourneyPulse") saying the flag is back, for whoever closed it to
  reopen it if the problem needs more work. A flag that comes back later than
  that is new: a new record, a new case and a new alert.

One journey is recorded in one short transaction that locks the journey row, so
two overlapping refreshes cannot both find a flag new; the partial unique
constraint ``friction_flag_open_once`` backs that up. Reasons are written in the
workspace's default language. Run over every workspace, the refresh takes them one
by one: one that fails is logged (with its id) and skipped, the others are
refreshed and the alerts of all still go out.

Alerts (:func:`flag_alerts_send`, right after each refresh)
---------------------------------
New records are claimed (``select_for_update(skip_locked)``, a lease of
:data:`ALERT_LEASE` from the moment of the claim) and alerted outside any
transaction, one workspace after another (one that fails stays claimed until its
lease ends and is logged; the others are alerted):

* **email** to the workspace's admins and designers (active users with an
  address; :data:`ALERT_ROLES`), one message per person listing the new flags of
  the refresh, in :func:`recipient_language`;
* **webhook**: when the workspace has a webhook URL, one signed POST per flag,
  ``{"type": "friction.flag", ...}`` (:func:`flag_webhook_payload`), with the
  headers and the HMAC of the invitation webhooks
  (:func:`surveys.delivery.webhook_signature`): ``X-JourneyPulse-Timestamp``,
  ``X-JourneyPulse-Signature``, ``X-JourneyPulse-Delivery`` (``flag-<id>-<attempt>``;
  a receiver drops duplicates by the flag id). Redirects are not followed.

Each channel that took the alert is stamped, so a failure is retried at the next
refresh for that channel only, at most :data:`ALERT_MAX_ATTEMPTS` times; a flag
resolved before its alert went out is not alerted (unless it is reopened: then it is,
once). A channel with nobody to
reach (no recipient, no URL) counts as done. Delivery is at least once: a process
killed between the send and the stamp sends again after the lease.

Weekly digest (:func:`digest_send_weekly`, hourly, due from Monday 07:00 UTC)
-----------------------------------------------------------------------------
To each workspace's admins, designers and analysts (:data:`DIGEST_ROLES`; it holds
no customer data), HTML and text, in :func:`recipient_language`: per active
journey the stage table over the last 28 complete UTC days (NPS with its 95%
interval or "insufficient data", answers, response rate, open flags of the stage and
its touchpoints), the flags first seen in the last 7 days, and the follow-up
figures. A workspace with no answers, no invitations and no new flag gets nothing.

A :class:`analytics.models.DigestDelivery` row per workspace and week claims the
week before anything is sent, so no run sends a week twice. A digest week starts on
Monday at :data:`DIGEST_HOUR_UTC` (07:00 UTC), so the first hourly run of the
week sends it on Monday morning, and a run lost then (no worker, no beat) is made
up by the next one that week. An empty digest claims its week too (``recipients``
0): the week is decided on its first run. When no message could be sent (the mail
server is down), the claim is released and the next hourly run tries again; when
some went out, the week stays delivered and the failures are logged (nobody gets
the digest twice; a crash between the claim and the send still loses the week).
Each workspace stands alone: a failure is logged with its id and the others go on.

Modules: :mod:`.common` (labels, recipients, the window), :mod:`.flags` (records),
:mod:`.notify` (alerts), :mod:`.digest`.
"""

from analytics.alerts.common import (
    ALERT_MAX_ATTEMPTS,
    DIGEST_HOUR_UTC,
    FLAG_REOPEN_DAYS,
    WINDOW_DAYS,
    monitoring_window,
    recipient_language,
)
from analytics.alerts.digest import Digest, digest_build, digest_send, digest_send_weekly
from analytics.alerts.flags import RefreshResult, flag_monitoring_run, flags_refresh
from analytics.alerts.notify import AlertDeliveryError, flag_alerts_send, flag_webhook_payload, post_signed_json

__all__ = [
    "ALERT_MAX_ATTEMPTS",
    "DIGEST_HOUR_UTC",
    "FLAG_REOPEN_DAYS",
    "WINDOW_DAYS",
    "AlertDeliveryError",
    "Digest",
    "RefreshResult",
    "digest_build",
    "digest_send",
    "digest_send_weekly",
    "flag_alerts_send",
    "flag_monitoring_run",
    "flag_webhook_payload",
    "flags_refresh",
    "monitoring_window",
    "post_signed_json",
    "recipient_language",
]
