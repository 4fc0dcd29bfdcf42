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
  people close cases, not statistics. If the flag comes back later it is a new
  record, a new case and a new alert: something that went away and returned is
  news. (A flag that wobbles around the significance line can therefore alert
  more than once a month; the multiplicity correction keeps that rare.)

One journey is recorded in one short transaction that locks the journey row, so
two overlapping refreshes cannot both find a flag new; the partial unique
constraint ``friction_flag_open_once`` backs that up. Reasons are written in the
workspace's default language.

Alerts (:func:`flag_alerts_send`, right after each refresh)
---------------------------------
New records are claimed (``select_for_update(skip_locked)``, a lease of
:data:`ALERT_LEASE`) and alerted outside any transaction:

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
resolved before its alert went out is not alerted. A channel with nobody to
reach (no recipient, no URL) counts as done. Delivery is at least once: a process
killed between the send and the stamp sends again after the lease.

Weekly digest (:func:`digest_send_weekly`, Monday 07:00 UTC)
-------------------------------------------------------------
To each workspace's admins, designers and analysts (:data:`DIGEST_ROLES`; it holds
no customer data), HTML and text, in :func:`recipient_language`: per active
journey the stage table over the last 28 complete UTC days (NPS with its 95%
interval or "insufficient data", answers, response rate, open flags of the stage and
its touchpoints), the flags first seen in the last 7 days, and the follow-up
figures. A workspace with no answers, no invitations and no new flag gets nothing.
A :class:`analytics.models.DigestDelivery` row per workspace and ISO week makes a
rerun send nothing twice.

Modules: :mod:`.common` (labels, recipients, the window), :mod:`.flags` (records),
:mod:`.notify` (alerts), :mod:`.digest`.
"""

from analytics.alerts.common import ALERT_MAX_ATTEMPTS, WINDOW_DAYS, monitoring_window, recipient_language
from analytics.alerts.digest import Digest, digest_build, digest_send, digest_send_weekly
from analytics.alerts.flags import RefreshResult, flag_monitoring_run, flags_refresh
from analytics.alerts.notify import AlertDeliveryError, flag_alerts_send, flag_webhook_payload, post_signed_json

__all__ = [
    "ALERT_MAX_ATTEMPTS",
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
