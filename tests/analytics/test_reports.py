"""The journey report: figures per stage and touchpoint, flags with reasons, the API and the CSV export."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import reports
from analytics.aggregation import ReportFilters
from analytics.reports import journey_report
from tests.analytics.factories import Feedback, customers_create, events_create, feedback_create, journey_setup
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Role

pytestmark = pytest.mark.django_db


def planted(workspace, *, per_touchpoint: int = 120, bad_stage: int = 1, seed: int = 7):
    """Three stages of two touchpoints; stage ``bad_stage`` (0-based) has many more detractors."""
    setup = journey_setup(workspace=workspace, stages=3, touchpoints_per_stage=2)
    customers = customers_create(workspace=workspace, count=50, personas=["Shopper", None])
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not secrets
    now = timezone.now()
    items = []
    for touchpoint in setup.touchpoints:
        bad = touchpoint.stage_id == setup.stages[bad_stage].pk
        weights = [0.6, 0.25, 0.15] if bad else [0.15, 0.25, 0.6]  # detractor, passive, promoter
        for _ in range(per_touchpoint):
            bucket = rng.choices([(0, 6), (7, 8), (9, 10)], weights)[0]
            sent = now - timedelta(days=rng.randrange(4, 60), hours=rng.randrange(24))  # answers have had time
            items.append(
                Feedback(
                    customer=rng.choice(customers),
                    touchpoint=touchpoint,
                    sent_at=sent,
                    scores={"nps": rng.randint(*bucket), "csat": rng.randint(1, 5), "ces": rng.randint(1, 7)},
                )
            )
        for _ in range(per_touchpoint // 4):  # sent, never answered
            items.append(
                Feedback(customer=rng.choice(customers), touchpoint=touchpoint, sent_at=now - timedelta(days=3))
            )
    feedback_create(setup, items)
    moment = now - timedelta(days=45)  # the 30-day window has ended: in the drop-off cohort
    rows = [(customer, setup.touchpoints[0], moment) for customer in customers]
    rows += [(customer, setup.touchpoints[2], moment + timedelta(days=1)) for customer in customers[:30]]
    events_create(workspace=workspace, rows=rows)
    return setup


def period() -> ReportFilters:
    today = timezone.now().date()
    return ReportFilters(since=today - timedelta(days=89), until=today)


def test_a_worse_stage_is_flagged_with_its_numbers(workspace):
    setup = planted(workspace)
    report = journey_report(workspace=workspace, journey=setup.journey, filters=period())
    assert [unit.id for unit in report.stages] == [stage.pk for stage in setup.stages]
    bad = report.stages[1]
    assert bad.figures["nps"].n == 240
    assert bad.figures["nps"].value < -20
    assert report.stages[0].figures["nps"].value > 20
    assert [flag.kind for flag in bad.flags if flag.kind == "below_journey"] == ["below_journey"]
    assert "NPS" in bad.flags[0].reason
    assert not [flag for flag in report.stages[0].flags if flag.kind == "below_journey"]
    assert bad.figures["response_rate"].n == 300
    assert bad.figures["response_rate"].value == pytest.approx(0.8)
    drop = report.stages[0].figures["drop_off"]
    assert (drop.n, drop.value) == (50, pytest.approx(0.4))
    assert report.stages[2].figures["drop_off"] is None  # the last stage has no next one
    assert len(report.touchpoints) == 6


def test_an_empty_journey_is_a_normal_report(workspace):
    setup = journey_setup(workspace=workspace, stages=2)
    report = journey_report(workspace=workspace, journey=setup.journey, filters=period())
    for unit in report.units():
        assert unit.flags == []
        assert unit.figures["nps"].as_dict() == {"insufficient_data": True, "n": 0}


def test_a_flagged_stage_below_the_journey_has_the_drivers_of_its_gap(workspace):
    setup = planted(workspace)
    report = journey_report(workspace=workspace, journey=setup.journey, filters=period())
    good_first, bad, good_last = report.stages
    assert (good_first.drivers, good_last.drivers) == ({}, {})
    assert all(unit.drivers == {} for unit in report.touchpoints)
    assert list(bad.drivers) == ["touchpoint", "channel", "persona"]

    # The reference is the rest of the journey pooled: the other stages' NPS weighted by their answers.
    rest = [good_first.figures["nps"], good_last.figures["nps"]]
    reference = sum(nps.value * nps.n for nps in rest) / sum(nps.n for nps in rest)
    flag = next(flag for flag in bad.flags if flag.kind == "below_journey")
    assert flag.evidence["rest_nps"] == pytest.approx(reference, abs=0.01)
    for dimension, table in bad.drivers.items():
        assert table.reference_nps == pytest.approx(reference)
        assert table.gap == pytest.approx(reference - bad.figures["nps"].value)
        assert sum(driver.contribution for driver in table.drivers) == pytest.approx(table.gap), dimension
        assert sum(driver.n for driver in table.drivers) == bad.figures["nps"].n
    stage_points = {point.pk for point in setup.touchpoints if point.stage_id == setup.stages[1].pk}
    assert {driver.value for driver in bad.drivers["touchpoint"].drivers} == stage_points
    assert {driver.value for driver in bad.drivers["persona"].drivers} == {"Shopper", ""}
    assert {driver.value for driver in bad.drivers["channel"].drivers} == {"email"}


def test_drivers_cost_one_count_call_and_only_when_a_stage_needs_them(workspace, monkeypatch):
    setup = planted(workspace)
    with CaptureQueriesContext(connection) as with_drivers:
        assert journey_report(workspace=workspace, journey=setup.journey, filters=period()).stages[1].drivers
    monkeypatch.setattr(reports, "_rest_of_journey_nps", lambda *args: {})  # no stage needs drivers
    with CaptureQueriesContext(connection) as without:
        assert not journey_report(workspace=workspace, journey=setup.journey, filters=period()).stages[1].drivers
    assert len(with_drivers) == len(without) + 2  # one count call: the rollup state, then the count


def test_a_week_without_answers_stays_a_gap_in_the_trend(workspace):
    """Six weeks of answers over eight (none in weeks 3 and 4): the decline is spread over eight weeks."""
    setup = journey_setup(workspace=workspace, stages=2, touchpoints_per_stage=1)
    customers = customers_create(workspace=workspace, count=20)
    rng = random.Random(5)  # noqa: S311 - seeded test data
    monday = timezone.now() - timedelta(days=timezone.now().weekday() + 7 * 8)
    items = []
    for week in (0, 1, 2, 5, 6, 7):
        promoter_share = 0.8 - 0.1 * week  # the stage's NPS falls 10 points a week: +60 to -80
        for stage_index, share in ((0, 0.6), (1, promoter_share)):
            for _ in range(60):
                nps = 10 if rng.random() < share else 0
                moment = monday + timedelta(days=7 * week + rng.randrange(5), hours=12)
                items.append(
                    Feedback(
                        customer=rng.choice(customers),
                        touchpoint=setup.touchpoints[stage_index],
                        sent_at=moment,
                        scores={"nps": nps},
                    )
                )
    feedback_create(setup, items)
    report = journey_report(workspace=workspace, journey=setup.journey, filters=period())
    flag = next(flag for flag in report.stages[1].flags if flag.kind == "declining")
    assert flag.evidence["weeks"] == 6
    assert flag.evidence["slope_per_week"] == pytest.approx(-20, abs=4)  # +/-100 points per answer: 2 x 10
    assert " over 8 weeks " in flag.reason


def csat_only(workspace):
    """Two stages of two touchpoints whose surveys asked CSAT and CES only, over several weeks."""
    setup = journey_setup(workspace=workspace, stages=2, touchpoints_per_stage=2)
    customers = customers_create(workspace=workspace, count=10)
    rng = random.Random(3)  # noqa: S311 - seeded test data
    now = timezone.now()
    feedback_create(
        setup,
        [
            Feedback(
                customer=rng.choice(customers),
                touchpoint=point,
                sent_at=now - timedelta(days=rng.randrange(4, 60)),
                scores={"csat": rng.randint(1, 5), "ces": rng.randint(1, 7)},
            )
            for point in setup.touchpoints
            for _ in range(40)
        ],
    )
    return setup


def test_a_journey_without_nps_questions_is_a_normal_report(workspace, key_client):
    """No NPS figure, no NPS flag, and no crash anywhere."""
    setup = csat_only(workspace)
    report = journey_report(workspace=workspace, journey=setup.journey, filters=period())
    assert all(unit.figures["nps"].n == 0 for unit in report.units())
    assert report.stages[0].figures["csat"].n == 80
    assert not [flag for unit in report.units() for flag in unit.flags if flag.kind in ("below_journey", "declining")]
    api = key_client(Role.VIEWER)
    assert api.get(reverse("api:journey-report", args=[setup.journey.pk])).status_code == 200
    assert api.get(reverse("api:journey-report-csv", args=[setup.journey.pk])).status_code == 200


class TestApi:
    def url(self, setup, suffix=""):
        return reverse("api:journey-report" + suffix, args=[setup.journey.pk])

    def test_the_report_shape(self, workspace, key_client):
        setup = planted(workspace)
        response = key_client(Role.VIEWER).get(self.url(setup))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["journey"]["id"] == setup.journey.pk
        stage = body["stages"][1]
        assert set(stage["nps"]) == {"value", "ci_low", "ci_high", "n"}
        assert stage["nps"]["ci_low"] <= stage["nps"]["value"] <= stage["nps"]["ci_high"]
        assert stage["flags"][0]["kind"] == "below_journey"
        assert {"kind", "severity", "reason", "evidence"} <= set(stage["flags"][0])
        assert len(body["touchpoints"]) == 6
        assert body["stages"][0]["drivers"] is None
        assert all(point["drivers"] is None for point in body["touchpoints"])
        by_touchpoint = stage["drivers"]["touchpoint"]
        assert set(stage["drivers"]) == {"touchpoint", "channel", "persona"}
        assert by_touchpoint["gap"] == pytest.approx(by_touchpoint["reference_nps"] - stage["nps"]["value"], abs=0.01)
        assert sum(item["contribution"] for item in by_touchpoint["drivers"]) == pytest.approx(
            by_touchpoint["gap"], abs=0.01
        )
        assert {item["value"] for item in by_touchpoint["drivers"]} == {
            point["id"] for point in body["touchpoints"][2:4]
        }
        first = by_touchpoint["drivers"][0]
        assert set(first) == {
            "value",
            "n",
            "is_sufficient",
            "share",
            "detractors",
            "detractor_share",
            "nps",
            "gap",
            "contribution",
        }

    def test_the_csv_export_answers_a_client_that_asks_for_csv(self, workspace, key_client):
        setup = planted(workspace, per_touchpoint=4)
        api = key_client(Role.VIEWER)
        response = api.get(self.url(setup, "-csv"), HTTP_ACCEPT="text/csv")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert_error(api.get(self.url(setup, "-csv"), {"channel": "pigeon"}, HTTP_ACCEPT="text/csv"), 400, "channel")

    def test_the_csv_export(self, workspace, key_client):
        setup = planted(workspace)
        response = key_client(Role.ANALYST).get(self.url(setup, "-csv"), {"channel": "email"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert len(rows) == 3 + 6
        assert rows[1]["level"] == "stage"
        assert float(rows[1]["nps_value"]) < 0
        assert "below_journey" in rows[1]["flags"]

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ({"since": "2026-05-01", "until": "2026-04-01"}, "since"),
            ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
            ({"since": "yesterday"}, "since"),
            ({"until": "0001-01-05"}, "until"),  # the default period would start before year 1
            ({"since": "0001-01-01", "until": "0001-01-02"}, "since"),
            ({"until": "9999-12-31"}, "until"),  # the day after would not exist
            ({"since": "1999-12-31"}, "since"),
            ({"channel": "pigeon"}, "channel"),
            ({"language": "not a tag"}, "language"),
            ({"survey": "999999"}, "survey"),
            ({"survey": "1e40"}, "survey"),
            ({"stage": "3"}, "stage"),
        ],
    )
    def test_bad_filters_are_field_errors(self, workspace, key_client, query, field):
        setup = journey_setup(workspace=workspace, stages=1)
        assert_error(key_client(Role.VIEWER).get(self.url(setup), query), 400, field)

    def test_another_workspaces_journey_and_survey(self, workspace, other_workspace, key_client):
        mine = journey_setup(workspace=workspace, stages=1)
        theirs = journey_setup(workspace=other_workspace, stages=1)
        api = key_client(Role.ADMIN)
        assert api.get(self.url(theirs)).status_code == 404
        assert api.get(self.url(theirs, "-csv")).status_code == 404
        assert_error(api.get(self.url(mine), {"survey": theirs.survey.pk}), 400, "survey")

    def test_query_count_does_not_grow_with_the_data(self, workspace, key_client):
        setup = planted(workspace, per_touchpoint=40)
        api = key_client(Role.VIEWER)
        api.get(self.url(setup))

        def count() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert api.get(self.url(setup)).status_code == 200
            return len(queries)

        small = count()
        customers = customers_create(workspace=workspace, count=5)
        moment = datetime.now(UTC) - timedelta(days=2)
        feedback_create(
            setup,
            [
                Feedback(customer=c, touchpoint=t, sent_at=moment, scores={"nps": 5})
                for c in customers
                for t in setup.touchpoints
            ],
        )
        assert count() == small
