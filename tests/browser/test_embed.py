"""embed.js in headless Chromium: a shop page on a second origin shows the survey, cross-site.

The shop page is served from ``127.0.0.1`` on its own port, the app from the live
server on ``localhost``: another site, so the survey iframe is third-party, and
Chromium runs with third-party cookies blocked (``--test-third-party-cookie-phaseout``
in ``tests/browser/conftest.py``; the first test proves the frame keeps no cookie). The form cannot lean on a
CSRF cookie there; it must still save every step.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from surveys import services
from surveys.embed import user_hash
from surveys.invitations import invitations_create
from surveys.models import Invitation, Response
from tests.browser.a11y import assert_accessible
from tests.touchpoints.factories import CustomerFactory, WorkspaceFactory
from touchpoints.models import ApiKey
from touchpoints.services import apikey_create, workspace_embed_update

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo shop</title></head>
<body><main><h1>Demo shop</h1><p>Thanks for your order.</p></main>
<script src="{app}/static/surveys/embed.js" data-key="{key}" defer></script>
<script>
  window.JourneyPulse = window.JourneyPulse || {{q: [], identify: function () {{ this.q.push(arguments); }}}};
  JourneyPulse.identify({user_id}, {{userHash: {user_hash}, plan: "pro"}});
</script>
</body></html>"""


#: The panel has finished sliding in.
SLID_IN = """() => {
  const panel = document.querySelector('[data-journeypulse]');
  return panel && ['none', 'matrix(1, 0, 0, 1, 0, 0)'].includes(getComputedStyle(panel).transform);
}"""


#: Ask for the pending survey every 100 ms (at most 5 s) until there is none; true if it stayed.
POLL_UNTIL_NOT_OFFERED = """async ([url, body]) => {
  for (let attempt = 0; attempt < 50; attempt++) {
    const response = await fetch(url, {method: 'POST', headers: {'Content-Type': 'text/plain'}, body});
    if ((await response.json()).survey === null) return false;
    await new Promise(done => setTimeout(done, 100));
  }
  return true;
}"""


class Shop:
    """A one-page site on its own origin; ``html`` is what it serves."""

    def __init__(self) -> None:
        shop = self
        self.html = ""

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = shop.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def shop() -> Iterator[Shop]:
    site = Shop()
    yield site
    site.server.shutdown()


def embedded_invitation(shop: Shop) -> tuple[Invitation, str]:
    workspace = WorkspaceFactory(name="Demo shop")
    workspace_embed_update(workspace=workspace, origins=[shop.origin])
    key = apikey_create(workspace=workspace, name="site", kind=ApiKey.Kind.WRITE)[1]
    survey = services.survey_create_from_template(workspace=workspace, template="relationship_nps")
    services.survey_publish(workspace=workspace, survey_id=survey.pk)
    CustomerFactory(workspace=workspace, external_id="ann", language="")
    invitation = invitations_create(
        workspace=workspace, survey_id=survey.pk, customer_external_ids=["ann"], channel="embedded"
    )[0]
    return invitation, key


def serve_shop(shop: Shop, live_server, invitation: Invitation, key: str) -> None:
    shop.html = SHOP_PAGE.format(
        app=live_server.url,
        key=key,
        user_id=json.dumps("ann"),
        user_hash=json.dumps(user_hash(workspace=invitation.workspace, user_id="ann")),
    )


def test_answer_an_embedded_survey_across_sites_with_third_party_cookies_blocked(page, live_server, shop):
    invitation, key = embedded_invitation(shop)
    serve_shop(shop, live_server, invitation, key)
    # Two sites, not just two ports.
    assert "127.0.0.1" in shop.origin
    assert "localhost" in live_server.url

    page.goto(shop.origin)
    panel = page.get_by_role("region", name="Survey: Your opinion of Demo shop")
    expect(panel).to_be_visible()
    assert_accessible(page)
    iframe = page.locator("iframe")
    frame = page.frame_locator("iframe")

    # The frame really gets no cookies: a cookie it sets is not kept.
    stored = page.frames[1].evaluate(
        "() => { document.cookie = 'probe=1; SameSite=None; Secure; Path=/';"
        " return document.cookie.includes('probe'); }"
    )
    assert stored is False

    # The form reports its height and the panel fits it (the initial height is 320px).
    expect(iframe).not_to_have_attribute("style", re.compile(r"height: 320px"))
    page.wait_for_function(SLID_IN)  # a click during the slide-in would land where the radio was
    frame.get_by_role("radio", name="9", exact=True).check()
    frame.get_by_role("button", name="Next").click()
    frame.get_by_role("textbox").fill("Quick delivery")
    frame.get_by_role("button", name="Next").click()
    expect(frame.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback!")

    response = Response.objects.get(invitation=invitation)
    assert response.is_complete
    assert sorted(str(a.number if a.number is not None else a.text) for a in response.answers.all()) == [
        "9",
        "Quick delivery",
    ]
    page.get_by_role("button", name="Close the survey").click()
    expect(panel).to_have_count(0)
    invitation.refresh_from_db()
    assert invitation.status == "answered"  # closing after answering is not a dismissal
    assert invitation.workspace.customers.get(external_id="ann").traits["plan"] == "pro"


def test_closing_with_the_keyboard_dismisses_it_for_good(page, live_server, shop):
    invitation, key = embedded_invitation(shop)
    serve_shop(shop, live_server, invitation, key)
    page.goto(shop.origin)
    close = page.get_by_role("button", name="Close the survey")
    expect(close).to_be_visible()
    frame = page.frame_locator("iframe")
    first_radio = frame.get_by_role("radio", name="0", exact=True)
    expect(first_radio).to_be_visible()  # the form has loaded
    # The close button is the panel's first stop for the keyboard (the shop page has no other).
    page.keyboard.press("Tab")
    expect(close).to_be_focused()
    # Escape closes from inside the survey too (the form relays it to the page).
    first_radio.focus()
    page.keyboard.press("Escape")
    expect(close).to_have_count(0)
    # The dismissal is a keepalive request nobody waits for. Ask the server from the page until the
    # survey is no longer offered (this thread must not query SQLite while the live server does).
    body = json.dumps(
        {"key": key, "userId": "ann", "userHash": user_hash(workspace=invitation.workspace, user_id="ann")}
    )
    still_offered = page.evaluate(POLL_UNTIL_NOT_OFFERED, [f"{live_server.url}/api/v1/embed/identify/", body])
    assert still_offered is False
    invitation.refresh_from_db()
    assert invitation.status == "dismissed"


def test_a_wrong_user_hash_shows_nothing(page, live_server, shop):
    invitation, key = embedded_invitation(shop)
    shop.html = SHOP_PAGE.format(
        app=live_server.url, key=key, user_id=json.dumps("ann"), user_hash=json.dumps("0" * 64)
    )
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(shop.origin)
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-journeypulse]").count() == 0
    assert any("HMAC-SHA256" in message for message in messages), messages
