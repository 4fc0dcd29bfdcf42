"""Sending batches to the public events API: the HTTP client, its errors, and the pacer.

:class:`EventsClient` uses the standard library only, to exercise the API as any
client would. It retries connection errors, 429 and 5xx with backoff (the message
ids make a retried batch safe) and raises :class:`SimulationError` with a readable
message for everything else. :class:`Pacer` keeps to an events-per-second rate.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.urls import reverse
from django.utils.translation import gettext as _


class SimulationError(Exception):
    """Something the user must fix (or wait for); the message says what, in their language."""


class KeyRejected(SimulationError):
    """The server answered 401 or 403: the key is unknown, revoked or may not send events."""


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Totals:
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    sent: int = 0
    #: (field, message) -> how many items the server refused for it.
    error_kinds: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, result: BatchResult, sent: int) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.errors += len(result.errors)
        self.sent += sent
        for error in result.errors:
            self.error_kinds[(str(error.get("field", "")), str(error.get("message", "")))] += 1


class _Response(Protocol):
    status: int

    def read(self) -> bytes: ...

    def close(self) -> None: ...


Opener = Callable[[urllib.request.Request, float], _Response]


class _Retryable(Exception):
    def __init__(self, reason: str, *, wait_seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait_seconds = reason, wait_seconds


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would become a GET: refuse and tell the user the right address instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_opener(url: str) -> Opener:
    """``urlopen`` without redirects, and without the environment's proxy for a server on this machine."""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if _is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    director = urllib.request.build_opener(*handlers)
    return lambda request, timeout: director.open(request, timeout=timeout)


def _server_message(body: bytes) -> str:
    """The message of our error shape (or DRF's ``detail``), else the start of the body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(data.get("detail"), str):
            return data["detail"]
    return text[:200]


def _ingest_result(body: bytes) -> BatchResult | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("accepted"), int):
        return None
    errors = data.get("errors")
    return BatchResult(
        accepted=data["accepted"],
        duplicates=int(data.get("duplicates") or 0),
        errors=[error for error in errors if isinstance(error, dict)] if isinstance(errors, list) else [],
    )


class EventsClient:
    """Posts batches to ``<base_url>/api/v1/events`` with a bearer key; see the module docstring."""

    user_agent = "JourneyPulse-simulate_journey (Python urllib)"

    def __init__(
        self,
        *,
        base_url: str,
        key: str,
        tries: int = 4,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 30.0,
        opener: Opener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.endpoint = self.base_url + reverse("api:event-ingest")
        self.key = key
        self.tries = tries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.opener = opener or default_opener(self.endpoint)
        self.sleep = sleep

    def check(self) -> None:
        """Send an empty batch once: proves the server answers and takes the key, and stores nothing."""
        try:
            self._post([])
        except _Retryable as problem:
            raise SimulationError(self._unreachable(problem.reason)) from None

    def send(self, items: list[dict[str, Any]]) -> BatchResult:
        """Post one batch, retrying what may pass (the same body each time, so nothing is stored twice)."""
        body = json.dumps({"batch": items}, ensure_ascii=False).encode("utf-8")
        reason = ""
        for attempt in range(self.tries):
            try:
                return self._post_body(body)
            except _Retryable as problem:
                reason = problem.reason
                if attempt + 1 < self.tries:
                    backoff = self.backoff_seconds * 2**attempt
                    self.sleep(min(30.0, problem.wait_seconds) if problem.wait_seconds is not None else backoff)
        raise SimulationError(
            _("Gave up on a batch after %(tries)d tries: %(reason)s") % {"tries": self.tries, "reason": reason}
        )

    def _post(self, items: list[dict[str, Any]]) -> BatchResult:
        return self._post_body(json.dumps({"batch": items}).encode("utf-8"))

    def _post_body(self, body: bytes) -> BatchResult:
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s) by the command
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.key}",
                "User-Agent": self.user_agent,
            },
        )
        try:
            response = self.opener(request, self.timeout_seconds)
            try:
                status, payload = response.status, response.read()
            finally:
                response.close()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read() if error.fp else b""
            return self._refused(status, payload, error.headers.get("Location", ""), error.headers.get("Retry-After"))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise _Retryable(str(reason) or error.__class__.__name__) from error
        result = _ingest_result(payload)
        if result is None:
            raise SimulationError(
                _("%(url)s did not answer like a JourneyPulse server (HTTP %(status)d). Check --url.")
                % {"url": self.endpoint, "status": status}
            )
        return result

    def _refused(self, status: int, payload: bytes, location: str, retry_after: str | None) -> BatchResult:
        message = _server_message(payload)
        if status == 400 and (result := _ingest_result(payload)) is not None:
            return result  # nothing in the batch was valid: the errors say why
        if status in (401, 403):
            raise KeyRejected(
                _(
                    "The server refused the key (HTTP %(status)d: %(message)s). Check --key, or leave it out "
                    "to have a temporary write key created for the workspace."
                )
                % {"status": status, "message": message}
            )
        if status == 429 or status >= 500:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise _Retryable(
                _("HTTP %(status)d from %(url)s") % {"status": status, "url": self.endpoint}, wait_seconds=wait
            )
        if 300 <= status < 400:
            raise SimulationError(
                _("%(url)s redirects to %(location)s; pass the server's address there as --url.")
                % {"url": self.endpoint, "location": location or "?"}
            )
        if status == 413:
            raise SimulationError(
                _("The server found a batch too large (HTTP 413: %(message)s); use a smaller --batch-size.")
                % {"message": message}
            )
        if status in (404, 405):
            raise SimulationError(
                _("%(url)s answered HTTP %(status)d: is --url the address of a JourneyPulse server?")
                % {"url": self.endpoint, "status": status}
            )
        raise SimulationError(
            _("The server answered HTTP %(status)d: %(message)s") % {"status": status, "message": message}
        )

    def _unreachable(self, reason: str) -> str:
        return _(
            "Cannot reach JourneyPulse at %(url)s (%(reason)s). Is the server running? "
            "Start it with “make run”, or give its address with --url."
        ) % {"url": self.base_url, "reason": reason}


class Pacer:
    """Waits before each batch so that at most ``rate`` events per second go out (0: no limit)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started: float | None = None

    def wait(self, sent: int) -> None:
        """Before sending more, ``sent`` events having gone out already."""
        if self.rate <= 0:
            return
        if self.started is None:
            self.started = self.clock()
        delay = self.started + sent / self.rate - self.clock()
        if delay > 0:
            self.sleep(delay)
