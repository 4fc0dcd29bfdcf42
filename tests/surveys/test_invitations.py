"""Manual sends through the API: tokens, links, validation, scoping and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from surveys import services
from surveys.invitations import invitations_create
from surveys.models import Invitation
from tests.touchpoints.factories import CustomerFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


def test_manual_send_creates_one_link_invitation_per_customer(admin_api, workspace, survey, client):
    for external_id in ("ann", "bob"):
        CustomerFactory(workspace=workspace, external_id=external_id)
    response = admin_api.post(
        reverse("api:invitation-list"), {"survey": survey.pk, "customers": ["ann", "bob", "ann"]}, format="json"
    )
    assert response.status_code == 201, response.content
    items = response.json()
    assert [item["customer"] for item in items] == ["ann", "bob"]
    assert all(item["status"] == "sent" and item["channel"] == "link" for item in items)
    tokens = {item["url"].rstrip("/").rsplit("/", 1)[1] for item in items}
    assert len(tokens) == 2
    assert all(len(token) >= 43 for token in tokens)  # 32 random bytes
    assert all("ann" not in token for token in tokens)
    page = client.get(items[0]["url"].replace("http://testserver", ""))
    assert page.status_code == 200


def test_email_invitations_wait_for_the_dispatcher(admin_api, workspace, survey):
    CustomerFactory(workspace=workspace, external_id="ann")
    item = admin_api.post(
        reverse("api:invitation-list"), {"survey": survey.pk, "customers": ["ann"], "channel": "email"}, format="json"
    ).json()[0]
    assert item["status"] == "scheduled"
    assert item["sent_at"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"customers": ["ghost"]}, "customers"),
        ({"customers": []}, "customers"),
        ({"customers": ["ann"], "channel": "pigeon"}, "channel"),
        ({"customers": ["ann"], "language": "de"}, "language"),
        ({"customers": ["ann"], "touchpoint": 10**6}, "touchpoint"),
    ],
)
def test_bad_sends_are_field_errors(admin_api, workspace, survey, payload, field):
    CustomerFactory(workspace=workspace, external_id="ann")
    assert_error(
        admin_api.post(reverse("api:invitation-list"), {"survey": survey.pk, **payload}, format="json"), 400, field
    )
    assert not Invitation.objects.exists()


def test_draft_survey_cannot_be_sent(admin_api, workspace):
    draft = services.survey_create_from_template(workspace=workspace, template="csat_support")
    CustomerFactory(workspace=workspace, external_id="ann")
    response = admin_api.post(reverse("api:invitation-list"), {"survey": draft.pk, "customers": ["ann"]}, format="json")
    assert_error(response, 400, "survey")


def test_another_workspaces_survey_and_invitations_do_not_exist(admin_api, workspace, other_workspace):
    theirs = services.survey_create_from_template(workspace=other_workspace, template="csat_support")
    services.survey_publish(workspace=other_workspace, survey_id=theirs.pk)
    CustomerFactory(workspace=workspace, external_id="ann")
    response = admin_api.post(
        reverse("api:invitation-list"), {"survey": theirs.pk, "customers": ["ann"]}, format="json"
    )
    assert_error(response, 400, "survey")
    CustomerFactory(workspace=other_workspace, external_id="eve")
    from surveys.invitations import invitations_create

    invitation = invitations_create(
        workspace=other_workspace, survey_id=theirs.pk, customer_external_ids=["eve"], channel="link"
    )[0]
    assert admin_api.get(reverse("api:invitation-list")).json()["results"] == []
    assert_error(admin_api.get(reverse("api:invitation-detail", args=[invitation.pk])), 404)


def test_readers_list_but_cannot_send(key_client, workspace, survey):
    CustomerFactory(workspace=workspace, external_id="ann")
    client = key_client(Role.ANALYST)
    assert client.get(reverse("api:invitation-list")).status_code == 200
    assert_error(
        client.post(reverse("api:invitation-list"), {"survey": survey.pk, "customers": ["ann"]}, format="json"), 403
    )


def test_filters_and_constant_query_count(admin_api, workspace, survey, django_assert_max_num_queries):
    from surveys.invitations import invitations_create

    def send(n: int) -> None:
        ids = [CustomerFactory(workspace=workspace).external_id for _ in range(n)]
        invitations_create(workspace=workspace, survey_id=survey.pk, customer_external_ids=ids, channel="link")

    send(2)
    url = reverse("api:invitation-list")
    with CaptureQueriesContext(connection) as few:
        assert len(admin_api.get(url).json()["results"]) == 2
    send(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(admin_api.get(url).json()["results"]) == 22
    first = Invitation.objects.order_by("id").first()
    filtered = admin_api.get(url, {"customer": first.customer.external_id, "status": "sent"}).json()["results"]
    assert [item["id"] for item in filtered] == [first.pk]


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_get_no_survey_links(key_client, workspace, survey, role):
    """A link lets anyone answer as the customer, so only editors see it."""
    CustomerFactory(workspace=workspace, external_id="ann")
    invitations_create(workspace=workspace, survey_id=survey.pk, customer_external_ids=["ann"], channel="link")
    items = key_client(role).get(reverse("api:invitation-list")).json()["results"]
    assert [item["url"] for item in items] == [None]
