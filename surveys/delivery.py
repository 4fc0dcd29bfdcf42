"""Channel adapters: send one due invitation by email or by webhook.

The dispatcher (:mod:`surveys.dispatch`) picks due ``scheduled`` invitations and
calls :func:`send_email` or :func:`send_webhook` for each. An adapter returns
normally when the invitation went out and raises :class:`DeliveryError` when it
did not, saying whether trying again later may help. Adapters never change the
invitation: moving it to ``sent``, ``failed`` or a later retry (with
:func:`retry_delay`, up to :data:`WEBHOOK_MAX_ATTEMPTS`) is the dispatcher's job.

Both refuse a customer who has unsubscribed (not retryable), so a race between
the unsubscribe link and the dispatcher never contacts them again.

Error messages end up in ``Invitation.last_error``: short, in English, without
the remote server's response body (the webhook URL is chosen by a workspace
admin; echoing what an internal address answered would leak it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from http.client import HTTPException, InvalidURL
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import get_supported_language_variant
from django.utils.translation import gettext as _

from surveys.models import SCALES, Invitation, Question
from surveys.texts import text_for

logger = logging.getLogger(__name__)

#: Webhook tries before an invitation is ``failed`` (the dispatcher reads it).
WEBHOOK_MAX_ATTEMPTS = 6
#: The pause after the first failed try; each further failure doubles it, up to the cap.
RETRY_FIRST_DELAY = timedelta(minutes=1)
RETRY_MAX_DELAY = timedelta(hours=1)
#: Seconds to connect and to wait for each read of a webhook response.
WEBHOOK_TIMEOUT_SECONDS = 10
#: How far a webhook timestamp may be from the receiver's clock (replay protection).
WEBHOOK_TOLERANCE_SECONDS = 5 * 60
WEBHOOK_USER_AGENT = "JourneyPulse-Webhook/1"
#: Statuses after which the same request may succeed later.
RETRYABLE_STATUSES = frozenset({408, 429})
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
LAST_ERROR_MAX_LENGTH = 500


class DeliveryError(Exception):
    """An invitation could not be delivered; ``retryable`` says whether a later try may work."""

    def __init__(self, message: str, retryable: bool) -> None:
        message = message[:LAST_ERROR_MAX_LENGTH]
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"DeliveryError({self.message!r}, retryable={self.retryable})"


def retry_delay(attempts: int) -> timedelta:
    """The pause before the next try after ``attempts`` failed ones: 1, 2, 4, 8, 16… minutes, at most an hour.

    Deterministic (no jitter), so a test or an operator can tell when the next try is due.
    """
    exponent = min(max(attempts, 1) - 1, 16)  # 2**16 minutes is far past the cap already
    return min(RETRY_FIRST_DELAY * 2**exponent, RETRY_MAX_DELAY)


def public_base_url() -> str:
    """The site's public origin for links in emails and webhooks (``settings.PUBLIC_BASE_URL``), no trailing slash."""
    return str(getattr(settings, "PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL) or DEFAULT_PUBLIC_BASE_URL).rstrip("/")


def survey_url(invitation: Invitation, *, base_url: str) -> str:
    return base_url.rstrip("/") + reverse("survey-form", args=[invitation.token])


def unsubscribe_url(invitation: Invitation, *, base_url: str) -> str:
    return base_url.rstrip("/") + reverse("survey-unsubscribe", args=[invitation.token])


def invitation_language(invitation: Invitation) -> str:
    """The survey language to write in: the invitation's, then the customer's, among the survey's; else its default.

    Like the public form's choice (:func:`surveys.views.form_language`), without a browser to ask.
    """
    survey = invitation.survey
    for candidate in (invitation.language, invitation.customer.language):
        if not candidate:
            continue
        for code in (candidate, candidate.split("-")[0]):
            if code in survey.languages:
                return code
    return survey.default_language


def ui_language(language: str) -> str:
    """Our own words (buttons, footer) in ``language`` when ``settings.LANGUAGES`` has it (``pl-PL`` → ``pl``),
    else English; the same choice as the public form's (:func:`surveys.views.ui_language`)."""
    try:
        return get_supported_language_variant(language)
    except LookupError:
        return "en"


def _refuse_unsubscribed(invitation: Invitation) -> None:
    if invitation.customer.unsubscribed_at is not None:
        raise DeliveryError("The customer has unsubscribed.", retryable=False)


# --- Email ------------------------------------------------------------------------------


def _first_question(invitation: Invitation) -> Question | None:
    return invitation.survey.questions.filter(is_archived=False).order_by("order").first()


def email_context(invitation: Invitation, *, base_url: str, language: str) -> dict[str, Any]:
    """What the email templates show, in the survey ``language`` (survey texts) and the active UI language."""
    survey = invitation.survey
    default = survey.default_language
    question = _first_question(invitation)
    start_url = survey_url(invitation, base_url=base_url)
    title = " ".join(text_for(survey.texts, "title", language, default).split())
    context: dict[str, Any] = {
        "language": language,
        "ui_language": translation.get_language(),
        "direction": "rtl" if language.split("-")[0].lower() in settings.LANGUAGES_BIDI else "ltr",
        "subject": (title or _("We would love your feedback"))[:200],
        "title": title,
        "intro": text_for(survey.texts, "intro", language, default),
        "question_text": text_for(question.texts, "text", language, default) if question else "",
        "low_label": "",
        "high_label": "",
        "scores": [],
        "start_url": start_url,
        "unsubscribe_url": unsubscribe_url(invitation, base_url=base_url),
        "company": invitation.workspace.name,
    }
    if question is not None and question.type == Question.Type.NPS:
        low, high = SCALES[Question.Type.NPS]
        context["low_label"] = text_for(question.texts, "low_label", language, default)
        context["high_label"] = text_for(question.texts, "high_label", language, default)
        context["scores"] = [{"value": score, "url": f"{start_url}?score={score}"} for score in range(low, high + 1)]
    return context


def invitation_email(invitation: Invitation, *, base_url: str) -> EmailMultiAlternatives:
    """The invitation email (plain text with an HTML alternative), ready to send.

    Raises :class:`DeliveryError` (not retryable) when the customer has no email address.
    """
    address = invitation.customer.email.strip()
    if not address:
        raise DeliveryError("The customer has no email address.", retryable=False)
    language = invitation_language(invitation)
    with translation.override(ui_language(language)):
        context = email_context(invitation, base_url=base_url, language=language)
        text_body = render_to_string("surveys/email/invitation.txt", context)
        html_body = render_to_string("surveys/email/invitation.html", context)
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=text_body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={
            # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs to this URL.
            "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Content-Language": language,
        },
    )
    message.attach_alternative(html_body, "text/html")
    return message


def _provider_errors() -> tuple[type[Exception], ...]:
    """django-anymail's base error when it is installed (it is optional: SMTP needs nothing)."""
    try:
        from anymail.exceptions import AnymailError
    except ImportError:
        return ()
    return (AnymailError,)


def _provider_error(exc: Exception) -> DeliveryError:
    """An email provider's (anymail's) error: final for a refused address, bad settings or a 4xx, else retryable."""
    from anymail.exceptions import AnymailConfigurationError, AnymailRecipientsRefused, AnymailUnsupportedFeature

    status = getattr(exc, "status_code", None)
    if isinstance(exc, AnymailRecipientsRefused):
        return DeliveryError("The email provider refused the address.", retryable=False)
    if isinstance(exc, AnymailConfigurationError | AnymailUnsupportedFeature):
        return DeliveryError(f"The email provider is not set up correctly: {type(exc).__name__}.", retryable=False)
    if isinstance(status, int) and 400 <= status < 500 and status not in RETRYABLE_STATUSES:
        return DeliveryError(f"The email provider answered {status}.", retryable=False)
    return DeliveryError(f"The email provider failed: {type(exc).__name__}.", retryable=True)


def send_email(invitation: Invitation, *, base_url: str) -> None:
    """Email the invitation to its customer through Django's mail backend (SMTP, or any provider via anymail).

    Not retryable: no address, an unsubscribed customer, an address the server refuses for good
    (5xx) or cannot be encoded, a provider's 4xx or configuration error. Retryable: connection
    failures, timeouts, temporary (4xx) SMTP replies, a provider's 5xx, 408 or 429.
    """
    _refuse_unsubscribed(invitation)
    message = invitation_email(invitation, base_url=base_url)
    try:
        message.send()
    except _provider_errors() as exc:  # first: anymail's HTTP errors are OSErrors too (requests')
        raise _provider_error(exc) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError("The mail server refused the address.", retryable=False) from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"The mail server answered {exc.smtp_code}.", retryable=exc.smtp_code < 500) from exc
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts, DNS
        raise DeliveryError(f"Could not reach the mail server: {type(exc).__name__}.", retryable=True) from exc
    except ValueError as exc:  # an address Django cannot encode into a header
        raise DeliveryError("The email address is not valid.", retryable=False) from exc
    logger.info(
        "invitation email sent", extra={"invitation_id": invitation.pk, "workspace_id": invitation.workspace_id}
    )


# --- Webhook ----------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-JourneyPulse-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``f"{timestamp}.{body}"``.

    To verify a request on your server, take the raw body bytes and the two headers, then::

        import hashlib, hmac, time

        def verify(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
                return False  # too old or from the future: a replay
            message = timestamp.encode() + b"." + body
            expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature)

    The timestamp is signed with the body, so an old request cannot be replayed with a new
    timestamp. Compare in constant time (``hmac.compare_digest``), never with ``==``.
    """
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def webhook_signature_valid(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    now: datetime | None = None,
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``signature`` (the header value) signs ``body`` at ``timestamp``, within ``tolerance_seconds`` of now.

    The reference implementation of the recipe in :func:`webhook_signature`.
    """
    text = str(timestamp)
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        return False
    current = (now or timezone.now()).timestamp()
    if abs(current - int(text)) > tolerance_seconds:
        return False
    expected = webhook_signature(secret, int(text), body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "surrogateescape"))


def webhook_payload(invitation: Invitation, *, base_url: str) -> dict[str, Any]:
    """The JSON body of the ``invitation.due`` webhook: what the receiver needs to invite the customer itself."""
    survey, customer = invitation.survey, invitation.customer
    return {
        "type": "invitation.due",
        "invitation": {
            "id": invitation.pk,
            "token": invitation.token,
            "url": survey_url(invitation, base_url=base_url),
            "unsubscribe_url": unsubscribe_url(invitation, base_url=base_url),
            "survey": {"id": survey.pk, "name": survey.name, "kind": survey.kind},
            "customer": {"external_id": customer.external_id, "email": customer.email, "language": customer.language},
            "touchpoint": invitation.touchpoint_id,
            "channel": invitation.channel,
            "language": invitation_language(invitation),
            "send_at": invitation.send_at.isoformat(),
            "expires_at": invitation.expires_at.isoformat(),
        },
    }


class _SameHostRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow a 301, 302, 307 or 308 only to the same host (``http`` → ``https``, never back), re-posting the body.

    Anything else is refused: the 3xx then surfaces as an ``HTTPError``.
    """

    max_redirections = 3

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if code == 303:  # "see other": the POST was handled elsewhere; not a delivery we can confirm
            return None
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if new.scheme not in ("http", "https") or (old.scheme, new.scheme) == ("https", "http"):
            return None
        if (new.hostname or "").lower() != (old.hostname or "").lower():
            return None
        return urllib.request.Request(newurl, data=req.data, headers=dict(req.headers), method="POST")  # noqa: S310


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_SameHostRedirectHandler())


def send_webhook(invitation: Invitation, *, base_url: str, now: datetime | None = None) -> None:
    """POST the invitation, signed, to the workspace's webhook URL; a 2xx answer is a delivery.

    Headers: ``X-JourneyPulse-Timestamp`` (unix seconds), ``X-JourneyPulse-Signature``
    (:func:`webhook_signature`), ``X-JourneyPulse-Delivery`` (``<invitation id>-<attempt>``, the
    attempt being ``delivery_attempts + 1``: a receiver drops duplicates by the invitation id).
    Retryable: 408, 429, 5xx, connection failures and timeouts. Not retryable: no URL, a URL that
    is not http(s), other 4xx, redirects to another host.
    """
    _refuse_unsubscribed(invitation)
    workspace = invitation.workspace
    url = workspace.webhook_url.strip()
    if not url:
        raise DeliveryError("The workspace has no webhook URL.", retryable=False)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise DeliveryError("The webhook URL is not valid.", retryable=False) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError("The webhook URL must start with https:// or http://.", retryable=False)
    body = json.dumps(webhook_payload(invitation, base_url=base_url), separators=(",", ":")).encode("utf-8")
    timestamp = int((now or timezone.now()).timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": WEBHOOK_USER_AGENT,
        "X-JourneyPulse-Timestamp": str(timestamp),
        "X-JourneyPulse-Signature": webhook_signature(workspace.webhook_secret, timestamp, body),
        "X-JourneyPulse-Delivery": f"{invitation.pk}-{invitation.delivery_attempts + 1}",
    }
    try:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - scheme checked
        with _opener().open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        status = exc.code
        if 300 <= status < 400:
            raise DeliveryError(f"The webhook URL redirected ({status}); use the final URL.", retryable=False) from exc
        retryable = status in RETRYABLE_STATUSES or status >= 500
        raise DeliveryError(f"The webhook answered {status}.", retryable=retryable) from exc
    except urllib.error.URLError as exc:  # refused, DNS, TLS: the reason is ours to show, not the server's body
        reason = exc.reason if isinstance(exc.reason, str) else type(exc.reason).__name__
        raise DeliveryError(f"Could not reach the webhook: {reason}.", retryable=True) from exc
    except (InvalidURL, ValueError) as exc:  # a malformed URL (InvalidURL is also an HTTPException)
        raise DeliveryError("The webhook URL is not valid.", retryable=False) from exc
    except (TimeoutError, HTTPException, OSError) as exc:  # timed out, hung up, reset
        message = f"The webhook did not answer in time or hung up: {type(exc).__name__}."
        raise DeliveryError(message, retryable=True) from exc
    logger.info(
        "invitation webhook delivered",
        extra={"invitation_id": invitation.pk, "workspace_id": workspace.pk, "status": status},
    )
