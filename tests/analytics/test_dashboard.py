"""The manager dashboard pages, through the Django test client.

The journey view (stages in order with their figures and friction badges), the
stage drill-down (touchpoints, channels, personas, charts, comments, key terms),
the filter form (400 with field errors), the chart CSVs, PII per role, workspace
isolation and a flat query count.
"""

from __future__ import annotations

import csv
import html
import io
import random
import re
from datetime import timedelta

import pandas as pd
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import charts
from analytics.aggregation import ReportFilters
from analytics.cases import case_note_add, case_update, detractor_cases_open, followup_summary
from analytics.charts import estimate_text
from analytics.charts.cells import duration_text
from analytics.models import FollowUpCase
from analytics.reports import default_period, journey_report
from surveys.models import Invitation
from tests.analytics.factories import Feedback, customers_create, feedback_create, journey_setup
from tests.analytics.test_reports import csat_only, planted
from tests.touchpoints.factories import MembershipFactory
from touchpoints.models import Role, Stage
from touchpoints.permissions import SESSION_WORKSPACE_KEY

pytestmark = pytest.mark.django_db

ROLES = [Role.ADMIN, Role.DESIGNER, Role.ANALYST, Role.VIEWER]


@pytest.fixture
def page_client(workspace):
    """``page_client(role)``: a browser-like client signed in as a member of ``workspace``."""

    def make(role: str = Role.VIEWER) -> Client:
        membership = MembershipFactory(workspace=workspace, role=role)
        client = Client()
        client.force_login(membership.user)
        session = client.session
        session[SESSION_WORKSPACE_KEY] = workspace.pk
        session.save()
        return client

    return make


def journey_url(setup) -> str:
    return reverse("analytics:journey", args=[setup.journey.pk])


def stage_url(setup, index: int) -> str:
    return reverse("analytics:stage", args=[setup.journey.pk, setup.stages[index].pk])


def chart_url(setup, chart: str, stage: int | None = None) -> str:
    if stage is None:
        return reverse("analytics:journey-chart-csv", args=[setup.journey.pk, chart])
    return reverse("analytics:stage-chart-csv", args=[setup.journey.pk, setup.stages[stage].pk, chart])


def stage_card(page: str, stage: Stage) -> str:
    """The HTML of one stage's card in the journey view."""
    start = page.index(f'id="stage-{stage.pk}"')
    end = page.find('<li class="report-stage', start)
    return page[start : end if end != -1 else page.index("</ol>", start)]


def section(page: str, heading_id: str) -> str:
    start = page.index(f'id="{heading_id}"')
    end = page.find("</section>", start)
    return page[start:end]


def text_of(fragment: str) -> str:
    """Visible text of an HTML fragment, tags dropped and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def report_for(setup, **filters):
    since, until = default_period(timezone.now().date())
    return journey_report(
        workspace=setup.workspace, journey=setup.journey, filters=ReportFilters(since=since, until=until, **filters)
    )


def with_link_answers(setup, count: int = 40, score: int = 0):
    """``count`` answers by link (score ``score``) at the first stage's first touchpoint, spread over weeks."""
    customers = customers_create(workspace=setup.workspace, count=10)
    rng = random.Random(3)  # noqa: S311 - seeded test data
    now = timezone.now()
    feedback_create(
        setup,
        [
            Feedback(
                customer=rng.choice(customers),
                touchpoint=setup.touchpoints[0],
                sent_at=now - timedelta(days=rng.randrange(2, 50), hours=rng.randrange(24)),
                scores={"nps": score},
                channel=Invitation.Channel.LINK,
            )
            for _ in range(count)
        ],
    )


# --- The journey view -----------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, workspace):
    setup = journey_setup(workspace=workspace, stages=1)
    response = client.get(journey_url(setup))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_reports_opens_the_first_active_journey(page_client, workspace):
    inactive = journey_setup(workspace=workspace, stages=1).journey
    inactive.is_active = False
    inactive.save()
    active = journey_setup(workspace=workspace, stages=1)
    response = page_client().get(reverse("analytics:home"), {"channel": "email"})
    assert response.status_code == 302
    assert response["Location"] == journey_url(active) + "?channel=email"


def test_reports_lists_journeys_when_none_is_active(page_client, workspace):
    client = page_client()
    page = client.get(reverse("analytics:home")).content.decode()
    assert "There is no journey yet" in page
    setup = journey_setup(workspace=workspace, stages=1)
    setup.journey.is_active = False
    setup.journey.save()
    page = client.get(reverse("analytics:home")).content.decode()
    assert f'href="{journey_url(setup)}"' in page


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_stages_in_order_with_their_figures(page_client, workspace, role):
    setup = planted(workspace)
    response = page_client(role).get(journey_url(setup))
    assert response.status_code == 200
    page = response.content.decode()
    report = report_for(setup)
    names = re.findall(r'<h3 id="stage-\d+-name" class="stage-title"><a href="[^"]+">([^<]+)</a></h3>', page)
    assert names == [stage.name for stage in setup.stages]
    for stage, unit in zip(setup.stages, report.stages, strict=True):
        card = text_of(stage_card(page, stage))
        nps = unit.figures["nps"]
        assert f"NPS {estimate_text(nps)} n = {nps.n}" in card  # e.g. "NPS 35 (24 to 44) n = 240"
        assert f"CSAT {estimate_text(unit.figures['csat'], 'share')}" in card
        assert f"CES (1–7) {estimate_text(unit.figures['ces'], 'mean')}" in card
        assert f"Response rate {estimate_text(unit.figures['response_rate'], 'share')} (n = 300)" in card
    assert "Drop-off to the next stage 40% (28% to 54%) (n = 50)" in text_of(stage_card(page, setup.stages[0]))
    assert "Drop-off to the next stage none: the last stage" in text_of(stage_card(page, setup.stages[2]))
    # The "Reports" item of the main navigation is there for every role, and current.
    assert f'<a href="{reverse("analytics:home")}" aria-current="page">Reports</a>' in page
    # plotly.js comes from our static files; nothing from another origin.
    assert '<script src="/static/plotly/plotly.min.js" defer></script>' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_the_bad_stage_shows_its_badge_and_reason(page_client, workspace):
    setup = planted(workspace)
    page = page_client(Role.VIEWER).get(journey_url(setup)).content.decode()
    bad = report_for(setup).stages[1]
    flag = next(flag for flag in bad.flags if flag.kind == "below_journey")
    card = stage_card(page, setup.stages[1])
    assert "band-negative" in card
    assert '<span class="flag-label">Below the journey</span>' in card
    # The reason is visible text inside <details> (keyboard, screen readers) and a tooltip on top.
    assert f'<p class="flag-reason">{html.escape(flag.reason)}</p>' in card
    assert f'title="{html.escape(flag.reason)}"' in card
    assert "significantly below the rest of the journey" in html.unescape(card)
    for good in (setup.stages[0], setup.stages[2]):
        assert "Below the journey" not in stage_card(page, good)


def test_too_few_answers_are_insufficient_data(page_client, workspace):
    setup = journey_setup(workspace=workspace, stages=2)
    customers = customers_create(workspace=workspace, count=12)
    moment = timezone.now() - timedelta(days=3)
    feedback_create(
        setup,
        [Feedback(customer=c, touchpoint=setup.touchpoints[0], sent_at=moment, scores={"nps": 9}) for c in customers],
    )
    page = page_client().get(journey_url(setup)).content.decode()
    first, second = stage_card(page, setup.stages[0]), stage_card(page, setup.stages[1])
    assert "NPS insufficient data (n = 12)" in text_of(first)
    assert "band-insufficient" in first
    assert "NPS insufficient data (n = 0)" in text_of(second)
    assert "Below the journey" not in page
    # The chart's text alternatives say so too.
    assert "Stage 1 insufficient data (n = 12)" in html.unescape(page)


def test_the_channel_filter_changes_the_figures(page_client, workspace):
    setup = planted(workspace)
    with_link_answers(setup, count=40, score=0)
    client = page_client()
    everything = client.get(journey_url(setup)).content.decode()
    by_link = client.get(journey_url(setup), {"channel": "link"})
    assert by_link.status_code == 200
    by_link = by_link.content.decode()
    all_nps = report_for(setup).stages[0].figures["nps"]
    assert all_nps.n == 280
    assert f"NPS {estimate_text(all_nps)} n = 280" in text_of(stage_card(everything, setup.stages[0]))
    link_nps = report_for(setup, channel="link").stages[0].figures["nps"]
    assert (link_nps.n, link_nps.value) == (40, -100)
    assert f"NPS {estimate_text(link_nps)} n = 40" in text_of(stage_card(by_link, setup.stages[0]))
    assert "NPS insufficient data (n = 0)" in text_of(stage_card(by_link, setup.stages[1]))
    # The form keeps the choice, the summary says it, and links carry it.
    assert '<option value="link" selected>Link</option>' in by_link
    assert "Channel: Link" in text_of(by_link)
    assert f'href="{stage_url(setup, 0)}?channel=link"' in by_link
    assert f'href="{chart_url(setup, "stages")}?channel=link"' in by_link
    api_csv = reverse("api:journey-report-csv", args=[setup.journey.pk])
    assert re.search(rf'href="{re.escape(api_csv)}\?since=[0-9-]+&amp;until=[0-9-]+&amp;channel=link"', by_link)


def test_the_persona_filter_keeps_customers_without_one_apart(page_client, workspace):
    setup = planted(workspace)  # customers alternate between "Shopper" and no persona
    client = page_client()
    shoppers = client.get(journey_url(setup), {"persona": "Shopper"}).content.decode()
    without = client.get(journey_url(setup), {"persona": "-"}).content.decode()
    n_shoppers = report_for(setup, persona="Shopper").stages[1].figures["nps"].n
    n_without = report_for(setup, persona="").stages[1].figures["nps"].n
    assert n_shoppers + n_without == 240
    assert f"n = {n_shoppers}" in text_of(stage_card(shoppers, setup.stages[1]))
    assert f"n = {n_without}" in text_of(stage_card(without, setup.stages[1]))
    assert "Persona: Without a persona" in text_of(without)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-05-01", "until": "2026-04-01"}, "since"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"until": "0001-01-05"}, "until"),  # the default period would start before year 1
        ({"since": "0001-01-01", "until": "0001-01-02"}, "since"),
        ({"until": "9999-12-31"}, "until"),  # the day after would not exist
        ({"since": "1999-12-31"}, "since"),
        ({"channel": "pigeon"}, "channel"),
        ({"persona": "Nobody"}, "persona"),
        ({"language": "not a tag"}, "language"),
        ({"language": "x" * 40}, "language"),
        ({"survey": "999999"}, "survey"),
        ({"survey": "1e40"}, "survey"),
    ],
)
def test_bad_filters_are_field_errors(page_client, workspace, query, field):
    setup = planted(workspace, per_touchpoint=4)
    client = page_client()
    for url in (journey_url(setup), stage_url(setup, 1)):
        response = client.get(url, query)
        assert response.status_code == 400
        page = response.content.decode()
        assert f'<ul class="errorlist" id="id_{field}_errors">' in page
        assert 'aria-invalid="true"' in page
        assert 'role="alert"' in page
        assert "Correct the filters to see the report." in page
        assert "report-stage" not in page
    response = client.get(chart_url(setup, "stages"), query)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"{field}: ")


def test_a_bad_channel_and_a_reversed_period_are_both_reported(page_client, workspace):
    setup = journey_setup(workspace=workspace, stages=1)
    page = page_client().get(journey_url(setup), {"channel": "x", "since": "2026-05-01", "until": "2026-04-01"})
    assert page.status_code == 400
    assert 'id="id_channel_errors"' in page.content.decode()
    assert "Give a first day on or before the last day." in page.content.decode()


def test_unknown_parameters_are_ignored_on_pages(page_client, workspace):
    setup = journey_setup(workspace=workspace, stages=1)
    assert page_client().get(journey_url(setup), {"utm_source": "mail"}).status_code == 200


def test_another_workspaces_reports_are_not_found(page_client, workspace, other_workspace):
    mine = journey_setup(workspace=workspace, stages=2)
    theirs = journey_setup(workspace=other_workspace, stages=2)
    client = page_client(Role.ADMIN)
    for url in (
        journey_url(theirs),
        stage_url(theirs, 0),
        chart_url(theirs, "stages"),
        chart_url(theirs, "funnel"),
        chart_url(theirs, "trend", stage=0),
        # A stage of another journey (theirs) under my journey's URL.
        reverse("analytics:stage", args=[mine.journey.pk, theirs.stages[0].pk]),
        reverse("analytics:stage-chart-csv", args=[mine.journey.pk, theirs.stages[0].pk, "trend"]),
        "/reports/journeys/99999999999999999999/",
        chart_url(mine, "nonsense"),
        chart_url(mine, "nonsense", stage=0),
    ):
        assert client.get(url).status_code == 404, url
    response = client.get(journey_url(mine), {"survey": theirs.survey.pk})
    assert response.status_code == 400
    assert 'id="id_survey_errors"' in response.content.decode()


# --- Chart CSVs -------------------------------------------------------------------------------


def test_the_stage_chart_csv_matches_the_report(page_client, workspace):
    setup = planted(workspace)
    client = page_client(Role.ANALYST)
    rows = csv_rows(client.get(chart_url(setup, "stages")))
    report = report_for(setup)
    assert [row["stage"] for row in rows] == [stage.name for stage in setup.stages]
    for row, unit in zip(rows, report.stages, strict=True):
        nps = unit.figures["nps"]
        assert float(row["nps_value"]) == pytest.approx(nps.value, abs=1e-4)
        assert float(row["nps_ci_low"]) <= float(row["nps_value"]) <= float(row["nps_ci_high"])
        assert int(row["nps_n"]) == nps.n
        assert row["nps_sufficient"] == "True"


def test_the_drill_down_csvs(page_client, workspace):
    setup = planted(workspace)
    client = page_client()
    trend = csv_rows(client.get(chart_url(setup, "trend", stage=1)))
    assert sum(int(row["nps_n"]) for row in trend) == 240
    assert all(row["week"] < next_row["week"] for row, next_row in zip(trend, trend[1:], strict=False))
    distribution = csv_rows(client.get(chart_url(setup, "distribution", stage=1)))
    assert [int(row["score"]) for row in distribution] == list(range(11))
    assert sum(int(row["answers"]) for row in distribution) == 240
    assert {row["group"] for row in distribution} == {"detractor", "passive", "promoter"}
    funnel = csv_rows(client.get(chart_url(setup, "funnel")))
    assert [(row["stage"], row["reached"], row["continued"]) for row in funnel] == [
        ("Stage 1", "50", "30"),
        ("Stage 2", "30", "0"),
        ("Stage 3", "0", ""),
    ]
    touchpoints = csv_rows(client.get(chart_url(setup, "touchpoints", stage=1)))
    assert [row["label"] for row in touchpoints] == ["Stage 2.1", "Stage 2.2"]
    assert sum(int(row["nps_n"]) for row in touchpoints) == 240
    personas = csv_rows(client.get(chart_url(setup, "personas", stage=1)))
    assert {row["key"] for row in personas} == {"", "Shopper"}
    assert sum(int(row["nps_n"]) for row in personas) == 240
    channels = csv_rows(client.get(chart_url(setup, "channels", stage=1), {"channel": "email"}))
    assert [(row["key"], row["nps_n"], row["response_rate_n"]) for row in channels] == [("email", "240", "300")]


def test_csv_text_cells_cannot_run_as_formulas(page_client, workspace):
    setup = journey_setup(workspace=workspace, stages=2)
    Stage.objects.filter(pk=setup.stages[0].pk).update(name="=HYPERLINK(1)")
    rows = csv_rows(page_client().get(chart_url(setup, "stages")))
    assert rows[0]["stage"] == "'=HYPERLINK(1)"
    assert rows[0]["nps_value"] == ""  # insufficient: no value, but its n
    assert rows[0]["nps_n"] == "0"


# --- The stage drill-down ----------------------------------------------------------------------


def with_comments(setup, *, detractors: int, promoters: int):
    """Open-text answers at the second stage: detractors complain about late delivery, promoters praise."""
    customers = customers_create(workspace=setup.workspace, count=5)
    for index, customer in enumerate(customers):
        customer.email = f"person{index}@example.com"
        customer.save(update_fields=["email"])
    now = timezone.now()
    items = [
        Feedback(
            customer=customers[index % 5],
            touchpoint=setup.touchpoints[2 + index % 2],
            sent_at=now - timedelta(days=2, minutes=10 * index),
            scores={"nps": index % 7},
            texts={"text": f"Detractor {index}: the delivery was late again, write to person{index % 5}@example.com"},
        )
        for index in range(detractors)
    ]
    items += [
        Feedback(
            customer=customers[index % 5],
            touchpoint=setup.touchpoints[2],
            sent_at=now - timedelta(days=2, minutes=10 * index + 5),
            scores={"nps": 10},
            texts={"text": f"Promoter {index}: friendly staff and great prices"},
        )
        for index in range(promoters)
    ]
    feedback_create(setup, items)
    return customers


def test_the_drill_down_shows_touchpoints_channels_personas_and_charts(page_client, workspace):
    setup = planted(workspace)
    response = page_client().get(stage_url(setup, 1))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Stage: Stage 2</h1>" in page
    touchpoints = section(page, "breakdown-touchpoints")
    assert "Stage 2.1" in touchpoints
    assert "Stage 2.2" in touchpoints
    assert '<span class="flag-label">Below the journey</span>' in touchpoints
    assert "Stage 1.1" not in touchpoints
    assert "Email" in text_of(section(page, "breakdown-channels"))
    personas = text_of(section(page, "breakdown-personas"))
    assert "Shopper" in personas
    assert "Without a persona" in personas
    for chart in ("trend", "distribution", "funnel"):
        assert f'data-figure="chart-{chart}-figure"' in page
        assert f'<script type="application/json" id="chart-{chart}-figure">{{"data":' in page
    assert '<p class="visually-hidden" id="chart-distribution-summary">NPS scores of Stage 2: ' in page
    assert f'href="{chart_url(setup, "trend", stage=1)}"' in page
    assert f'href="{chart_url(setup, "funnel")}"' in page
    # The summary repeats the stage's figures and flags.
    summary = section(page, "summary-heading")
    assert "band-negative" in page
    assert "Below the journey" in summary


def test_detractor_comments_are_the_newest_twenty_of_the_stage(page_client, workspace):
    setup = planted(workspace, per_touchpoint=40)
    with_comments(setup, detractors=25, promoters=5)
    page = page_client(Role.ADMIN).get(stage_url(setup, 1)).content.decode()
    comments = section(page, "comments-heading")
    shown = re.findall(r"Detractor (\d+):", comments)
    assert shown == [str(index) for index in range(20)]  # newest first (index 0 is the newest)
    assert "Promoter" not in comments
    assert 'lang="en"' in comments
    other_stage = page_client(Role.ADMIN).get(stage_url(setup, 0)).content.decode()
    assert "Detractor 0:" not in section(other_stage, "comments-heading")


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, 3),
        ({"channel": "email"}, 3),
        ({"channel": "link"}, 0),
        ({"language": "en"}, 3),
        ({"language": "pl"}, 0),
        ({"persona": "-"}, 3),  # the commenters have no persona
        ({"persona": "Shopper"}, 0),
        ({"survey": "other"}, 0),
    ],
)
def test_comments_follow_the_filters(page_client, workspace, query, shown):
    setup = planted(workspace, per_touchpoint=8)
    with_comments(setup, detractors=3, promoters=0)
    if query.get("survey") == "other":
        query = {"survey": journey_setup(workspace=workspace, stages=1).survey.pk}
    response = page_client().get(stage_url(setup, 1), query)
    assert response.status_code == 200
    comments = section(response.content.decode(), "comments-heading")
    assert len(re.findall(r"Detractor \d+:", comments)) == shown


def test_comment_personas_match_the_workspaces_regardless_of_case(page_client, workspace):
    setup = planted(workspace, per_touchpoint=8)
    customers = with_comments(setup, detractors=3, promoters=0)
    for customer in customers:
        customer.traits = {"persona": "sHoPPer"}
        customer.save(update_fields=["traits"])
    client = page_client()
    for query, shown in (({"persona": "Shopper"}, 3), ({"persona": "-"}, 0)):
        comments = section(client.get(stage_url(setup, 1), query).content.decode(), "comments-heading")
        assert len(re.findall(r"Detractor \d+:", comments)) == shown


def test_key_terms_tell_detractors_from_promoters(page_client, workspace):
    setup = planted(workspace, per_touchpoint=40)
    with_comments(setup, detractors=40, promoters=40)
    page = page_client(Role.ANALYST).get(stage_url(setup, 1)).content.decode()
    terms = section(page, "terms-heading")
    assert "from 80 comments" in text_of(terms)
    assert "Language: en" in text_of(terms)
    assert "40 detractor and 40 promoter comments." in text_of(terms)
    labels = re.findall(r'<th scope="row" lang="en">([^<]+)</th>', terms)
    assert "late" in labels
    assert not {"friendly", "staff", "great", "prices"} & set(labels)
    # Each term has example comments, e-mail addresses masked for an analyst.
    assert "[email hidden]" in html.unescape(terms)
    assert "@example.com" not in terms


@pytest.mark.parametrize(("role", "sees_pii"), [(role, Role.can_view_pii(role)) for role in ROLES])
def test_customer_details_only_for_roles_that_may_see_pii(page_client, workspace, role, sees_pii):
    setup = planted(workspace, per_touchpoint=40)
    customers = with_comments(setup, detractors=3, promoters=0)
    page = page_client(role).get(stage_url(setup, 1)).content.decode()
    comments = html.unescape(section(page, "comments-heading"))
    assert ("person0@example.com" in comments) is sees_pii
    assert (customers[0].external_id in comments) is sees_pii
    assert ("[email hidden]" in comments) is not sees_pii
    assert (
        "Customer details, e-mail addresses and phone numbers are hidden for your role." in comments
    ) is not sees_pii


def test_query_count_does_not_grow_with_the_data(page_client, workspace):
    setup = planted(workspace, per_touchpoint=40)
    with_comments(setup, detractors=5, promoters=5)
    client = page_client()
    urls = [journey_url(setup), stage_url(setup, 1), chart_url(setup, "trend", stage=1)]

    def counts() -> list[int]:
        result = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url, {"channel": "email"}).status_code == 200
            result.append(len(queries))
        return result

    counts()  # warm-up: sessions, caches
    small = counts()
    planted_more = planted(workspace, per_touchpoint=4)  # another journey: more rows in every table
    assert planted_more.journey.pk != setup.journey.pk
    customers = customers_create(workspace=workspace, count=5)
    moment = timezone.now() - timedelta(days=9)
    feedback_create(
        setup,
        [
            Feedback(customer=c, touchpoint=t, sent_at=moment, scores={"nps": 5}, texts={"text": "Slow again"})
            for c in customers
            for t in setup.touchpoints
        ],
    )
    with_comments(setup, detractors=30, promoters=10)
    assert counts() == small


# --- Drivers, the closed loop ------------------------------------------------------------------


def test_a_flagged_stage_shows_the_drivers_of_its_gap(page_client, workspace):
    setup = planted(workspace)
    client = page_client()
    page = client.get(stage_url(setup, 1)).content.decode()
    drivers = report_for(setup).stages[1].drivers
    text = text_of(section(page, "drivers-heading"))
    gap = drivers["touchpoint"].gap
    assert f"a gap of {gap:.1f} points" in text
    for heading in ("By touchpoint", "By channel", "By persona"):
        assert heading in text
    assert "Stage 2.1" in text
    assert "Stage 2.2" in text
    assert "Shopper" in text
    assert "Without a persona" in text
    # Only a flagged stage below the rest of the journey has drivers.
    assert 'id="drivers-heading"' not in client.get(stage_url(setup, 0)).content.decode()

    rows = csv_rows(client.get(chart_url(setup, "drivers", stage=1)))
    assert {row["dimension"] for row in rows} == {"touchpoint", "channel", "persona"}
    for dimension, table in drivers.items():
        part = [row for row in rows if row["dimension"] == dimension]
        assert sum(float(row["contribution"]) for row in part) == pytest.approx(table.gap, abs=0.01)
        assert sum(int(row["nps_n"]) for row in part) == 240
    assert {row["label"] for row in rows if row["dimension"] == "touchpoint"} == {"Stage 2.1", "Stage 2.2"}
    empty = client.get(chart_url(setup, "drivers", stage=0))
    assert csv_rows(empty) == []
    assert empty.content.decode().startswith("dimension,value,label,share,nps_value")


def test_the_journey_view_shows_how_the_loop_was_closed(page_client, workspace):
    setup = planted(workspace, per_touchpoint=20)
    client = page_client(Role.DESIGNER)
    before = text_of(section(client.get(journey_url(setup)).content.decode(), "followup-heading"))
    assert "Detractors followed up 0 of " in before
    assert "Median time to close no case closed yet" in before
    detractor_cases_open()
    cases = list(FollowUpCase.objects.filter(journey=setup.journey).order_by("pk"))
    designer = MembershipFactory(workspace=workspace, role=Role.DESIGNER).user
    for case in cases[:2]:
        case_update(workspace=workspace, case_id=case.pk, data={"status": "closed"}, author=designer, author_label="d")
    case_note_add(workspace=workspace, case_id=cases[2].pk, text="Called back.", author=designer, author_label="d")
    since, until = default_period(timezone.now().date())
    summary = followup_summary(workspace=workspace, journey=setup.journey, since=since, until=until)
    assert (summary["followed_up"], summary["closed"]) == (3, 2)

    text = text_of(section(client.get(journey_url(setup)).content.decode(), "followup-heading"))
    share = estimate_text(summary["share"], "share")
    assert f"3 of {summary['detractors']} detractors: {share}" in text
    assert "Cases closed 2" in text
    assert "Median time to close under an hour" in text
    assert f'href="{reverse("followup:list")}?journey={setup.journey.pk}"' in section(
        client.get(journey_url(setup)).content.decode(), "followup-heading"
    )


def test_a_journey_without_detractors_says_so(page_client, workspace):
    setup = journey_setup(workspace=workspace, stages=1)
    text = text_of(section(page_client().get(journey_url(setup)).content.decode(), "followup-heading"))
    assert "No detractors in this period." in text


@pytest.mark.parametrize(
    ("hours", "text"), [(0.4, "under an hour"), (1.4, "1 hour"), (30, "30 hours"), (47.4, "47 hours"), (100, "4 days")]
)
def test_time_to_close_is_worded_for_people(hours, text):
    assert duration_text(hours) == text


def test_the_pages_of_a_journey_without_nps_questions(page_client, workspace):
    setup = csat_only(workspace)
    client = page_client()
    assert client.get(journey_url(setup)).status_code == 200
    page = client.get(stage_url(setup, 0))
    assert page.status_code == 200
    assert "NPS insufficient data (n = 0)" in text_of(section(page.content.decode(), "summary-heading"))
    for chart in ("trend", "distribution", "touchpoints", "channels", "personas", "drivers"):
        assert client.get(chart_url(setup, chart, stage=0)).status_code == 200


def test_the_trend_breaks_at_a_week_without_answers(workspace):
    setup = journey_setup(workspace=workspace, stages=1)
    stage = setup.stages[0]
    mondays = [pd.Timestamp("2026-09-07"), pd.Timestamp("2026-09-14"), pd.Timestamp("2026-10-05")]
    weekly = pd.DataFrame(
        [
            {"stage_id": stage.pk, "week": monday, "question_type": "nps", "score": score, "n": 20}
            for monday in mondays
            for score in (10, 0)
        ]
    )
    chart = charts.trend_chart(weekly, stage=stage, min_n=30)
    assert [str(week) for week in chart.frame["week"]] == [
        "2026-09-07",
        "2026-09-14",
        "2026-09-21",
        "2026-09-28",
        "2026-10-05",
    ]
    assert chart.frame["nps_n"].tolist() == [40, 40, 0, 0, 40]
    values = chart.figure.data[2].y
    assert values[2] is None
    assert values[3] is None
