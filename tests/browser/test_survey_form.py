"""The public survey form in headless Chromium: keyboard only, no JavaScript, one-click links."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from surveys import services
from surveys.invitations import invitations_create
from surveys.models import Invitation, Response
from tests.browser.a11y import assert_accessible
from tests.touchpoints.factories import CustomerFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_invitation(template: str = "relationship_nps", language: str = "") -> Invitation:
    workspace = WorkspaceFactory(name="Demo shop")
    survey = services.survey_create_from_template(workspace=workspace, template=template)
    services.survey_publish(workspace=workspace, survey_id=survey.pk)
    CustomerFactory(workspace=workspace, external_id="ann", language=language)
    return invitations_create(workspace=workspace, survey_id=survey.pk, customer_external_ids=["ann"], channel="link")[
        0
    ]


def test_answer_an_nps_survey_with_the_keyboard_alone(page, live_server):
    invitation = make_invitation()
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    assert_accessible(page)
    page.keyboard.press("Tab")  # into the 0–10 radio group
    focused = page.evaluate("() => [document.activeElement.type, document.activeElement.value]")
    assert focused == ["radio", "0"]
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    expect(page.locator("input[name=value][value='9']")).to_be_checked()
    page.keyboard.press("Tab")  # the Next button
    page.keyboard.press("Enter")
    expect(page.get_by_role("group")).to_contain_text("What is the main reason for your score?")
    # With JavaScript the next question replaces the page in place and takes the focus.
    expect(page.get_by_role("textbox")).to_be_focused()
    page.keyboard.type("Fast delivery")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback!")
    response = Response.objects.get(invitation=invitation)
    assert response.is_complete
    assert sorted(str(a.number if a.number is not None else a.text) for a in response.answers.all()) == [
        "9",
        "Fast delivery",
    ]


def test_answer_with_javascript_disabled(browser, live_server):
    invitation = make_invitation(template="csat_support")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/s/{invitation.token}/")
        page.get_by_role("radio", name="2", exact=True).check()
        page.get_by_role("button", name="Next").click()
        page.get_by_role("textbox").fill("Too slow")
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback!")
    finally:
        context.close()
    assert Response.objects.get(invitation=invitation).answers.count() == 2


def test_one_click_link_preselects_the_score(page, live_server):
    invitation = make_invitation()
    page.goto(f"{live_server.url}/s/{invitation.token}/?score=7")
    expect(page.locator("input[name=value][value='7']")).to_be_checked()
    assert not Response.objects.exists()


def test_errors_are_announced_and_linked(page, live_server):
    invitation = make_invitation()
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    page.get_by_role("button", name="Next").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Please answer this question.")
    described_by = page.locator("fieldset").get_attribute("aria-describedby")
    assert "error" in described_by.split()
    assert_accessible(page)


@pytest.mark.parametrize("language", ["en", "ru", "pl", "hu"])
def test_form_is_accessible_in_every_language(page, live_server, language):
    invitation = make_invitation(language=language)
    page.goto(f"{live_server.url}/s/{invitation.token}/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    assert_accessible(page)
