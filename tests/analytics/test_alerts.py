"""Friction flag records, the alert each new flag raises once, flag cases, and the weekly digest."""

from __future__ import annotations

import html
import json
import logging
import random
import smtplib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.urls import reverse
from django.utils import timezone

from analytics import alerts
from analytics.alerts import digest as digest_module
from analytics.alerts import digest_send_weekly, flag_alerts_send, flag_monitoring_run, flags_refresh
from analytics.alerts import flags as flags_module
from analytics.alerts import notify as notify_module
from analytics.alerts.common import ALERT_LEASE, ALERT_MAX_ATTEMPTS
from analytics.models import CaseNote, CaseSource, CaseStatus, DigestDelivery, FollowUpCase, FrictionFlagRecord
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


def test_a_vanished_flag_is_resolved_and_its_quick_return_reopens_it(workspace, members):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    first = stage_flags(setup).get(kind="below_journey")
    emails, flags, cases = len(mail.outbox), FrictionFlagRecord.objects.count(), FollowUpCase.objects.count()

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
    later = timezone.now() + timedelta(hours=2)
    result = flag_monitoring_run(workspace=workspace, now=later)
    again = stage_flags(setup).get(kind="below_journey", resolved_at__isnull=True)
    assert again.pk == first.pk  # back within FLAG_REOPEN_DAYS: the same flag, open again
    assert result.reopened >= 1
    assert result.opened == 0
    assert again.first_seen_at == first.first_seen_at
    assert again.last_seen_at == later
    assert again.alerted_at == first.alerted_at
    assert stage_flags(setup).filter(kind="below_journey").count() == 1
    assert FrictionFlagRecord.objects.count() == flags
    assert FollowUpCase.objects.count() == cases
    assert FollowUpCase.objects.get(flag=again).pk == case.pk
    assert len(mail.outbox) == emails  # no second alert
    assert not CaseNote.objects.filter(case=case).exists()  # an open case is still being worked on


def test_a_flag_back_on_a_closed_case_leaves_it_closed_with_a_note(workspace, members):
    Workspace.objects.filter(pk=workspace.pk).update(default_language="pl")
    workspace.refresh_from_db()
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    first = stage_flags(setup).get(kind="below_journey")
    case = FollowUpCase.objects.get(flag=first)
    FollowUpCase.objects.filter(pk=case.pk).update(status=CaseStatus.CLOSED, closed_at=timezone.now())
    emails = len(mail.outbox)
    FrictionFlagRecord.objects.filter(pk=first.pk).update(resolved_at=timezone.now() - timedelta(days=3))

    result = flag_monitoring_run(workspace=workspace, now=timezone.now() + timedelta(hours=1))
    first.refresh_from_db()
    case.refresh_from_db()
    assert first.is_open
    assert result.reopened == 1
    assert case.status == CaseStatus.CLOSED
    [note] = CaseNote.objects.filter(case=case)
    assert note.kind == "note"
    assert note.author_label == "JourneyPulse"
    assert first.reason in note.text  # in the workspace's language, with the current reason
    assert len(mail.outbox) == emails
    assert FollowUpCase.objects.filter(flag=first).count() == 1

    # It flickers: gone, then back again. The closed case got its note already.
    FrictionFlagRecord.objects.filter(pk=first.pk).update(resolved_at=timezone.now() + timedelta(hours=1, minutes=30))
    assert flag_monitoring_run(workspace=workspace, now=timezone.now() + timedelta(hours=2)).reopened == 1
    assert CaseNote.objects.filter(case=case).count() == 1


def test_a_flag_back_after_the_reopen_window_is_a_new_flag_case_and_alert(workspace, members):
    setup = nps_journey(workspace)
    flag_monitoring_run(workspace=workspace)
    first = stage_flags(setup).get(kind="below_journey")
    emails = len(mail.outbox)
    resolved = timezone.now() - timedelta(days=alerts.FLAG_REOPEN_DAYS, hours=1)
    FrictionFlagRecord.objects.filter(pk=first.pk).update(resolved_at=resolved)

    result = flag_monitoring_run(workspace=workspace, now=timezone.now() + timedelta(hours=1))
    again = stage_flags(setup).get(kind="below_journey", resolved_at__isnull=True)
    assert again.pk != first.pk
    assert result.opened >= 1
    assert result.reopened == 0
    first.refresh_from_db()
    assert first.resolved_at == resolved  # history stays as it was
    assert FollowUpCase.objects.filter(flag=again).count() == 1
    assert len(mail.outbox) == emails + 2
    assert "Below the journey" in mail.outbox[-1].subject


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


def this_monday_at_seven() -> datetime:
    """07:00 UTC on the Monday of the current (UTC) week."""
    now = timezone.now().astimezone(UTC)
    return now.replace(hour=7, minute=0, second=0, microsecond=0) - timedelta(days=now.weekday())


def test_the_digest_is_sent_once_per_week(workspace, members):
    nps_journey(workspace)
    monday = this_monday_at_seven()
    assert digest_send_weekly(now=monday) == 3
    assert digest_send_weekly(now=monday + timedelta(hours=2)) == 0  # a redelivered task
    assert len(mail.outbox) == 3
    assert digest_send_weekly(now=monday + timedelta(days=7)) == 3  # next week


def test_no_digest_without_data_or_flags(workspace, members, django_assert_max_num_queries):
    journey_setup(workspace=workspace, stages=2)
    monday = this_monday_at_seven()
    assert digest_send_weekly(now=monday) == 0
    assert mail.outbox == []
    # the empty week is decided: the hourly runs of the week do not build it again
    assert DigestDelivery.objects.get(workspace=workspace).recipients == 0
    with django_assert_max_num_queries(1):
        assert digest_send_weekly(now=monday + timedelta(hours=1)) == 0


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


# --- One workspace's failure stays its own -------------------------------------------------


@pytest.fixture
def their_members(other_workspace):
    """The other workspace's admin, designer and analyst."""
    return {
        role: MembershipFactory(workspace=other_workspace, role=role, user=UserFactory(username=f"their-{role}")).user
        for role in (Role.ADMIN, Role.DESIGNER, Role.ANALYST)
    }


class RefusingBackend(locmem.EmailBackend):
    """The test outbox, except that a message to an address in :attr:`refused` raises an SMTP error."""

    refused: ClassVar[set[str]] = set()

    def send_messages(self, messages):
        for message in messages:
            if set(message.to) & self.refused:
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"no such user")})
        return super().send_messages(messages)


@pytest.fixture
def refusing_mail(settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    RefusingBackend.refused = set()
    yield RefusingBackend.refused
    RefusingBackend.refused = set()


def errors_about(caplog, workspace: Workspace) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.ERROR and f"workspace {workspace.pk} " in record.getMessage()
    ]


def test_a_failed_digest_send_is_retried_and_the_other_workspaces_get_theirs(
    workspace, other_workspace, members, their_members, refusing_mail, caplog
):
    nps_journey(workspace)
    nps_journey(other_workspace)
    refusing_mail.update(user.email for user in members.values())  # the mail server refuses all of Acme's
    monday = this_monday_at_seven()
    assert workspace.pk < other_workspace.pk  # the failing one comes first

    assert digest_send_weekly(now=monday) == 3
    assert sorted(message.to[0] for message in mail.outbox) == sorted(user.email for user in their_members.values())
    assert not DigestDelivery.objects.filter(workspace=workspace).exists()  # the week is not marked delivered
    assert DigestDelivery.objects.get(workspace=other_workspace).recipients == 3
    assert errors_about(caplog, workspace)

    refusing_mail.clear()  # the mail server is back: the next hourly run sends Acme's, and nobody gets two
    assert digest_send_weekly(now=monday + timedelta(hours=1)) == 3
    assert DigestDelivery.objects.get(workspace=workspace).recipients == 3
    assert digest_send_weekly(now=monday + timedelta(hours=2)) == 0
    assert len(mail.outbox) == 6
    assert len({message.to[0] for message in mail.outbox}) == 6


def test_one_refused_address_does_not_stop_the_digest_nor_repeat_it(workspace, members, refusing_mail, caplog):
    nps_journey(workspace)
    refusing_mail.add(members[Role.DESIGNER].email)
    monday = this_monday_at_seven()
    assert digest_send_weekly(now=monday) == 2
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [members[Role.ADMIN].email, members[Role.ANALYST].email]
    )
    assert DigestDelivery.objects.get(workspace=workspace).recipients == 2
    assert any("1 of 3 messages failed" in record.getMessage() for record in caplog.records)
    assert digest_send_weekly(now=monday + timedelta(hours=1)) == 0  # the others do not get it twice
    assert len(mail.outbox) == 2


def test_an_error_in_one_workspace_digest_is_logged_and_the_others_go_out(
    workspace, other_workspace, members, their_members, monkeypatch, caplog
):
    nps_journey(workspace)
    nps_journey(other_workspace)
    real = digest_module.digest_build

    def build(*, workspace: Workspace, now: datetime):
        if workspace.slug == "acme":
            raise RuntimeError("boom")
        return real(workspace=workspace, now=now)

    monkeypatch.setattr(digest_module, "digest_build", build)
    assert digest_send_weekly(now=this_monday_at_seven()) == 3
    assert {message.to[0] for message in mail.outbox} == {user.email for user in their_members.values()}
    assert not DigestDelivery.objects.filter(workspace=workspace).exists()
    [failure] = errors_about(caplog, workspace)
    assert failure.exc_info is not None


def test_the_digest_goes_out_from_monday_seven_once_a_week_whenever_beat_runs(workspace, members):
    nps_journey(workspace)
    monday = this_monday_at_seven()
    # 06:00 on Monday still belongs to the week before
    assert digest_send_weekly(now=monday - timedelta(hours=1)) == 3
    assert DigestDelivery.objects.get().week_start == (monday - timedelta(days=7)).date()
    assert digest_send_weekly(now=monday - timedelta(minutes=1)) == 0
    assert digest_send_weekly(now=monday) == 3  # the week's digest, on Monday morning
    sent = sum(digest_send_weekly(now=monday + timedelta(hours=hour)) for hour in range(1, 7 * 24))
    assert sent == 0  # the rest of the week's hourly runs send nothing
    assert len(mail.outbox) == 6
    assert sorted(DigestDelivery.objects.values_list("week_start", flat=True)) == [
        (monday - timedelta(days=7)).date(),
        monday.date(),
    ]


def test_a_missed_monday_run_is_made_up_later_in_the_week(workspace, members):
    nps_journey(workspace)
    wednesday = this_monday_at_seven() + timedelta(days=2, hours=3)
    assert digest_send_weekly(now=wednesday) == 3
    assert DigestDelivery.objects.get().week_start == this_monday_at_seven().date()
    assert digest_send_weekly(now=wednesday + timedelta(hours=1)) == 0


def test_a_failing_workspace_refresh_does_not_stop_the_others_or_their_alerts(
    workspace, other_workspace, members, their_members, monkeypatch, caplog
):
    nps_journey(workspace)
    theirs = nps_journey(other_workspace)
    real = flags_module.flags_refresh

    def refresh(*, workspace: Workspace, **kwargs: Any):
        if workspace.slug == "acme":
            raise RuntimeError("boom")
        return real(workspace=workspace, **kwargs)

    monkeypatch.setattr(flags_module, "flags_refresh", refresh)
    assert workspace.pk < other_workspace.pk  # the failing one comes first
    result = refresh_flags()  # the beat task, over every workspace
    assert result >= 1
    assert not FrictionFlagRecord.objects.filter(workspace=workspace).exists()
    assert FrictionFlagRecord.objects.filter(journey=theirs.journey).exists()
    assert not FrictionFlagRecord.objects.filter(workspace=other_workspace, alerted_at__isnull=True).exists()
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [their_members[Role.ADMIN].email, their_members[Role.DESIGNER].email]
    )
    [failure] = errors_about(caplog, workspace)
    assert failure.exc_info is not None
    assert flag_monitoring_run().failed == 1
    with pytest.raises(RuntimeError):  # asked for that one workspace, its error is raised
        flag_monitoring_run(workspace=workspace)


def test_a_failing_workspace_alert_does_not_stop_the_others(
    workspace, other_workspace, members, their_members, monkeypatch, caplog
):
    nps_journey(workspace)
    nps_journey(other_workspace)
    flags_refresh(workspace=workspace)
    flags_refresh(workspace=other_workspace)
    real = notify_module._send_alert_emails

    def send(workspace: Workspace, *args: Any):
        if workspace.slug == "acme":
            raise RuntimeError("template broken")
        return real(workspace, *args)

    monkeypatch.setattr(notify_module, "_send_alert_emails", send)
    assert flag_alerts_send() == FrictionFlagRecord.objects.filter(workspace=other_workspace).count()
    assert {message.to[0] for message in mail.outbox} == {
        their_members[Role.ADMIN].email,
        their_members[Role.DESIGNER].email,
    }
    mine = FrictionFlagRecord.objects.filter(workspace=workspace)
    assert all(record.alerted_at is None and record.alert_attempts == 1 for record in mine)
    assert errors_about(caplog, workspace)


def test_the_alert_lease_starts_when_the_records_are_claimed(workspace, members, receiver):
    Workspace.objects.filter(pk=workspace.pk).update(webhook_url=receiver.url)
    nps_journey(workspace)
    receiver.status = 503
    claimed = timezone.now()
    # a run that started long ago (its refresh took longer than the lease) claims the alerts now
    flag_monitoring_run(workspace=workspace, now=claimed - ALERT_LEASE - timedelta(minutes=5))
    record = FrictionFlagRecord.objects.order_by("pk").first()
    assert record.alert_claimed_at >= claimed
    assert record.alert_attempts == 1
    posts = len(receiver.requests)
    assert flag_alerts_send(workspace=workspace) == 0  # still under its lease: not claimed again
    record.refresh_from_db()
    assert record.alert_attempts == 1
    assert len(receiver.requests) == posts


def test_analytics_beat_runs_expire_before_the_next_and_the_digest_runs_hourly(settings):
    def interval_seconds(schedule: Any) -> float:
        if isinstance(schedule, float | int):
            return float(schedule)
        assert schedule.minute == {schedule.minute.copy().pop()}  # once an hour at a fixed minute
        assert schedule.hour == set(range(24))
        assert schedule.day_of_week == set(range(7))
        return 3600.0

    entries = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in (
        "analytics.refresh_rollups",
        "analytics.open_detractor_cases",
        "analytics.refresh_flags",
        "analytics.send_weekly_digest",
    ):
        entry = entries[task]
        assert 0 < entry["options"]["expires"] < interval_seconds(entry["schedule"]), task
    assert entries["analytics.send_weekly_digest"]["schedule"].minute == {0}
