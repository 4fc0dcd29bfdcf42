"""The journey map in a real browser: sign in, read the map, edit by keyboard alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible
from touchpoints.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_seed
from touchpoints.models import Journey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(DEMO_USERNAME)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Journeys of Demo shop")


def test_journey_map_shows_the_demo_journey(page, live_server):
    demo_seed()
    sign_in(page, live_server)
    page.get_by_role("link", name="Online shop").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Online shop")
    stage_headings = page.locator(".stage h3").all_inner_texts()
    assert stage_headings[:9] == [
        "Awareness",
        "Consideration",
        "Interest",
        "Intent",
        "Purchase",
        "Post-purchase",
        "Retention",
        "Advocacy",
        "Loyalty",
    ]
    checkout = page.locator(".card", has_text="Checkout")
    expect(checkout).to_contain_text("Web")
    expect(checkout).to_contain_text("Payments")
    expect(page.get_by_role("complementary")).to_contain_text("Bargain-hunting Bella")
    assert_accessible(page)
    shot = os.environ.get("JOURNEYPULSE_SCREENSHOT")
    if shot:
        Path(shot).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shot, full_page=False)


def test_reorder_and_edit_with_the_keyboard_alone(page, live_server):
    demo_seed()
    sign_in(page, live_server)
    journey = Journey.objects.get(name="Online shop")
    page.goto(f"{live_server.url}/journeys/{journey.pk}/")

    # Move "Consideration" left: focus its button by keyboard and press Enter.
    move = page.get_by_role("button", name="Move “Consideration” left")
    move.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".stage h3").first).to_have_text("Consideration")
    assert list(journey.stages.order_by("order").values_list("name", flat=True))[:2] == ["Consideration", "Awareness"]

    # Open the stage editor with the keyboard and rename the stage.
    summary = page.locator("summary", has_text="Edit stage “Consideration”")
    summary.focus()
    page.keyboard.press("Enter")
    name_field = page.locator(".stage", has=page.locator("h3", has_text="Consideration")).get_by_label("Stage name")
    expect(name_field).to_be_visible()
    name_field.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("Comparison")
    page.keyboard.press("Enter")
    expect(page.locator(".stage h3").first).to_have_text("Comparison")
    expect(page.get_by_role("status")).to_contain_text("Stage saved.")


@pytest.mark.parametrize("language", ["en", "ru", "pl", "hu"])
def test_pages_are_accessible_in_every_language(page, live_server, language):
    demo_seed()
    page.goto(f"{live_server.url}/login/")
    assert_accessible(page)
    sign_in(page, live_server)
    page.select_option("#language-switcher", language)
    page.locator("#language-switcher").press("Tab")
    page.keyboard.press("Enter")  # the language form's submit button follows the select
    expect(page.locator("html")).to_have_attribute("lang", language)
    assert_accessible(page)
    journey = Journey.objects.get(name="Online shop")
    page.goto(f"{live_server.url}/journeys/{journey.pk}/")
    assert_accessible(page)
    page.goto(f"{live_server.url}/journeys/new/")
    assert_accessible(page)


def test_focus_is_visible(page, live_server):
    demo_seed()
    sign_in(page, live_server)
    page.keyboard.press("Tab")  # the skip link comes first
    focused = page.evaluate("() => document.activeElement.className")
    assert focused == "skip-link"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
