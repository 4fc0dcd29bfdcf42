"""Friction flag records, the alert each new flag raises once, flag cases, and the weekly digest."""

from __future__ import annotations

import html
import json
import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from analytics import alerts
from analytics.alerts import digest_send_weekly, flag_alerts_send, flag_monitoring_run
from analytics.alerts.common import ALERT_LEASE, ALERT_MAX_ATTEMPTS
from analytics.models import CaseSource, DigestDelivery, FollowUpCase, FrictionFlagRecord
from analytics.tasks import refresh_flags, send_weekly_digest
from surveys.delivery import webhook_signature_valid
from surveys.models import Invitation
from tests.analytics.factories import Feedback, customers_create, feedback_create, journey_setup
from tests.touchpoints.factories import MembershipFactory, UserFactory
from touchpoints.models import Journey, Role, Touchpoint, Workspace
from touchpoints.permissions import SESSION_WORKSPACE_KEY

pytestmark = pytest.mark.django_db

TEAMS = ("Marketing", "Checkout team", "Support")


def add_feedback(setup, customers, touchpoint, *, bad: bool, count: int = 120, seed: int = 5, days: int = 20) -> None:
    """``count`` NPS answers at ``touchpoint`` over the last ``days`` days: mostly detractors when ``bad``."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    weights = [0.6, 0.25, 0.15] if bad else [0.1, 0.3, 0.6]
    now = timezone.now()
    items = []
    for _ in range(count):
        low, high = rng.choices([(0, 6), (7, 8), (9, 10)], weights)[0]
        sent = now - timedelta(days=rng.randrange(1, days), hours=rng.randrange(24))
        items.append(
            Feedback(
                customer=rng.choice(customers),
                touchpoint=touchpoint,
                sent_at=sent,
                scores={"nps": rng.randint(low, high)},
            )
        )
    feedback_create(setup, items)


def nps_journey(workspace: Workspace):
    """Three stages of one touchpoint each (owner teams in :data:`TEAMS`); stage 2 has many detractors."""
    setup = journey_setup(workspace=workspace, stages=3, touchpoints_per_stage=1)
    for touchpoint, team in zip(setup.touchpoints, TEAMS, strict=True):
        Touchpoint.objects.filter(pk=touchpoint.pk).update(owner_team=team)
    customers = customers_create(workspace=workspace, count=40)
    for index, touchpoint in enumerate(setup.touchpoints):
        add_feedback(setup, customers, touchpoint, bad=index == 1, seed=index)
    setup.customers = customers
    return setup


@pytest.fixture
def members(workspace):
    """One member per role, each with an email address."""
    return {
        role: MembershipFactory(workspace=workspace, role=role, user=UserFactory(username=f"{role}-person")).user
        for role in Role.values
    }


class Receiver(ThreadingHTTPServer):
    """A local webhook receiver: records each request and answers ``status``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.requests: list[dict[str, Any]] = []
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/flags"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"headers": self.headers, "body": body})
        self.send_response(self.server.status)
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
    server.shutdown()
    server.server_close()
    thread.join(5)


def stage_flags(setup, stage_index: int = 1):
    return FrictionFlagRecord.objects.filter(journey=setup.journey, level="stage", unit_id=setup.stages[stage_index].pk)


# --- Records and cases --------------------------------------------------------------------


def test_a_new_flag_is_recorded_with_a_case_for_the_owner_team(workspace, members):
    setup = nps_journey(workspace)
    result = flag_monitoring_run(workspace=workspace)
    record = stage_flags(setup).get(kind="below_journey")
    assert record.is_open
    assert record.severity in ("low", "medium", "high")
    assert "NPS" in record.reason
    assert record.evidence
    assert record.first_seen_at == record.last_seen_at
    assert (record.window_until - record.window_since).days == alerts.WINDOW_DAYS - 1
    assert result.opened == FrictionFlagRecord.objects.count() >= 1
    case = FollowUpCase.objects.get(flag=record)
    assert (case.source, case.status, case.stage_id, case.journey_id) == (
        "flag",
        "open",
        record.stage_id,
        setup.journey.pk,
    )
    assert case.owner_team == "Checkout team"  # the stage's touchpoints' team
    assert case.customer_id is None
    assert case.response_id is None
    assert case.due_at > case.opened_at + timedelta(days=4)  # five business days
    # a touchpoint flag takes its touchpoint's team
    for point_case in FollowUpCase.objects.filter(flag__level="touchpoint"):
        assert point_case.owner_team == Touchpoint.objects.get(pk=point_case.touchpoint_id).owner_team
    assert FollowUpCase.objects.filter(source=CaseSource.FLAG).count() == FrictionFlagRecord.objects.count()


def test_a_second_refresh_with_the_same_data_sends_nothing(workspace, members, receiver):
    Workspace.objects.filter(pk=workspace.pk).update(webhook_url=receiver.url)
    setup = nps_journey(workspace)
    refresh_flags(workspace_id=workspace.pk)
    flags = FrictionFlagRecord.objects.count()
    emails, posts = len(mail.outbox), len(receiver.requests)
    assert flags >= 1
    assert emails == 2
    assert posts == flags
    first = stage_flags(setup).get(kind="below_journey")
    later = timezone.now() + timedelta(hours=1)
    result = flag_monitoring_run(workspace=workspace, now=later)
    assert (result.opened, result.seen, result.resolved, result.alerted) == (0, flags, 0, 0)
    assert (len(mail.outbox), len(receiver.requests)) == (emails, posts)
    assert FrictionFlagRecord.objects.count() == flags
    assert FollowUpCase.objects.count() == flags
    again = FrictionFlagRecord.objects.get(pk=first.pk)
    assert again.first_seen_at == first.first_seen_at
    assert again.last_seen_at == later
    assert again.alerted_at == first.alerted_at


def test_alert_email_goes_to_admins_and_designers_once_per_person(workspace, members):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [members[Role.ADMIN].email, members[Role.DESIGNER].email]
    )
    message = mail.outbox[0]
    flags = FrictionFlagRecord.objects.count()
    assert str(flags) in message.subject or "Below the journey" in message.subject
    assert "Below the journey" in message.body
    assert setup.journey.name in message.body
    assert "Stage 2" in message.body
    assert "Checkout team" in message.body
    case = FollowUpCase.objects.get(flag=stage_flags(setup).get(kind="below_journey"))
    assert f"/follow-up/{case.pk}/" in message.body
    html = message.alternatives[0][0]
    assert f"/follow-up/{case.pk}/" in html
    assert 'lang="en"' in html
    assert all(record.alerted_at and record.alert_emailed_at for record in FrictionFlagRecord.objects.all())


def test_the_webhook_is_signed_like_invitations(workspace, members, receiver):
    Workspace.objects.filter(pk=workspace.pk).update(webhook_url=receiver.url)
    workspace.refresh_from_db()
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    record = stage_flags(setup).get(kind="below_journey")
    request = next(r for r in receiver.requests if json.loads(r["body"])["flag"]["id"] == record.pk)
    headers, body = request["headers"], request["body"]
    assert webhook_signature_valid(
        workspace.webhook_secret, headers["X-JourneyPulse-Timestamp"], body, headers["X-JourneyPulse-Signature"]
    )
    assert headers["X-JourneyPulse-Delivery"] == f"flag-{record.pk}-1"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["type"] == "friction.flag"
    assert payload["flag"]["kind"] == "below_journey"
    assert payload["flag"]["stage"] == {"id": setup.stages[1].pk, "name": "Stage 2"}
    assert payload["flag"]["journey"]["id"] == setup.journey.pk
    assert payload["case"]["owner_team"] == "Checkout team"
    assert payload["case"]["url"].endswith(f"/follow-up/{payload['case']['id']}/")
    assert "customer" not in body.decode()


def test_a_failed_webhook_is_retried_after_the_lease_without_a_second_email(workspace, members, receiver):
    Workspace.objects.filter(pk=workspace.pk).update(webhook_url=receiver.url)
    nps_journey(workspace)
    receiver.status = 503
    flag_monitoring_run(workspace=workspace)
    emails = len(mail.outbox)
    record = FrictionFlagRecord.objects.order_by("pk").first()
    assert emails == 2
    assert record.alerted_at is None
    assert record.alert_emailed_at
    assert record.alert_webhook_at is None
    assert "503" in record.alert_error
    assert record.alert_attempts == 1
    # within the lease: nothing is tried again
    assert flag_alerts_send(workspace=workspace, now=timezone.now() + timedelta(minutes=1)) == 0
    receiver.status = 200
    posts = len(receiver.requests)
    later = timezone.now() + ALERT_LEASE + timedelta(minutes=1)
    assert flag_alerts_send(workspace=workspace, now=later) == FrictionFlagRecord.objects.count()
    assert len(mail.outbox) == emails  # the email had gone out: not sent again
    assert len(receiver.requests) == posts + FrictionFlagRecord.objects.count()
    record.refresh_from_db()
    assert record.alerted_at == later
    assert record.alert_error == ""
    assert record.alert_attempts == 2


def test_alerting_gives_up_after_the_last_attempt(workspace, members, receiver):
    Workspace.objects.filter(pk=workspace.pk).update(webhook_url=receiver.url)
    nps_journey(workspace)
    receiver.status = 500
    moment = timezone.now()
    flag_monitoring_run(workspace=workspace, now=moment)
    for attempt in range(1, ALERT_MAX_ATTEMPTS + 2):
        flag_alerts_send(workspace=workspace, now=moment + (ALERT_LEASE + timedelta(minutes=1)) * attempt)
    record = FrictionFlagRecord.objects.order_by("pk").first()
    assert record.alert_attempts == ALERT_MAX_ATTEMPTS
    assert record.alerted_at is None
    assert len(mail.outbox) == 2


def test_without_recipients_or_webhook_a_flag_counts_as_alerted(workspace):
    nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    assert mail.outbox == []
    assert not FrictionFlagRecord.objects.filter(alerted_at__isnull=True).exists()


# --- Resolution and reappearance ----------------------------------------------------------


def test_a_vanished_flag_is_resolved_and_its_return_is_a_new_flag_and_alert(workspace, members):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    first = stage_flags(setup).get(kind="below_journey")
    emails = len(mail.outbox)

    Invitation.objects.filter(touchpoint__stage=setup.stages[1]).delete()  # the bad stage's feedback is gone
    result = flag_monitoring_run(workspace=workspace, now=timezone.now() + timedelta(hours=1))
    first.refresh_from_db()
    assert first.resolved_at is not None
    assert result.resolved >= 1
    assert result.opened == 0
    case = FollowUpCase.objects.get(flag=first)
    assert case.status == "open"  # people close cases, not statistics
    assert len(mail.outbox) == emails

    add_feedback(setup, setup.customers, setup.touchpoints[1], bad=True, seed=11)
    result = flag_monitoring_run(workspace=workspace, now=timezone.now() + timedelta(hours=2))
    again = stage_flags(setup).get(kind="below_journey", resolved_at__isnull=True)
    assert again.pk != first.pk
    assert result.opened >= 1
    assert FollowUpCase.objects.filter(flag=again).count() == 1
    assert len(mail.outbox) == emails + 2
    assert stage_flags(setup).filter(kind="below_journey").count() == 2


def test_flags_of_a_journey_no_longer_active_are_resolved(workspace, members):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    Journey.objects.filter(pk=setup.journey.pk).update(is_active=False)
    result = flag_monitoring_run()  # every workspace: this one still has open flags
    assert result.resolved == FrictionFlagRecord.objects.count()
    assert not FrictionFlagRecord.objects.filter(resolved_at__isnull=True).exists()


def test_refresh_is_scoped_to_the_workspace(workspace, other_workspace, members):
    nps_journey(workspace)
    theirs = nps_journey(other_workspace)
    flag_monitoring_run(workspace=workspace)
    assert not FrictionFlagRecord.objects.filter(workspace=other_workspace).exists()
    assert not FollowUpCase.objects.filter(workspace=other_workspace).exists()
    flag_monitoring_run()
    assert FrictionFlagRecord.objects.filter(journey=theirs.journey).exists()
    assert all(case.workspace_id == case.flag.workspace_id for case in FollowUpCase.objects.select_related("flag"))


# --- Weekly digest --------------------------------------------------------------------------


def test_the_digest_goes_to_managers_with_the_stage_table_and_new_flags(workspace, members):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    mail.outbox.clear()
    sent = send_weekly_digest()
    assert sent == 3
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        members[role].email for role in (Role.ADMIN, Role.DESIGNER, Role.ANALYST)
    )
    message = mail.outbox[0]
    assert workspace.name in message.subject
    body, html = message.body, message.alternatives[0][0]
    for text in (body, html):
        assert setup.journey.name in text
        for stage in setup.stages:
            assert stage.name in text
        assert "Below the journey" in text  # a new flag of the week
        assert "/follow-up/" in text
    assert " to " in body
    assert "%" in body
    assert "<table" in html
    assert '<th scope="col"' in html
    assert DigestDelivery.objects.get(workspace=workspace).recipients == 3


def test_the_digest_is_sent_once_per_week(workspace, members):
    nps_journey(workspace)
    monday = timezone.now().replace(hour=7, minute=0) - timedelta(days=timezone.now().weekday())
    assert digest_send_weekly(now=monday) == 3
    assert digest_send_weekly(now=monday + timedelta(hours=2)) == 0  # a redelivered task
    assert len(mail.outbox) == 3
    assert digest_send_weekly(now=monday + timedelta(days=7)) == 3  # next week


def test_no_digest_without_data_or_flags(workspace, members):
    journey_setup(workspace=workspace, stages=2)
    assert digest_send_weekly() == 0
    assert mail.outbox == []
    assert not DigestDelivery.objects.exists()


def test_insufficient_data_is_said_so(workspace, members):
    setup = journey_setup(workspace=workspace, stages=1, touchpoints_per_stage=1)
    customers = customers_create(workspace=workspace, count=3)
    moment = timezone.now() - timedelta(days=2)
    feedback_create(
        setup,
        [Feedback(customer=c, touchpoint=setup.touchpoints[0], sent_at=moment, scores={"nps": 9}) for c in customers],
    )
    assert digest_send_weekly() == 3
    assert "insufficient data (n = 3)" in mail.outbox[0].body


def test_the_digest_is_written_in_the_workspace_language(workspace, members):
    Workspace.objects.filter(pk=workspace.pk).update(default_language="pl")
    nps_journey(workspace)
    digest_send_weekly()
    message = mail.outbox[0]
    assert message.extra_headers["Content-Language"] == "pl"
    assert 'lang="pl"' in message.alternatives[0][0]


def test_a_flag_case_links_to_its_stage_report_over_the_flag_window(workspace, members, client):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    case = FollowUpCase.objects.get(flag=stage_flags(setup).get(kind="below_journey"))
    membership = MembershipFactory(workspace=workspace, role=Role.ANALYST)
    client.force_login(membership.user)
    session = client.session
    session[SESSION_WORKSPACE_KEY] = workspace.pk
    session.save()
    page = client.get(reverse("followup:case", args=[case.pk])).content.decode()
    window = f"since={case.flag.window_since.isoformat()}&amp;until={case.flag.window_until.isoformat()}"
    assert f'href="{reverse("analytics:stage", args=[setup.journey.pk, case.stage_id])}?{window}"' in page
    assert (
        client.get(
            f"{reverse('analytics:stage', args=[setup.journey.pk, case.stage_id])}?{html.unescape(window)}"
        ).status_code
        == 200
    )
