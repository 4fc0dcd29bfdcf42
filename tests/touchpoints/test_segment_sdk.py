"""The real Segment Python SDK (segment-analytics-python, from PyPI) against a live server."""

from __future__ import annotations

import pytest

from tests.conftest import require
from tests.touchpoints.factories import TouchpointFactory
from touchpoints.models import ApiKey, Customer, TouchpointEvent, TouchpointEventName
from touchpoints.services import apikey_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_identify_and_track_through_the_segment_sdk_with_gzip(live_server, workspace):
    try:
        from segment.analytics import Client
    except ImportError:
        require(False, "needs segment-analytics-python (requirements-dev.txt)")
    from surveys import rules, services
    from surveys.models import Invitation

    touchpoint = TouchpointFactory(stage__journey__workspace=workspace, workspace=workspace)
    TouchpointEventName.objects.create(workspace=workspace, touchpoint=touchpoint, name="Order Delivered")
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    services.survey_publish(workspace=workspace, survey_id=survey.pk)
    rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data={"channel": "email"})
    key = apikey_create(workspace=workspace, name="sdk", kind=ApiKey.Kind.WRITE)[1]
    errors: list[Exception] = []
    client = Client(
        key, host=live_server.url, gzip=True, sync_mode=True, max_retries=0, on_error=lambda e, _b: errors.append(e)
    )
    client.identify("u-7", {"email": "zofia@example.com", "plan": "pro"}, context={"locale": "pl-PL"})
    client.track("u-7", "Order Delivered", {"order": "1001"})
    client.track("u-7", "Order Delivered", {"order": "1001"}, message_id="fixed-id")
    client.track("u-7", "Order Delivered", {"order": "1001"}, message_id="fixed-id")  # a retry
    client.flush()
    assert errors == []
    customer = Customer.objects.get(workspace=workspace, external_id="u-7")
    assert (customer.email, customer.language, customer.traits) == ("zofia@example.com", "pl-PL", {"plan": "pro"})
    events = TouchpointEvent.objects.filter(workspace=workspace, customer=customer)
    assert events.count() == 2
    assert {event.touchpoint for event in events} == {touchpoint}
    # The engine ran after the ingest commit (eager Celery in tests): one invitation, by email, in Polish.
    invitation = Invitation.objects.get(customer=customer)
    assert (invitation.survey, invitation.channel, invitation.language) == (survey, "email", "pl")
