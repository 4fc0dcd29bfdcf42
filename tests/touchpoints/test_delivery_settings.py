"""The admin-only delivery settings page (/settings/delivery/) and its services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config.errors import ApplicationError
from touchpoints.models import Role, Workspace
from touchpoints.services import workspace_delivery_update, workspace_webhook_secret_rotate

pytestmark = pytest.mark.django_db

URL = reverse("touchpoints:workspace-delivery")
HOOK = "https://crm.example.com/hooks/journeypulse"


def save(client, **data):
    return client.post(URL, {"action": "save", "contact_policy_days": "14", "webhook_url": "", **data})


class TestPage:
    def test_admins_see_the_settings_secret_and_the_verification_recipe(self, member_client, workspace):
        Workspace.objects.filter(pk=workspace.pk).update(contact_policy_days=30, webhook_url=HOOK)
        response = member_client(Role.ADMIN).get(URL)
        html = response.content.decode()
        assert response.status_code == 200
        assert 'name="contact_policy_days" value="30"' in html
        assert f'value="{HOOK}"' in html
        assert workspace.webhook_secret in html
        assert 'label for="id_contact_policy_days"' in html
        assert 'label for="id_webhook_url"' in html
        assert 'label for="webhook-secret"' in html
        assert "hmac.compare_digest(expected, signature)" in html
        assert "X-JourneyPulse-Signature" in html
        # The navigation links here, marked as the current page.
        assert f'<a href="{URL}" aria-current="page">' in html

    @pytest.mark.parametrize("role", [Role.DESIGNER, Role.ANALYST, Role.VIEWER])
    def test_only_admins_may_see_or_change_anything(self, member_client, workspace, role):
        client = member_client(role)
        page = client.get(URL)
        assert page.status_code == 403
        assert workspace.webhook_secret not in page.content.decode()
        assert URL not in client.get(reverse("touchpoints:journey-list")).content.decode()  # no link either
        assert save(client, contact_policy_days="3", webhook_url=HOOK).status_code == 403
        assert client.post(URL, {"action": "rotate"}).status_code == 403
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (14, "")
        assert fresh.webhook_secret == workspace.webhook_secret

    def test_signed_out_visitors_are_sent_to_sign_in(self, client):
        response = client.get(URL)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_admins_save_the_contact_policy_and_webhook_url(self, member_client, workspace, other_workspace):
        client = member_client(Role.ADMIN)
        response = save(client, contact_policy_days="30", webhook_url=f"  {HOOK}  ")
        assert response.status_code == 302
        assert response["Location"] == URL
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (30, HOOK)
        assert "Delivery settings saved." in client.get(URL).content.decode()
        untouched = Workspace.objects.get(pk=other_workspace.pk)
        assert (untouched.contact_policy_days, untouched.webhook_url) == (14, "")

    def test_zero_days_and_a_blank_url_turn_both_off(self, member_client, workspace):
        Workspace.objects.filter(pk=workspace.pk).update(webhook_url=HOOK)
        assert save(member_client(Role.ADMIN), contact_policy_days="0", webhook_url="").status_code == 302
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (0, "")

    @pytest.mark.parametrize("days", ["-1", "366", "1000000", "abc", "1.5", ""])
    def test_days_out_of_range_are_a_field_error(self, member_client, workspace, days):
        response = save(member_client(Role.ADMIN), contact_policy_days=days, webhook_url=HOOK)
        html = response.content.decode()
        assert response.status_code == 400
        assert 'id="id_contact_policy_days_errors"' in html
        assert 'aria-describedby="id_contact_policy_days_errors id_contact_policy_days_helptext"' in html
        assert 'id="id_webhook_url_errors"' not in html
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (14, "")

    @pytest.mark.parametrize(
        "url",
        [
            "crm.example.com/hooks",
            "ftp://crm.example.com/hooks",
            "javascript:alert(1)",
            "https://",
            "https://user:password@crm.example.com/hooks",
            "https://crm example.com/hooks",
            "https://crm.example.com/" + "x" * 500,
        ],
    )
    def test_a_url_that_is_not_http_is_a_field_error(self, member_client, workspace, url):
        response = save(member_client(Role.ADMIN), contact_policy_days="30", webhook_url=url)
        html = response.content.decode()
        assert response.status_code == 400
        assert 'id="id_webhook_url_errors"' in html
        assert 'aria-invalid="true"' in html
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (14, "")

    def test_admins_rotate_the_webhook_secret(self, member_client, workspace):
        client = member_client(Role.ADMIN)
        response = client.post(URL, {"action": "rotate"})
        assert response.status_code == 302
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert fresh.webhook_secret != workspace.webhook_secret
        assert len(fresh.webhook_secret) == 64
        assert fresh.identity_secret == workspace.identity_secret
        page = client.get(URL).content.decode()
        assert fresh.webhook_secret in page
        assert workspace.webhook_secret not in page


class TestServices:
    def test_update_saves_and_updates_the_given_instance(self, workspace):
        result = workspace_delivery_update(
            workspace=workspace, contact_policy_days=7, webhook_url="http://localhost:9000/h"
        )
        assert result is workspace
        assert (workspace.contact_policy_days, workspace.webhook_url) == (7, "http://localhost:9000/h")
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (7, "http://localhost:9000/h")

    @pytest.mark.parametrize(
        ("days", "url", "field"),
        [
            (-1, "", "contact_policy_days"),
            (366, "", "contact_policy_days"),
            (True, "", "contact_policy_days"),
            ("7", "", "contact_policy_days"),
            (7, "ftp://example.com", "webhook_url"),
            (7, "https://[::1", "webhook_url"),
            (7, "https://a\x00b.example.com", "webhook_url"),
            (7, None, "webhook_url"),
        ],
    )
    def test_bad_input_is_an_application_error_on_its_field(self, workspace, days, url, field):
        with pytest.raises(ApplicationError) as caught:
            workspace_delivery_update(workspace=workspace, contact_policy_days=days, webhook_url=url)
        assert list(caught.value.fields) == [field]
        assert (workspace.contact_policy_days, workspace.webhook_url) == (14, "")
        fresh = Workspace.objects.get(pk=workspace.pk)
        assert (fresh.contact_policy_days, fresh.webhook_url) == (14, "")

    def test_rotation_gives_a_new_secret_each_time(self, workspace, other_workspace):
        seen = {workspace.webhook_secret, other_workspace.webhook_secret}
        for _ in range(3):
            seen.add(workspace_webhook_secret_rotate(workspace=workspace).webhook_secret)
        assert len(seen) == 5
        assert Workspace.objects.get(pk=workspace.pk).webhook_secret == workspace.webhook_secret
        assert Workspace.objects.get(pk=other_workspace.pk).webhook_secret == other_workspace.webhook_secret
