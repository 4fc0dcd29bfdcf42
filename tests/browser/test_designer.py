"""The survey designer in Chromium: labels, contrast and a keyboard-only translation edit."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from surveys.demo import demo_seed_surveys
from tests.browser.a11y import assert_accessible
from tests.browser.test_journey_map import sign_in
from touchpoints.demo import demo_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_designer_pages_are_accessible_and_work_by_keyboard(page, live_server):
    result = demo_seed()
    survey = demo_seed_surveys(workspace=result.workspace)[1]
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/surveys/")
    assert_accessible(page)
    page.get_by_role("link", name=survey.name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(survey.name)
    assert_accessible(page)
    page.get_by_role("link", name="Edit texts (RU)").click()
    assert_accessible(page)
    field = page.get_by_label("Title")
    field.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Поддержка")
    page.get_by_role("button", name="Save texts").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Translations saved.")
    survey.refresh_from_db()
    assert survey.texts["ru"]["title"] == "Поддержка"
    page.goto(f"{live_server.url}/surveys/{survey.pk}/preview/hu/")
    expect(page.locator("html")).to_have_attribute("lang", "hu")
    assert_accessible(page)
