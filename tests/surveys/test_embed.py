"""Embedded surveys: identity verification, the two embed calls, framing and the settings page."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from surveys import services
from surveys.embed import user_hash
from surveys.invitations import invitations_create
from surveys.models import Invitation
from tests.touchpoints.factories import CustomerFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import ApiKey, Customer, Role, Workspace
from touchpoints.services import apikey_create, workspace_embed_update

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"
IDENTIFY = reverse("api:embed-identify")
DISMISS = reverse("api:embed-dismiss")


@pytest.fixture
def write_key(workspace: Workspace) -> str:
    workspace_embed_update(workspace=workspace, origins=[SHOP])
    return apikey_create(workspace=workspace, name="site", kind=ApiKey.Kind.WRITE)[1]


def invite(workspace: Workspace, external_id: str = "ann", channel: str = "embedded", **kwargs) -> Invitation:
    survey = workspace.surveys.first()
    if survey is None:
        survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
        services.survey_publish(workspace=workspace, survey_id=survey.pk)
    if not Customer.objects.filter(workspace=workspace, external_id=external_id).exists():
        CustomerFactory(workspace=workspace, external_id=external_id, language="pl")
    return invitations_create(
        workspace=workspace, survey_id=survey.pk, customer_external_ids=[external_id], channel=channel, **kwargs
    )[0]


def identify(client, workspace, key, user_id="ann", *, user_hash_value=None, origin=SHOP, **body):
    payload = {
        "key": key,
        "userId": user_id,
        "userHash": user_hash_value or user_hash(workspace=workspace, user_id=user_id),
        **body,
    }
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(IDENTIFY, json.dumps(payload), content_type="text/plain", **headers)


class TestIdentify:
    def test_a_verified_user_gets_their_pending_survey_in_their_language(self, client, workspace, write_key):
        invitation = invite(workspace)
        response = identify(client, workspace, write_key)
        assert response.status_code == 200, response.content
        survey = response.json()["survey"]
        assert survey["token"] == invitation.token
        assert survey["url"] == f"http://testserver/s/{invitation.token}/?compact=1"
        assert survey["language"] == "pl"
        assert survey["labels"] == {"close": "Zamknij ankietę", "region": "Ankieta"}
        assert response["Access-Control-Allow-Origin"] == SHOP
        assert "Origin" in response["Vary"]
        assert not response.cookies

    def test_a_due_scheduled_invitation_becomes_sent_when_offered(self, client, workspace, write_key):
        invitation = invite(workspace)
        Invitation.objects.filter(pk=invitation.pk).update(status="scheduled", sent_at=None)
        identify(client, workspace, write_key)
        invitation.refresh_from_db()
        assert (invitation.status, invitation.sent_at is not None) == ("sent", True)

    def test_an_unsubscribed_customer_is_shown_nothing(self, client, workspace, write_key):
        invitation = invite(workspace)
        Customer.objects.filter(pk=invitation.customer_id).update(unsubscribed_at=timezone.now())
        response = identify(client, workspace, write_key)
        assert response.status_code == 200, response.content
        assert response.json()["survey"] is None

    def test_a_wrong_hash_reveals_nothing(self, client, workspace, write_key):
        invite(workspace)
        forged = user_hash(workspace=workspace, user_id="bob")
        error = assert_error(identify(client, workspace, write_key, user_hash_value=forged), 400, "userHash")
        assert error["code"] == "identity_not_verified"

    @pytest.mark.parametrize("bad", ["", "abc", "z" * 64, "0" * 65])
    def test_a_malformed_hash_is_a_field_error(self, client, workspace, write_key, bad):
        body = {"key": write_key, "userId": "ann", "userHash": bad}
        response = client.post(IDENTIFY, json.dumps(body), content_type="text/plain", HTTP_ORIGIN=SHOP)
        assert_error(response, 400, "userHash")

    def test_a_hash_from_another_workspaces_secret_fails(self, client, workspace, other_workspace, write_key):
        invite(workspace)
        foreign = user_hash(workspace=other_workspace, user_id="ann")
        assert_error(identify(client, workspace, write_key, user_hash_value=foreign), 400, "userHash")

    def test_a_secret_key_or_an_unknown_key_is_refused(self, client, workspace, write_key):
        secret = apikey_create(workspace=workspace, name="server", kind="secret", role=Role.ADMIN)[1]
        assert_error(identify(client, workspace, secret), 400, "key")
        assert_error(identify(client, workspace, "jp_wk_nope"), 400, "key")

    def test_another_site_cannot_ask(self, client, workspace, write_key):
        invite(workspace)
        response = identify(client, workspace, write_key, origin="https://evil.example")
        assert assert_error(response, 403)["code"] == "origin_not_allowed"
        assert "token" not in response.content.decode()

    def test_our_own_pages_and_servers_may_ask(self, client, workspace, write_key):
        invite(workspace)
        assert identify(client, workspace, write_key, origin="http://testserver").json()["survey"]
        assert identify(client, workspace, write_key, origin=None).json()["survey"]

    def test_nothing_pending_is_null(self, client, workspace, write_key):
        CustomerFactory(workspace=workspace, external_id="ann")
        assert identify(client, workspace, write_key).json() == {"survey": None}
        assert identify(client, workspace, write_key, "nobody").json() == {"survey": None}
        assert not Customer.objects.filter(external_id="nobody").exists()  # a bare identify writes nothing

    @pytest.mark.parametrize("state", ["answered", "expired", "dismissed", "link", "later", "other_workspace"])
    def test_only_due_open_embedded_invitations_of_the_workspace_are_offered(
        self, client, workspace, other_workspace, write_key, state
    ):
        now = timezone.now()
        if state == "link":
            invite(workspace, channel="link")
        elif state == "later":
            invite(workspace, send_at=now + timedelta(hours=1))
        elif state == "other_workspace":
            CustomerFactory(workspace=workspace, external_id="ann")
            invite(other_workspace)
        else:
            invitation = invite(workspace)
            changes = {"status": state} if state != "expired" else {"expires_at": now - timedelta(seconds=1)}
            Invitation.objects.filter(pk=invitation.pk).update(**changes)
        assert identify(client, workspace, write_key).json() == {"survey": None}

    def test_the_oldest_pending_invitation_comes_first(self, client, workspace, write_key):
        first = invite(workspace, send_at=timezone.now() - timedelta(days=2))
        invite(workspace)
        assert identify(client, workspace, write_key).json()["survey"]["token"] == first.token

    def test_traits_update_the_verified_customer(self, client, workspace, write_key):
        CustomerFactory(workspace=workspace, external_id="ann", traits={"plan": "free", "seats": 2})
        traits = {"plan": "pro", "email": "ann@example.com", "language": "hu", "seats": None}
        assert identify(client, workspace, write_key, traits=traits).status_code == 200
        customer = Customer.objects.get(workspace=workspace, external_id="ann")
        assert (customer.email, customer.language, customer.traits) == ("ann@example.com", "hu", {"plan": "pro"})

    def test_traits_create_a_new_verified_customer(self, client, workspace, write_key):
        identify(client, workspace, write_key, "new-user", traits={"plan": "trial"})
        assert Customer.objects.get(workspace=workspace, external_id="new-user").traits == {"plan": "trial"}

    @pytest.mark.parametrize(
        ("traits", "field"),
        [
            ({"email": "not an email"}, "traits.email"),
            ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "traits"),
            (["a list"], "traits"),
        ],
    )
    def test_bad_traits_are_field_errors_and_store_nothing(self, client, workspace, write_key, traits, field):
        assert_error(identify(client, workspace, write_key, "ann", traits=traits), 400, field)
        assert not Customer.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [
            "not json",
            "[]",
            '{"key": "k", "userId": "\\ud800", "userHash": "' + "0" * 64 + '"}',
            '{"key": "k", "userId": "a\\u0000b", "userHash": "' + "0" * 64 + '"}',
            '{"key": "k", "userId": "' + "x" * 201 + '", "userHash": "' + "0" * 64 + '"}',
            "[" * 100_000,
        ],
    )
    def test_garbage_is_a_400(self, client, workspace, write_key, body):
        assert_error(client.post(IDENTIFY, body, content_type="text/plain", HTTP_ORIGIN=SHOP), 400)

    def test_json_clients_get_a_preflight(self, client, workspace, write_key):
        preflight = client.options(IDENTIFY, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
        assert preflight.status_code == 204
        assert preflight["Access-Control-Allow-Headers"] == "Content-Type"
        invite(workspace)
        body = {"key": write_key, "userId": "ann", "userHash": user_hash(workspace=workspace, user_id="ann")}
        response = client.post(IDENTIFY, body, content_type="application/json", HTTP_ORIGIN=SHOP)
        assert response.json()["survey"]


class TestDismiss:
    def test_closing_records_a_dismissal(self, client, workspace, write_key):
        invitation = invite(workspace)
        response = client.post(DISMISS, json.dumps({"token": invitation.token}), "text/plain", HTTP_ORIGIN=SHOP)
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == SHOP
        invitation.refresh_from_db()
        assert invitation.status == "dismissed"
        assert invitation.dismissed_at is not None
        assert identify(client, workspace, write_key).json() == {"survey": None}

    def test_an_answered_invitation_stays_answered(self, client, workspace, write_key):
        invitation = invite(workspace)
        Invitation.objects.filter(pk=invitation.pk).update(status="answered")
        client.post(DISMISS, json.dumps({"token": invitation.token}), "text/plain", HTTP_ORIGIN=SHOP)
        invitation.refresh_from_db()
        assert invitation.status == "answered"

    @pytest.mark.parametrize("token", ["unknown-token-0123456789", "bad\x00token", "short"])
    def test_unknown_tokens_are_404(self, client, workspace, write_key, token):
        response = client.post(DISMISS, json.dumps({"token": token}), "text/plain", HTTP_ORIGIN=SHOP)
        assert_error(response, 400 if "\x00" in token else 404)

    def test_a_link_invitation_cannot_be_dismissed_here(self, client, workspace, write_key):
        invitation = invite(workspace, channel="link")
        response = client.post(DISMISS, json.dumps({"token": invitation.token}), "text/plain", HTTP_ORIGIN=SHOP)
        assert_error(response, 404)

    def test_another_site_cannot_dismiss(self, client, workspace, write_key):
        invitation = invite(workspace)
        response = client.post(
            DISMISS, json.dumps({"token": invitation.token}), "text/plain", HTTP_ORIGIN="https://evil.example"
        )
        assert_error(response, 403)
        invitation.refresh_from_db()
        assert invitation.status == "sent"


class TestFraming:
    def test_listed_origins_may_frame_the_form(self, client, workspace, write_key):
        invitation = invite(workspace)
        response = client.get(reverse("survey-form", args=[invitation.token]) + "?compact=1")
        assert f"frame-ancestors 'self' {SHOP}" in response["Content-Security-Policy"]
        assert "X-Frame-Options" not in response
        assert 'class="compact"' in response.content.decode()

    def test_an_unknown_token_may_not_be_framed(self, client):
        response = client.get(reverse("survey-form", args=["x" * 43]))
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"


class TestSettingsPage:
    url = reverse("touchpoints:workspace-embed")

    def test_admins_set_origins_which_are_normalised(self, member_client, workspace):
        client = member_client(Role.ADMIN)
        page = client.get(self.url)
        assert page.status_code == 200
        assert workspace.identity_secret in page.content.decode()
        response = client.post(
            self.url, {"action": "origins", "origins": "https://Shop.example.com/\n\nhttp://localhost:8080\n"}
        )
        assert response.status_code == 302
        workspace.refresh_from_db()
        assert workspace.embed_origins == [SHOP, "http://localhost:8080"]

    @pytest.mark.parametrize(
        "bad", ["shop.example.com", "https://shop.example.com/path", "ftp://x.example", "https://a b"]
    )
    def test_a_bad_origin_is_a_form_error(self, member_client, workspace, bad):
        response = member_client(Role.ADMIN).post(self.url, {"action": "origins", "origins": bad})
        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.content.decode()
        workspace.refresh_from_db()
        assert workspace.embed_origins == []

    def test_admins_replace_the_secret(self, member_client, workspace):
        before = workspace.identity_secret
        assert member_client(Role.ADMIN).post(self.url, {"action": "rotate"}).status_code == 302
        workspace.refresh_from_db()
        assert workspace.identity_secret != before
        assert len(workspace.identity_secret) == 64

    @pytest.mark.parametrize("role", [Role.DESIGNER, Role.ANALYST, Role.VIEWER])
    def test_only_admins_see_the_secret(self, member_client, workspace, role):
        response = member_client(role).get(self.url)
        assert response.status_code == 403
        assert workspace.identity_secret not in response.content.decode()


def test_workspaces_get_different_secrets(workspace, other_workspace):
    assert workspace.identity_secret != other_workspace.identity_secret


def test_embed_js_is_small_and_self_contained():
    source = (Path(settings.BASE_DIR) / "surveys/static/surveys/embed.js").read_bytes()
    assert len(gzip.compress(source, 9)) < 5 * 1024
    assert b"import " not in source
    assert b"http://" not in source.replace(b"http://localhost", b"")
