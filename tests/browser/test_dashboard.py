"""The manager dashboard in Chromium: stages, friction badges, plotly charts and filters.

Every row is written before a page is loaded, and the database is never read from
the test while the live server answers (SQLite shares one connection with it):
expected figures are computed up front.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from analytics.charts import estimate_text
from tests.analytics.test_dashboard import report_for, with_link_answers
from tests.analytics.test_reports import planted
from tests.browser.a11y import assert_accessible
from tests.touchpoints.factories import MembershipFactory, UserFactory, WorkspaceFactory
from touchpoints.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"  # noqa: S105 - UserFactory's test password


def shop(role: str = Role.VIEWER):
    """A workspace with a planted journey (stage 2 much worse) and a member who signs in."""
    workspace = WorkspaceFactory(name="Parcel shop")
    MembershipFactory(workspace=workspace, user=UserFactory(username="mia"), role=role)
    return planted(workspace)


def sign_in(page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(re.compile(re.escape(f"{live_server.url}{path}")))


def tab_to(page, locator, limit: int = 120) -> None:
    """Press Tab until ``locator`` has the focus, as a keyboard user would."""
    handle = locator.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("element => document.activeElement === element", handle):
            return
    raise AssertionError(f"Tab never reached {locator}")


def record_requests(page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def test_journey_view_shows_the_stages_and_draws_the_chart_from_our_server(page, live_server):
    setup = shop()
    path = reverse("analytics:journey", args=[setup.journey.pk])
    requests = record_requests(page)
    with page.expect_response(re.compile(r"/static/plotly/plotly\.min\.js$")) as plotly_js:
        sign_in(page, live_server, "/reports/")  # redirects to the only active journey
    assert plotly_js.value.status == 200
    assert plotly_js.value.url == f"{live_server.url}/static/plotly/plotly.min.js"
    expect(page).to_have_url(f"{live_server.url}{path}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Report: {setup.journey.name}")
    expect(page.locator(".report-stage .stage-title")).to_have_text(["Stage 1", "Stage 2", "Stage 3"])
    expect(page.locator(f"#stage-{setup.stages[1].pk} .stage-nps")).to_contain_text("NPS −")

    # plotly.js drew the chart as SVG; its numbers stay one click away in the data table.
    plot = page.locator("#chart-stages-plot")
    expect(plot).to_have_attribute("data-drawn", "true")
    expect(plot.locator("svg.main-svg").first).to_be_visible()
    expect(plot.locator(".bars .point")).to_have_count(3)
    # Screen readers get the summary and the data table, not the drawing's scattered labels.
    expect(plot).to_have_accessible_description(
        re.compile(r"^NPS by stage: Stage 1 −?\d+ \(−?\d+ to −?\d+\); Stage 2 −")
    )
    expect(plot.locator("svg.main-svg").first).to_have_attribute("aria-hidden", "true")
    expect(page.locator("#chart-stages details.chart-data")).not_to_have_attribute("open", "")
    # The toolbar saves a PNG, is reachable by keyboard, and offers no upload to a cloud.
    png = plot.get_by_role("button", name=re.compile(r"^Download the chart as a PNG"))
    expect(png).to_be_visible()
    tab_to(page, png)
    expect(plot.get_by_role("button", name=re.compile("Share"))).to_have_count(0)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == f"journey-{setup.journey.pk}-stages.png"
    assert_accessible(page)  # plotly's "image download succeeded" note too
    page.wait_for_load_state("networkidle")
    ours = (live_server.url, f"blob:{live_server.url}", "data:")  # the PNG is made in the page
    foreign = [url for url in requests if not url.startswith(ours)]
    assert foreign == []


def test_a_flagged_stage_shows_its_badge_and_the_reason_opens_by_keyboard(page, live_server):
    setup = shop(role=Role.ANALYST)
    bad = report_for(setup).stages[1]
    reason = next(flag.reason for flag in bad.flags if flag.kind == "below_journey")
    sign_in(page, live_server, reverse("analytics:journey", args=[setup.journey.pk]))
    card = page.locator(f"#stage-{setup.stages[1].pk}")
    badge = card.locator("details.flag", has_text="Below the journey")
    expect(badge.locator("summary")).to_be_visible()
    expect(badge.locator("summary")).to_have_attribute("title", reason)
    expect(page.locator(f"#stage-{setup.stages[0].pk} details.flag", has_text="Below the journey")).to_have_count(0)
    expect(badge.locator(".flag-reason")).to_be_hidden()

    tab_to(page, badge.locator("summary"))
    page.keyboard.press("Enter")
    expect(badge).to_have_attribute("open", "")
    expect(badge.locator(".flag-reason")).to_be_visible()
    expect(badge.locator(".flag-reason")).to_have_text(reason)
    assert_accessible(page)  # the opened reason's text too


def test_changing_a_filter_by_keyboard_changes_the_figures(page, live_server):
    setup = shop()
    with_link_answers(setup, count=40, score=0)
    everything = report_for(setup).stages[0].figures["nps"]
    by_link = report_for(setup, channel="link").stages[0].figures["nps"]
    assert (everything.n, by_link.n) == (280, 40)
    path = reverse("analytics:journey", args=[setup.journey.pk])
    sign_in(page, live_server, path)
    first = page.locator(f"#stage-{setup.stages[0].pk} .stage-nps")
    expect(first).to_have_text(f"NPS {estimate_text(everything)} n = 280")

    channel = page.get_by_label("Channel")
    tab_to(page, channel)
    page.keyboard.type("Link")  # a closed select picks the option typed
    expect(channel).to_have_value("link")
    tab_to(page, page.get_by_role("button", name="Apply filters"))
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"[?&]channel=link(&|$)"))
    expect(first).to_have_text(f"NPS {estimate_text(by_link)} n = 40")
    expect(page.locator(f"#stage-{setup.stages[1].pk} .stage-nps")).to_have_text("NPS insufficient data (n = 0)")
    expect(page.get_by_label("Channel")).to_have_value("link")
    expect(page.locator("#filters-summary")).to_contain_text("Channel: Link")
    expect(page.locator("#chart-stages-plot")).to_have_attribute("data-drawn", "true")
    assert_accessible(page)


def test_bad_filters_show_errors_beside_their_fields(page, live_server):
    setup = shop()
    path = reverse("analytics:journey", args=[setup.journey.pk])
    sign_in(page, live_server, path)
    page.get_by_label("From:", exact=True).fill("2026-05-01")
    page.get_by_label("To:", exact=True).fill("2026-04-01")
    with page.expect_response(lambda response: "since=" in response.url) as answered:
        page.get_by_role("button", name="Apply filters").click()
    assert answered.value.status == 400
    expect(page.get_by_role("alert")).to_have_text("Please correct the filters below.")
    expect(page.locator("#id_since_errors")).to_have_text("Give a first day on or before the last day.")
    expect(page.get_by_label("From:", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".report-stage")).to_have_count(0)
    assert_accessible(page)


def test_the_drill_down_draws_its_charts_and_is_accessible(page, live_server):
    setup = shop(role=Role.ADMIN)
    sign_in(page, live_server, reverse("analytics:journey", args=[setup.journey.pk]))
    page.get_by_role("link", name="Stage 2", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stage: Stage 2")
    for chart in ("trend", "distribution", "funnel"):
        plot = page.locator(f"#chart-{chart}-plot")
        expect(plot).to_have_attribute("data-drawn", "true")
        expect(plot.locator("svg.main-svg").first).to_be_visible()
    expect(page.locator("#table-touchpoints tbody tr")).to_have_count(2)
    expect(page.locator("#table-touchpoints")).to_contain_text("Below the journey")
    # The flagged stage's gap, split by touchpoint, channel and persona (tables named by their headings).
    expect(page.get_by_role("heading", name="Drivers of the gap")).to_be_visible()
    by_touchpoint = page.get_by_role("table", name="Drivers of the gap By touchpoint")
    expect(by_touchpoint.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_role("table", name="Drivers of the gap By persona").locator("tbody tr")).to_have_count(2)
    assert_accessible(page)
    page.get_by_role("link", name=f"Report: {setup.journey.name}").click()
    expect(page.locator(".report-stage")).to_have_count(3)
    expect(page.get_by_role("heading", name="Closing the loop")).to_be_visible()
    expect(page.get_by_role("link", name="See this journey's follow-up cases")).to_be_visible()


def test_without_javascript_the_numbers_are_all_there(browser, live_server):
    setup = shop()
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_server, reverse("analytics:journey", args=[setup.journey.pk]))
        expect(page.locator(".report-stage .stage-nps")).to_have_count(3)
        expect(page.locator("#chart-stages-plot")).to_be_hidden()
        table = page.locator("#chart-stages details.chart-data")
        expect(table).to_have_attribute("open", "")
        expect(table.locator("tbody tr")).to_have_count(3)
        assert_accessible(page)
    finally:
        context.close()


def test_the_chart_toolbar_speaks_the_page_language(browser, live_server):
    setup = shop()
    context = browser.new_context(locale="ru-RU")  # no language chosen: the browser's
    page = context.new_page()
    page.set_default_timeout(15_000)
    path = reverse("analytics:journey", args=[setup.journey.pk])
    try:
        page.goto(f"{live_server.url}/login/?next={path}")
        page.locator("input[name=username]").fill("mia")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("input[name=password]").press("Enter")
        page.wait_for_url(re.compile(re.escape(f"{live_server.url}{path}")))
        expect(page.locator("html")).to_have_attribute("lang", "ru")
        plot = page.locator("#chart-stages-plot")
        expect(plot).to_have_attribute("data-drawn", "true")
        expect(plot.get_by_role("button", name="Скачать диаграмму в формате PNG")).to_be_visible()
        expect(plot.get_by_role("button", name=re.compile("Download"))).to_have_count(0)
    finally:
        context.close()
