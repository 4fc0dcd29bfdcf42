"""Delivery channels (email, webhook) and the unsubscribe page."""

from __future__ import annotations

import json
import re
import smtplib
import socket
import sys
import threading
import types
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from surveys import delivery, services
from surveys.delivery import (
    DeliveryError,
    invitation_email,
    retry_delay,
    send_email,
    send_webhook,
    webhook_signature,
    webhook_signature_valid,
)
from surveys.invitations import invitations_create
from surveys.models import Invitation, Question, Survey
from surveys.unsubscribe import customer_unsubscribe
from tests.touchpoints.factories import CustomerFactory, TouchpointFactory
from touchpoints.models import Customer, Workspace

pytestmark = pytest.mark.django_db

BASE = "https://feedback.example.com"


def make_survey(workspace: Workspace, template: str = "relationship_nps") -> Survey:
    survey = services.survey_create_from_template(workspace=workspace, template=template)
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


def invite(
    survey: Survey,
    external_id: str = "ann",
    *,
    channel: str = "email",
    language: str = "",
    customer_language: str = "",
    email: str | None = None,
) -> Invitation:
    """A new customer invited to ``survey``; ``language`` is the invitation's, ``customer_language`` theirs."""
    CustomerFactory(
        workspace=survey.workspace,
        external_id=external_id,
        email=f"{external_id}@example.com" if email is None else email,
        language=customer_language,
    )
    return invitations_create(
        workspace=survey.workspace,
        survey_id=survey.pk,
        customer_external_ids=[external_id],
        channel=channel,
        language=language,
    )[0]


def reload(invitation: Invitation) -> Invitation:
    """As the dispatcher hands it over."""
    return Invitation.objects.select_related("survey", "customer", "workspace", "touchpoint").get(pk=invitation.pk)


def html_of(message: EmailMultiAlternatives) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(content)


@pytest.fixture
def nps(workspace: Workspace) -> Survey:
    return make_survey(workspace)


# --- Email ------------------------------------------------------------------------------


class TestEmail:
    def test_nps_email_has_subject_both_alternatives_and_eleven_one_click_scores(self, nps):
        invitation = reload(invite(nps))
        send_email(invitation, base_url=BASE + "/")

        [message] = mail.outbox
        assert message.subject == "Your opinion of Acme"
        assert message.to == ["ann@example.com"]
        assert message.from_email == settings.DEFAULT_FROM_EMAIL
        form_url = f"{BASE}/s/{invitation.token}/"
        html, text = html_of(message), message.body
        intro = "We'd love your feedback. It takes less than a minute."
        question = "How likely are you to recommend Acme to a friend or colleague?"
        assert intro in text
        assert question in text
        assert escape(intro) in html
        assert escape(question) in html
        score_link = re.escape(form_url) + r"\?score=(\d+)"
        assert re.findall(rf'href="{score_link}"', html) == [str(n) for n in range(11)]
        assert re.findall(score_link, text) == [str(n) for n in range(11)]
        assert "0 (Not at all likely): " in text
        assert "10 (Extremely likely): " in text
        assert "0 = Not at all likely" in html
        assert "10 = Extremely likely" in html
        # Self-contained and accessible: language, layout tables, no images, scripts or web fonts.
        assert '<html lang="en" dir="ltr">' in html
        assert 'role="presentation"' in html
        assert "<img" not in html
        assert "<script" not in html
        assert "<link" not in html
        assert "<style" not in html  # inline styles only: many clients drop style blocks
        assert {url.split("/s/")[0] for url in re.findall(r'href="([^"]+)"', html)} == {BASE}

    def test_unsubscribe_link_and_one_click_headers(self, nps):
        invitation = reload(invite(nps))
        send_email(invitation, base_url=BASE)

        [message] = mail.outbox
        unsubscribe = f"{BASE}/s/{invitation.token}/unsubscribe/"
        headers = message.message()
        assert headers["List-Unsubscribe"] == f"<{unsubscribe}>"
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f'href="{unsubscribe}"' in html_of(message)
        assert f"Unsubscribe from these surveys: {unsubscribe}" in message.body
        assert reverse("survey-unsubscribe", args=[invitation.token]) == unsubscribe.removeprefix(BASE)

    @pytest.mark.parametrize(
        ("language", "title", "low_label"),
        [
            ("ru", "Ваше мнение о Acme", "Совсем маловероятно"),
            ("pl", "Twoja opinia o Acme", "Zupełnie nieprawdopodobne"),
            ("hu", "Az Ön véleménye: Acme", "Egyáltalán nem valószínű"),
        ],
    )
    def test_written_in_the_customers_language(self, nps, language, title, low_label):
        invitation = reload(invite(nps, customer_language=language))
        send_email(invitation, base_url=BASE)

        [message] = mail.outbox
        html = html_of(message)
        intro = nps.texts[language]["intro"]
        question = nps.questions.get(order=1).texts[language]["text"]
        assert message.subject == title
        assert intro in message.body
        assert question in message.body
        assert f"0 ({low_label})" in message.body
        assert escape(question) in html
        assert f"0 = {escape(low_label)}" in html
        assert f'<html lang="{language}"' in html
        assert html.count(f'lang="{language}"') == 2  # the page, and our own words (the footer) likewise
        assert message.message()["Content-Language"] == language
        assert "How likely" not in message.body

    def test_the_invitation_language_wins_over_the_customers(self, nps):
        invitation = reload(invite(nps, language="pl", customer_language="ru"))
        send_email(invitation, base_url=BASE)
        assert mail.outbox[0].subject == "Twoja opinia o Acme"

    def test_a_language_the_survey_lacks_falls_back_to_its_default(self, nps):
        invitation = reload(invite(nps, customer_language="de-AT"))
        send_email(invitation, base_url=BASE)
        assert mail.outbox[0].subject == "Your opinion of Acme"

    def test_a_survey_language_without_ui_strings_keeps_survey_texts_and_english_buttons(self, nps):
        texts = {**nps.texts, "de": {"title": "Ihre Meinung", "intro": "Eine Minute."}}
        Survey.objects.filter(pk=nps.pk).update(languages=[*nps.languages, "de"], texts=texts)
        question = nps.questions.get(order=1)
        Question.objects.filter(pk=question.pk).update(
            texts={**question.texts, "de": {"text": "Würden Sie uns empfehlen?", "low_label": "Nie"}}
        )
        invitation = reload(invite(nps, language="de"))
        send_email(invitation, base_url=BASE)

        [message] = mail.outbox
        html = html_of(message)
        assert message.subject == "Ihre Meinung"
        assert "Würden Sie uns empfehlen?" in message.body
        assert "0 (Nie)" in message.body
        assert "10 (Extremely likely)" in message.body  # a missing label falls back to the default language
        assert '<html lang="de"' in html
        assert 'lang="en"' in html  # the footer is in English, and says so
        assert "Unsubscribe from these surveys" in html

    def test_a_survey_that_does_not_start_with_nps_gets_one_start_button(self, workspace):
        survey = make_survey(workspace, "csat_support")
        invitation = reload(invite(survey))
        send_email(invitation, base_url=BASE)

        [message] = mail.outbox
        html, form_url = html_of(message), f"{BASE}/s/{invitation.token}/"
        assert "?score=" not in html
        assert "?score=" not in message.body
        assert message.subject == "Your support experience"
        assert re.search(rf'<a href="{re.escape(form_url)}"[^>]*>Start the survey</a>', html)
        assert f"Start the survey: {form_url}" in message.body
        assert "How satisfied were you with the support you received?" in message.body

    def test_archived_questions_are_skipped(self, nps):
        Question.objects.filter(survey=nps, order=1).update(is_archived=True)
        invitation = reload(invite(nps))
        send_email(invitation, base_url=BASE)

        [message] = mail.outbox
        assert "?score=" not in message.body
        assert "What is the main reason for your score?" in message.body

    def test_no_email_address_is_a_final_failure(self, nps):
        invitation = reload(invite(nps, email=""))
        with pytest.raises(DeliveryError) as caught:
            send_email(invitation, base_url=BASE)
        assert caught.value.retryable is False
        assert "no email address" in caught.value.message
        assert mail.outbox == []

    def test_an_unsubscribed_customer_is_never_emailed(self, nps):
        invitation = reload(invite(nps))
        Customer.objects.filter(pk=invitation.customer_id).update(unsubscribed_at=timezone.now())
        with pytest.raises(DeliveryError) as caught:
            send_email(reload(invitation), base_url=BASE)
        assert caught.value.retryable is False
        assert mail.outbox == []

    @pytest.mark.parametrize(
        ("error", "retryable"),
        [
            (smtplib.SMTPServerDisconnected("gone"), True),
            (ConnectionRefusedError(111, "refused"), True),
            (TimeoutError("timed out"), True),
            (smtplib.SMTPResponseException(451, b"try later"), True),
            (smtplib.SMTPResponseException(554, b"no"), False),
            (smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"no such user")}), False),
        ],
    )
    def test_mail_server_errors(self, nps, monkeypatch, error, retryable):
        def fail(self: EmailMultiAlternatives, fail_silently: bool = False) -> int:
            raise error

        monkeypatch.setattr(EmailMultiAlternatives, "send", fail)
        with pytest.raises(DeliveryError) as caught:
            send_email(reload(invite(nps)), base_url=BASE)
        assert caught.value.retryable is retryable

    @pytest.mark.parametrize(
        ("name", "status", "retryable"),
        [
            ("AnymailRequestsAPIError", 503, True),
            ("AnymailRequestsAPIError", 429, True),
            ("AnymailRequestsAPIError", 400, False),
            ("AnymailRecipientsRefused", None, False),
            ("AnymailConfigurationError", None, False),
            ("AnymailError", None, True),
        ],
    )
    def test_email_provider_errors(self, nps, monkeypatch, name, status, retryable):
        """django-anymail is optional; its errors (a stand-in module here) are classified too."""
        exceptions = types.ModuleType("anymail.exceptions")
        exceptions.AnymailError = type("AnymailError", (Exception,), {})
        exceptions.AnymailRecipientsRefused = type("AnymailRecipientsRefused", (exceptions.AnymailError,), {})
        exceptions.AnymailConfigurationError = type("AnymailConfigurationError", (exceptions.AnymailError,), {})
        exceptions.AnymailUnsupportedFeature = type("AnymailUnsupportedFeature", (exceptions.AnymailError,), {})
        # Like anymail's: also a requests.RequestException, so an OSError.
        exceptions.AnymailRequestsAPIError = type("AnymailRequestsAPIError", (exceptions.AnymailError, OSError), {})
        monkeypatch.setitem(sys.modules, "anymail", types.ModuleType("anymail"))
        monkeypatch.setitem(sys.modules, "anymail.exceptions", exceptions)
        error = getattr(exceptions, name)("provider said no")
        error.status_code = status

        def fail(self: EmailMultiAlternatives, fail_silently: bool = False) -> int:
            raise error

        monkeypatch.setattr(EmailMultiAlternatives, "send", fail)
        with pytest.raises(DeliveryError) as caught:
            send_email(reload(invite(nps)), base_url=BASE)
        assert caught.value.retryable is retryable

    def test_the_status_is_left_to_the_dispatcher(self, nps):
        invitation = reload(invite(nps))
        send_email(invitation, base_url=BASE)
        invitation.refresh_from_db()
        assert invitation.status == Invitation.Status.SCHEDULED
        assert invitation.delivery_attempts == 0

    def test_the_message_can_be_built_without_sending(self, nps):
        message = invitation_email(reload(invite(nps)), base_url=BASE)
        assert message.subject == "Your opinion of Acme"
        assert mail.outbox == []


def test_retry_delay_doubles_and_is_capped():
    assert [retry_delay(n) for n in range(1, 6)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert retry_delay(0) == timedelta(minutes=1)
    assert retry_delay(7) == timedelta(hours=1)
    assert retry_delay(1000) == timedelta(hours=1)
    assert delivery.WEBHOOK_MAX_ATTEMPTS == 6


def test_public_base_url_comes_from_settings(settings):
    settings.PUBLIC_BASE_URL = "https://cx.example.com/"
    assert delivery.public_base_url() == "https://cx.example.com"
    del settings.PUBLIC_BASE_URL
    assert delivery.public_base_url() == "http://127.0.0.1:8000"


# --- Webhook ----------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """A local webhook receiver: records each request and answers ``status`` (and ``headers``)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.headers: dict[str, str] = {}
        self.release = threading.Event()
        self.hold = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/journeypulse"

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that gave up: not a test failure
        pass


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # headers: case-insensitive, as HTTP header names are (urllib sends them title-cased)
        self.server.requests.append({"path": self.path, "headers": self.headers, "body": body})
        if self.server.hold:
            self.server.release.wait(5)
        status = self.server.status if len(self.server.requests) == 1 else 200
        self.send_response(status)
        for name, value in self.server.headers.items():
            self.send_header(name, value.format(port=self.server.server_address[1]))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def webhook_invitation(workspace: Workspace, nps: Survey, receiver: Receiver) -> Invitation:
    Workspace.objects.filter(pk=workspace.pk).update(webhook_url=receiver.url)
    touchpoint = TouchpointFactory(stage__journey__workspace=workspace)
    invitation = invite(nps, channel="webhook", customer_language="pl")
    Invitation.objects.filter(pk=invitation.pk).update(touchpoint=touchpoint)
    return reload(invitation)


class TestWebhook:
    def test_posts_the_signed_invitation(self, webhook_invitation, receiver, workspace):
        invitation = webhook_invitation
        now = timezone.now()
        send_webhook(invitation, base_url=BASE, now=now)

        [request] = receiver.requests
        headers, body = request["headers"], request["body"]
        assert request["path"] == "/hooks/journeypulse"
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == "JourneyPulse-Webhook/1"
        assert headers["X-JourneyPulse-Delivery"] == f"{invitation.pk}-1"
        timestamp = headers["X-JourneyPulse-Timestamp"]
        assert timestamp == str(int(now.timestamp()))
        secret = Workspace.objects.get(pk=workspace.pk).webhook_secret
        assert headers["X-JourneyPulse-Signature"] == webhook_signature(secret, int(timestamp), body)
        assert webhook_signature_valid(secret, timestamp, body, headers["X-JourneyPulse-Signature"])
        assert json.loads(body) == {
            "type": "invitation.due",
            "invitation": {
                "id": invitation.pk,
                "token": invitation.token,
                "url": f"{BASE}/s/{invitation.token}/",
                "unsubscribe_url": f"{BASE}/s/{invitation.token}/unsubscribe/",
                "survey": {"id": invitation.survey_id, "name": "Relationship NPS", "kind": "nps"},
                "customer": {"external_id": "ann", "email": "ann@example.com", "language": "pl"},
                "touchpoint": invitation.touchpoint_id,
                "channel": "webhook",
                "language": "pl",
                "send_at": invitation.send_at.isoformat(),
                "expires_at": invitation.expires_at.isoformat(),
            },
        }

    def test_the_signature_recipe_refuses_tampering_other_secrets_and_replays(self, webhook_invitation, receiver):
        now = timezone.now()
        send_webhook(webhook_invitation, base_url=BASE, now=now)
        [request] = receiver.requests
        secret = webhook_invitation.workspace.webhook_secret
        timestamp, body = request["headers"]["X-JourneyPulse-Timestamp"], request["body"]
        signature = request["headers"]["X-JourneyPulse-Signature"]
        assert signature.startswith("sha256=")
        assert len(signature) == len("sha256=") + 64
        assert webhook_signature_valid(secret, timestamp, body, signature, now=now + timedelta(minutes=4))
        assert not webhook_signature_valid(secret, timestamp, body + b" ", signature, now=now)
        assert not webhook_signature_valid("another secret", timestamp, body, signature, now=now)
        assert not webhook_signature_valid(secret, str(int(timestamp) + 1), body, signature, now=now)
        assert not webhook_signature_valid(secret, timestamp, body, signature, now=now + timedelta(minutes=6))
        assert not webhook_signature_valid(secret, timestamp, body, signature, now=now - timedelta(minutes=6))
        assert not webhook_signature_valid(secret, "12e3", body, signature, now=now)
        assert not webhook_signature_valid(secret, timestamp, body, "sha256=ü", now=now)

    def test_the_attempt_number_follows_the_tries_so_far(self, webhook_invitation, receiver):
        webhook_invitation.delivery_attempts = 2
        send_webhook(webhook_invitation, base_url=BASE)
        assert receiver.requests[0]["headers"]["X-JourneyPulse-Delivery"] == f"{webhook_invitation.pk}-3"

    @pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (408, True)])
    def test_server_errors_and_throttling_are_retried(self, webhook_invitation, receiver, status, retryable):
        receiver.status = status
        with pytest.raises(DeliveryError) as caught:
            send_webhook(webhook_invitation, base_url=BASE)
        assert caught.value.retryable is retryable
        assert str(status) in caught.value.message

    @pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
    def test_other_client_errors_are_final(self, webhook_invitation, receiver, status):
        receiver.status = status
        with pytest.raises(DeliveryError) as caught:
            send_webhook(webhook_invitation, base_url=BASE)
        assert caught.value.retryable is False

    def test_a_refused_connection_is_retried(self, webhook_invitation, workspace):
        with socket.socket() as probe:  # a port nobody listens on once closed
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        Workspace.objects.filter(pk=workspace.pk).update(webhook_url=f"http://127.0.0.1:{port}/hook")
        with pytest.raises(DeliveryError) as caught:
            send_webhook(reload(webhook_invitation), base_url=BASE)
        assert caught.value.retryable is True

    def test_a_slow_receiver_times_out_and_is_retried(self, webhook_invitation, receiver, monkeypatch):
        monkeypatch.setattr(delivery, "WEBHOOK_TIMEOUT_SECONDS", 0.2)
        receiver.hold = True
        with pytest.raises(DeliveryError) as caught:
            send_webhook(webhook_invitation, base_url=BASE)
        assert caught.value.retryable is True

    def test_a_redirect_to_another_host_is_not_followed(self, webhook_invitation, receiver):
        receiver.status = 307
        receiver.headers = {"Location": "http://localhost:{port}/elsewhere"}
        with pytest.raises(DeliveryError) as caught:
            send_webhook(webhook_invitation, base_url=BASE)
        assert caught.value.retryable is False
        assert [request["path"] for request in receiver.requests] == ["/hooks/journeypulse"]

    def test_a_redirect_on_the_same_host_reposts_the_signed_body(self, webhook_invitation, receiver):
        receiver.status = 308
        receiver.headers = {"Location": "/hooks/v2"}
        send_webhook(webhook_invitation, base_url=BASE)
        first, second = receiver.requests
        assert second["path"] == "/hooks/v2"
        assert second["body"] == first["body"]
        assert second["headers"]["X-JourneyPulse-Signature"] == first["headers"]["X-JourneyPulse-Signature"]

    @pytest.mark.parametrize("url", ["", "ftp://example.com/hook", "file:///etc/passwd", "https://"])
    def test_a_missing_or_non_http_url_is_final(self, webhook_invitation, workspace, url):
        Workspace.objects.filter(pk=workspace.pk).update(webhook_url=url)
        with pytest.raises(DeliveryError) as caught:
            send_webhook(reload(webhook_invitation), base_url=BASE)
        assert caught.value.retryable is False

    def test_an_unsubscribed_customer_is_not_sent(self, webhook_invitation, receiver):
        Customer.objects.filter(pk=webhook_invitation.customer_id).update(unsubscribed_at=timezone.now())
        with pytest.raises(DeliveryError) as caught:
            send_webhook(reload(webhook_invitation), base_url=BASE)
        assert caught.value.retryable is False
        assert receiver.requests == []


# --- Unsubscribe ------------------------------------------------------------------------


def unsubscribe_path(invitation: Invitation) -> str:
    return reverse("survey-unsubscribe", args=[invitation.token])


class TestUnsubscribe:
    def test_get_shows_the_button_in_the_customers_language_and_changes_nothing(self, client, nps):
        invitation = invite(nps, customer_language="ru")
        response = client.get(unsubscribe_path(invitation))
        html = response.content.decode()
        assert response.status_code == 200
        assert '<html lang="ru">' in html
        assert re.search(r'<form method="post">.*<button type="submit">[^<]+</button>.*</form>', html, re.S)
        assert "Acme" in html
        assert response["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert Customer.objects.get(external_id="ann").unsubscribed_at is None

    def test_post_unsubscribes_and_suppresses_scheduled_invitations(self, nps, workspace):
        sent = invite(nps)  # the one whose link is used
        Invitation.objects.filter(pk=sent.pk).update(status=Invitation.Status.SENT, sent_at=timezone.now())
        other_survey = make_survey(workspace, "csat_support")
        pending = invitations_create(
            workspace=workspace, survey_id=other_survey.pk, customer_external_ids=["ann"], channel="email"
        )[0]
        someone_else = invite(nps, "bob")

        response = Client(enforce_csrf_checks=True).post(unsubscribe_path(sent))

        assert response.status_code == 200
        assert "You are unsubscribed" in response.content.decode()
        assert "<button" not in response.content.decode()
        assert Customer.objects.get(external_id="ann").unsubscribed_at is not None
        pending.refresh_from_db()
        assert pending.status == Invitation.Status.SUPPRESSED
        assert pending.suppressed_at is not None
        sent.refresh_from_db()
        assert sent.status == Invitation.Status.SENT
        someone_else.refresh_from_db()
        assert someone_else.status == Invitation.Status.SCHEDULED
        assert Customer.objects.get(external_id="bob").unsubscribed_at is None

    def test_one_click_post_from_a_mail_client(self, nps):
        """RFC 8058: a server-side POST, no cookie, no CSRF token, a foreign Origin or none."""
        invitation = invite(nps)
        send_email(reload(invitation), base_url="http://testserver")
        header = mail.outbox[0].message()["List-Unsubscribe"]
        path = header.strip("<>").removeprefix("http://testserver")

        response = Client(enforce_csrf_checks=True).post(
            path,
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
            headers={"Origin": "https://mail.example.net"},
        )

        assert response.status_code == 200
        assert Customer.objects.get(external_id="ann").unsubscribed_at is not None

    def test_unsubscribing_twice_keeps_the_first_time(self, client, nps):
        invitation = invite(nps)
        first = timezone.now() - timedelta(days=3)
        customer = Customer.objects.get(external_id="ann")
        assert customer_unsubscribe(customer=customer, now=first) is True
        assert customer_unsubscribe(customer=customer) is False
        assert customer.unsubscribed_at == first
        assert client.post(unsubscribe_path(invitation)).status_code == 200
        assert Customer.objects.get(pk=customer.pk).unsubscribed_at == first
        page = client.get(unsubscribe_path(invitation)).content.decode()
        assert "You are unsubscribed" in page
        assert "<button" not in page

    def test_an_expired_invitation_still_unsubscribes(self, client, nps):
        invitation = invite(nps)
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
        assert client.post(unsubscribe_path(invitation)).status_code == 200
        assert Customer.objects.get(external_id="ann").unsubscribed_at is not None

    @pytest.mark.parametrize("token", ["x" * 43, "nope", "x" * 65, "a%00" + "b" * 40, "%00" * 20])
    @pytest.mark.parametrize("method", ["get", "post"])
    def test_unknown_or_malformed_tokens_are_a_404(self, client, nps, token, method):
        invite(nps)
        response = getattr(client, method)(f"/s/{token}/unsubscribe/")
        assert response.status_code == 404
        assert "Survey not found" in response.content.decode()
        assert Customer.objects.get(external_id="ann").unsubscribed_at is None

    def test_other_methods_are_refused(self, client, nps):
        invitation = invite(nps)
        assert client.put(unsubscribe_path(invitation)).status_code == 405
        assert Customer.objects.get(external_id="ann").unsubscribed_at is None
