"""The dispatcher and the periodic tasks: due invitations go out when due, not before, once."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from surveys import delivery, dispatch, rules, services
from surveys.dispatch import invitations_dispatch
from surveys.models import Invitation
from surveys.tasks import dispatch_invitations, sweep_events
from surveys.triggers import events_evaluate
from tests.touchpoints.factories import TouchpointEventNameFactory
from touchpoints.models import TouchpointEvent
from touchpoints.services import events_ingest

pytestmark = pytest.mark.django_db

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


@pytest.fixture
def touchpoint(workspace):
    return TouchpointEventNameFactory(
        workspace=workspace, touchpoint__stage__journey__workspace=workspace, name="order_delivered"
    ).touchpoint


def rule(workspace, survey, touchpoint, **data):
    return rules.rule_create(
        workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data={"channel": "email"} | data
    )


def event(workspace, now, **item):
    item = {"event": "order_delivered", "user_id": "ann", "timestamp": now.isoformat()} | item
    item.setdefault("traits", {"email": "ann@example.com", "language": "pl", "timezone": "Europe/Warsaw"})
    return events_evaluate(event_ids=events_ingest(workspace=workspace, items=[item]).event_ids, now=now)


def test_a_delayed_invitation_goes_out_when_due_not_before(workspace, survey, touchpoint):
    rule(workspace, survey, touchpoint, delay_minutes=60)
    now = timezone.now()
    event(workspace, now)
    due = Invitation.objects.get().send_at
    assert invitations_dispatch(now=now + timedelta(minutes=59)).total == 0
    assert not mail.outbox
    result = invitations_dispatch(now=now + timedelta(minutes=61))
    assert result.counts == {"sent": 1}
    invitation = Invitation.objects.get()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.sent_at is not None
    assert invitation.delivery_attempts == 1
    assert invitation.send_at == due  # the time it was due, not the dispatcher's lease
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert invitation.token in message.body
    assert invitations_dispatch(now=now + timedelta(days=1)).total == 0  # sent once
    assert len(mail.outbox) == 1


def test_quiet_hours_postpone_the_email_to_the_morning(workspace, survey, touchpoint):
    rule(workspace, survey, touchpoint, quiet_hours_start="21:00", quiet_hours_end="08:00")
    evening = datetime(2026, 6, 10, 22, 30, tzinfo=WARSAW)
    event(workspace, evening)
    assert invitations_dispatch(now=datetime(2026, 6, 11, 7, 59, tzinfo=WARSAW)).total == 0
    assert invitations_dispatch(now=datetime(2026, 6, 11, 8, 1, tzinfo=WARSAW)).counts == {"sent": 1}
    assert len(mail.outbox) == 1


def test_delayed_link_invitations_become_sent_when_due(workspace, survey, touchpoint):
    rule(workspace, survey, touchpoint, channel="link", delay_minutes=30)
    now = timezone.now()
    event(workspace, now)
    assert Invitation.objects.get().status == Invitation.Status.SCHEDULED
    assert invitations_dispatch(now=now + timedelta(minutes=31)).counts == {"sent": 1}
    assert not mail.outbox


def test_unsubscribed_archived_and_expired_are_not_sent(workspace, survey, touchpoint):
    rule(workspace, survey, touchpoint, delay_minutes=60, recontact_days=0)
    workspace.contact_policy_days = 0
    workspace.save()
    now = timezone.now()
    event(workspace, now, user_id="ann", message_id="1")
    event(workspace, now, user_id="bob", message_id="2", traits={"email": "bob@example.com"})
    event(workspace, now, user_id="cid", message_id="3", traits={"email": "cid@example.com"})
    ann, bob, cid = (Invitation.objects.get(customer__external_id=name) for name in ("ann", "bob", "cid"))
    ann.customer.unsubscribed_at = now
    ann.customer.save()
    Invitation.objects.filter(pk=bob.pk).update(expires_at=now + timedelta(minutes=30))
    result = invitations_dispatch(now=now + timedelta(minutes=61))
    assert result.counts == {"suppressed": 1, "expired": 1, "sent": 1}
    assert [m.to for m in mail.outbox] == [["cid@example.com"]]
    ann.refresh_from_db()
    assert ann.suppressed_at is not None


def test_retryable_failures_back_off_then_fail_after_the_last_try(workspace, survey, touchpoint, monkeypatch):
    workspace.webhook_url = "https://hooks.example.com/jp"
    workspace.save()
    rule(workspace, survey, touchpoint, channel="webhook")
    tries = []

    def unavailable(invitation, *, base_url, now=None):
        tries.append(invitation.pk)
        raise delivery.DeliveryError("HTTP 503", retryable=True)

    monkeypatch.setattr(delivery, "send_webhook", unavailable)
    now = timezone.now()
    event(workspace, now)
    moment = now
    for attempt in range(1, delivery.WEBHOOK_MAX_ATTEMPTS):
        moment += timedelta(hours=2)
        assert invitations_dispatch(now=moment).counts == {"retry": 1}
        invitation = Invitation.objects.get()
        assert invitation.status == Invitation.Status.SCHEDULED
        assert invitation.delivery_attempts == attempt
        assert invitation.send_at > moment  # backed off
        assert invitation.last_error == "HTTP 503"
    assert invitations_dispatch(now=moment + timedelta(hours=2)).counts == {"failed": 1}
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.delivery_attempts) == (
        Invitation.Status.FAILED,
        delivery.WEBHOOK_MAX_ATTEMPTS,
    )
    assert invitation.failed_at is not None
    assert len(tries) == delivery.WEBHOOK_MAX_ATTEMPTS


def test_a_permanent_failure_fails_at_once(workspace, survey, touchpoint, monkeypatch):
    rule(workspace, survey, touchpoint)

    def refused(invitation, *, base_url):
        raise delivery.DeliveryError("mailbox does not exist", retryable=False)

    monkeypatch.setattr(delivery, "send_email", refused)
    now = timezone.now()
    event(workspace, now)
    assert invitations_dispatch(now=now + timedelta(minutes=1)).counts == {"failed": 1}


def test_a_dispatcher_dying_mid_send_leaves_the_invitation_leased_then_due_again(
    workspace, survey, touchpoint, monkeypatch
):
    rule(workspace, survey, touchpoint)
    now = timezone.now()
    event(workspace, now)

    def crash(invitation, *, base_url):
        raise RuntimeError("killed")

    monkeypatch.setattr(delivery, "send_email", crash)
    with pytest.raises(RuntimeError):
        invitations_dispatch(now=now + timedelta(seconds=1))
    invitation = Invitation.objects.get()
    assert invitation.status == Invitation.Status.SCHEDULED
    assert invitation.send_at > now + dispatch.CLAIM_LEASE - timedelta(seconds=5)  # leased, not lost
    monkeypatch.undo()
    assert invitations_dispatch(now=now + timedelta(minutes=5)).total == 0  # still leased
    assert invitations_dispatch(now=now + dispatch.CLAIM_LEASE + timedelta(minutes=1)).counts == {"sent": 1}


def test_the_sweep_evaluates_events_a_lost_message_left_behind(workspace, survey, touchpoint):
    rule(workspace, survey, touchpoint, channel="link")
    ids = events_ingest(workspace=workspace, items=[{"event": "order_delivered", "user_id": "ann"}]).event_ids
    assert TouchpointEvent.objects.filter(pk__in=ids, evaluated_at__isnull=True).count() == 1
    assert sweep_events.delay(grace_seconds=60).get() == 0  # too young: its own task may still come
    assert sweep_events.delay(grace_seconds=0).get() == 1
    assert Invitation.objects.get().status == Invitation.Status.SENT
    assert sweep_events.delay(grace_seconds=0).get() == 0


def test_the_dispatch_task(workspace, survey, touchpoint):
    rule(workspace, survey, touchpoint)
    event(workspace, timezone.now() - timedelta(minutes=1))
    assert dispatch_invitations.delay().get() == 1
    assert len(mail.outbox) == 1
