"""The read side: counts per stage, touchpoint and period equal a brute-force count, rolled up or raw."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.aggregation import (
    ReportFilters,
    answer_counts,
    invitation_counts,
    journey_stages,
    journey_touchpoints,
    stage_reach,
)
from analytics.models import AnswerRollup, RollupState
from analytics.rollups import SENT_STATUSES, rollups_refresh
from surveys.models import SCALES, Answer, Invitation
from tests.analytics.factories import (
    Feedback,
    customers_create,
    events_create,
    feedback_create,
    journey_setup,
    random_feedback,
)
from touchpoints.models import Persona

pytestmark = pytest.mark.django_db

TODAY = timezone.now().astimezone(UTC).date()
DAYS = [TODAY - timedelta(days=offset) for offset in range(10)]
PERSONA_TRAITS = ["Shopper", "shopper", "ADMIN", "Visitor", None]


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


# --- Brute force ------------------------------------------------------------------


def _persona_names(workspace) -> dict[str, str]:
    names: dict[str, str] = {}
    for name in Persona.objects.filter(workspace=workspace).values_list("name", flat=True):
        names[name.lower()] = min(name, names.get(name.lower(), name))
    return names


def _values(invitation, personas: dict[str, str], language: str, day: date) -> dict[str, Any]:
    trait = invitation.customer.traits.get("persona")
    return {
        "stage_id": invitation.touchpoint.stage_id,
        "touchpoint_id": invitation.touchpoint_id,
        "channel": invitation.channel,
        "persona": personas.get(str(trait).lower(), "") if trait is not None else "",
        "survey_id": invitation.survey_id,
        "language": language,
        "day": day,
        "week": day - timedelta(days=day.weekday()),
    }


def _kept(values: dict[str, Any], filters: ReportFilters) -> bool:
    if not filters.since <= values["day"] <= filters.until:
        return False
    return all(
        getattr(filters, name) is None or values[name] == getattr(filters, name)
        for name in ("channel", "persona", "survey_id", "language")
    )


def brute_answers(workspace, journey, filters: ReportFilters, by: Sequence[str]) -> Counter:
    personas = _persona_names(workspace)
    counts: Counter = Counter()
    answers = Answer.objects.filter(workspace=workspace).select_related(
        "question", "response__invitation__customer", "response__invitation__touchpoint__stage"
    )
    for answer in answers:
        invitation, kind = answer.response.invitation, answer.question.type
        if invitation.touchpoint is None or invitation.touchpoint.stage.journey_id != journey.pk:
            continue
        if kind not in ("nps", "csat", "ces") or answer.number is None:
            continue
        if not SCALES[kind][0] <= answer.number <= SCALES[kind][1]:
            continue
        language = answer.response.language or invitation.language
        values = _values(invitation, personas, language, answer.created_at.astimezone(UTC).date())
        if _kept(values, filters):
            counts[(*[values[name] for name in by], kind, answer.number)] += 1
    return counts


def brute_invitations(workspace, journey, filters: ReportFilters, by: Sequence[str]) -> Counter:
    personas = _persona_names(workspace)
    counts: Counter = Counter()
    invitations = Invitation.objects.filter(workspace=workspace, sent_at__isnull=False).select_related(
        "customer", "touchpoint__stage", "response"
    )
    for invitation in invitations:
        if invitation.status not in SENT_STATUSES:
            continue
        if invitation.touchpoint is None or invitation.touchpoint.stage.journey_id != journey.pk:
            continue
        response = getattr(invitation, "response", None)
        language = (response.language if response else "") or invitation.language
        values = _values(invitation, personas, language, invitation.sent_at.astimezone(UTC).date())
        if _kept(values, filters):
            key = tuple(values[name] for name in by)
            counts[(*key, "sent")] += 1
            counts[(*key, "answered")] += int(response is not None and response.answers.exists())
    return +counts  # drop zero counts


def as_counter(frame: pd.DataFrame, keys: Sequence[str], measures: Sequence[str]) -> Counter:
    counts: Counter = Counter()
    for row in frame.to_dict("records"):
        key = tuple(row[name].date() if name in ("day", "week") else row[name] for name in keys)
        for measure in measures:
            if len(measures) == 1:
                counts[key] += row[measure]
            else:
                counts[(*key, measure)] += row[measure]
    return +counts


# --- Data -------------------------------------------------------------------------


@pytest.fixture
def dataset(workspace, other_workspace):
    """A few hundred answers over ten days (today included), touchpoints, channels, languages, personas;
    plus rows that must never count: another journey, no touchpoint, out-of-range scores, another workspace."""
    rng = random.Random(20261202)  # noqa: S311 - test data
    setup = journey_setup(workspace=workspace, stages=3, touchpoints_per_stage=2)
    customers = customers_create(workspace=workspace, count=30, personas=PERSONA_TRAITS)
    items = random_feedback(setup, customers=customers, rng=rng, count=320, days=DAYS)
    noise = [
        Feedback(customer=customers[0], touchpoint=None, sent_at=at(TODAY), scores={"nps": 10}),
        Feedback(customer=customers[1], touchpoint=setup.touchpoints[0], sent_at=at(DAYS[2]), scores={"csat": 9}),
        Feedback(customer=customers[2], touchpoint=setup.touchpoints[1], sent_at=at(DAYS[3]), texts={"text": "ok"}),
        Feedback(customer=customers[3], touchpoint=setup.touchpoints[2], sent_at=None, status="scheduled"),
        Feedback(customer=customers[4], touchpoint=setup.touchpoints[2], sent_at=at(DAYS[1]), status="failed"),
    ]
    feedback_create(setup, [*items, *noise])
    elsewhere = journey_setup(workspace=workspace, stages=2, touchpoints_per_stage=1, personas=())
    feedback_create(
        elsewhere,
        random_feedback(elsewhere, customers=customers, rng=rng, count=40, days=DAYS),
    )
    foreign = journey_setup(workspace=other_workspace, stages=2, touchpoints_per_stage=1)
    foreign_customers = customers_create(workspace=other_workspace, count=5, personas=["Shopper"])
    feedback_create(foreign, random_feedback(foreign, customers=foreign_customers, rng=rng, count=60, days=DAYS))
    return setup


BYS = [
    (),
    ("stage_id",),
    ("touchpoint_id",),
    ("stage_id", "day"),
    ("week", "stage_id"),
    ("channel", "persona", "language", "survey_id"),
    ("touchpoint_id", "channel", "persona", "survey_id", "language", "day"),
]
FULL = ReportFilters(since=DAYS[-1], until=TODAY)


@pytest.mark.parametrize("by", BYS)
def test_answer_counts_equal_a_brute_force_count_raw_and_rolled_up(dataset, workspace, by):
    journey = dataset.journey
    expected = brute_answers(workspace, journey, FULL, by)
    assert sum(expected.values()) > 300

    raw = answer_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by)
    assert list(raw.columns) == [*by, "question_type", "score", "n"]
    assert as_counter(raw, [*by, "question_type", "score"], ["n"]) == expected

    rollups_refresh(workspace=workspace)
    assert RollupState.objects.get(workspace=workspace).complete_until == TODAY
    assert AnswerRollup.objects.filter(workspace=workspace).exists()
    combined = answer_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by)
    pd.testing.assert_frame_equal(combined, raw)


def test_answer_counts_of_some_stages_only(dataset, workspace):
    journey, stages = dataset.journey, [stage.pk for stage in dataset.stages]
    by = ["stage_id", "channel", "persona"]
    whole = answer_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by)
    for rolled_up in (False, True):
        if rolled_up:
            rollups_refresh(workspace=workspace)
        some = answer_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by, stage_ids=stages[1:])
        expected = whole[whole["stage_id"].isin(stages[1:])].reset_index(drop=True)
        pd.testing.assert_frame_equal(some, expected)
        none = answer_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by, stage_ids=[])
        assert none.empty


@pytest.mark.parametrize("by", [(), ("stage_id",), ("survey_id", "language", "persona"), ("channel", "day")])
def test_invitation_counts_equal_a_brute_force_count_raw_and_rolled_up(dataset, workspace, by):
    journey = dataset.journey
    expected = brute_invitations(workspace, journey, FULL, by)
    assert sum(count for key, count in expected.items() if key[-1] == "sent") > 250

    raw = invitation_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by)
    assert list(raw.columns) == [*by, "sent", "answered"]
    assert as_counter(raw, by, ["sent", "answered"]) == expected

    rollups_refresh(workspace=workspace)
    combined = invitation_counts(workspace=workspace, journey_id=journey.pk, filters=FULL, by=by)
    pd.testing.assert_frame_equal(combined, raw)


@pytest.mark.parametrize(
    "filters",
    [
        ReportFilters(since=DAYS[4], until=DAYS[1]),
        ReportFilters(since=TODAY, until=TODAY),
        ReportFilters(since=DAYS[-1], until=TODAY, channel="email"),
        ReportFilters(since=DAYS[-1], until=TODAY, persona="Shopper"),
        ReportFilters(since=DAYS[-1], until=TODAY, persona="Admin", language="pl"),
        ReportFilters(since=DAYS[-1], until=TODAY, persona=""),
        ReportFilters(since=DAYS[-1], until=TODAY, language="en"),
        ReportFilters(since=DAYS[5], until=DAYS[5], channel="link", language="pl"),
    ],
)
def test_filters_narrow_the_counts(dataset, workspace, filters):
    rollups_refresh(workspace=workspace)
    by = ["stage_id", "persona", "language", "channel"]
    expected = brute_answers(workspace, dataset.journey, filters, by)
    assert expected, "the filter should keep some answers"
    assert sum(expected.values()) < sum(brute_answers(workspace, dataset.journey, FULL, by).values())
    frame = answer_counts(workspace=workspace, journey_id=dataset.journey.pk, filters=filters, by=by)
    assert as_counter(frame, [*by, "question_type", "score"], ["n"]) == expected
    invitations = invitation_counts(workspace=workspace, journey_id=dataset.journey.pk, filters=filters, by=by)
    assert as_counter(invitations, by, ["sent", "answered"]) == brute_invitations(
        workspace, dataset.journey, filters, by
    )


@pytest.mark.parametrize(
    ("by", "filters", "table"),
    [
        (["stage_id"], FULL, "analytics_answertouchpointrollup"),
        (
            ["touchpoint_id", "survey_id", "week"],
            ReportFilters(since=DAYS[-1], until=TODAY, survey_id=1),
            "analytics_answertouchpointrollup",
        ),
        (["stage_id", "persona"], FULL, "analytics_answersegmentrollup"),
        (["stage_id"], ReportFilters(since=DAYS[-1], until=TODAY, language="pl"), "analytics_answerrollup"),
        (["channel"], FULL, "analytics_answersegmentrollup"),
        (["stage_id"], ReportFilters(since=DAYS[-1], until=TODAY, channel="email"), "analytics_answersegmentrollup"),
        (["channel", "language"], FULL, "analytics_answerrollup"),
    ],
)
def test_reports_read_the_smallest_rollup_that_has_their_dimensions(dataset, workspace, by, filters, table):
    rollups_refresh(workspace=workspace)
    with CaptureQueriesContext(connection) as queries:
        answer_counts(workspace=workspace, journey_id=dataset.journey.pk, filters=filters, by=by)
    [rollup_sql] = [query["sql"] for query in queries.captured_queries if "SUM(ar.n)" in query["sql"]]
    assert f"FROM {table} ar" in rollup_sql


def test_survey_filter_and_an_unknown_survey(dataset, workspace):
    rollups_refresh(workspace=workspace)
    journey_id = dataset.journey.pk
    filters = ReportFilters(since=DAYS[-1], until=TODAY, survey_id=dataset.survey.pk)
    frame = answer_counts(workspace=workspace, journey_id=journey_id, filters=filters, by=["survey_id"])
    assert set(frame["survey_id"]) == {dataset.survey.pk}
    assert frame["n"].sum() == sum(brute_answers(workspace, dataset.journey, FULL, []).values())
    none = ReportFilters(since=DAYS[-1], until=TODAY, survey_id=dataset.survey.pk + 1000)
    assert answer_counts(workspace=workspace, journey_id=journey_id, filters=none).empty
    assert invitation_counts(workspace=workspace, journey_id=journey_id, filters=none).empty


def test_personas_match_case_insensitively_and_the_rest_is_unknown(workspace):
    setup = journey_setup(workspace=workspace, personas=["Shopper", "Admin"])
    customers = customers_create(workspace=workspace, count=5, personas=["Shopper", "sHoPPeR", "admin", "Boss", None])
    feedback_create(
        setup,
        [
            Feedback(customer=c, touchpoint=setup.touchpoints[0], sent_at=at(TODAY, 1), scores={"nps": 7})
            for c in customers
        ],
    )
    filters = ReportFilters(since=TODAY, until=TODAY)
    frame = answer_counts(workspace=workspace, journey_id=setup.journey.pk, filters=filters, by=["persona"])
    assert dict(zip(frame["persona"], frame["n"], strict=True)) == {"": 2, "Admin": 1, "Shopper": 2}


def test_language_is_the_responses_else_the_invitations(workspace):
    setup = journey_setup(workspace=workspace)
    [customer] = customers_create(workspace=workspace, count=1)
    tp = setup.touchpoints[0]
    feedback_create(
        setup,
        [
            Feedback(customer=customer, touchpoint=tp, sent_at=at(TODAY, 1), scores={"nps": 1}, language="pl"),
            Feedback(
                customer=customer,
                touchpoint=tp,
                sent_at=at(TODAY, 1),
                scores={"nps": 2},
                language="pl",
                response_language="en",
            ),
            Feedback(
                customer=customer,
                touchpoint=tp,
                sent_at=at(TODAY, 1),
                scores={"nps": 3},
                language="hu",
                response_language="",
            ),
        ],
    )
    frame = answer_counts(
        workspace=workspace,
        journey_id=setup.journey.pk,
        filters=ReportFilters(since=TODAY, until=TODAY),
        by=["language"],
    )
    assert list(zip(frame["language"], frame["score"], strict=True)) == [("en", 2), ("hu", 3), ("pl", 1)]


def test_partial_responses_count_and_day_is_the_answers_utc_day(workspace):
    setup = journey_setup(workspace=workspace)
    [customer] = customers_create(workspace=workspace, count=1)
    yesterday = TODAY - timedelta(days=1)
    feedback_create(
        setup,
        [
            Feedback(
                customer=customer,
                touchpoint=setup.touchpoints[0],
                sent_at=at(yesterday, 20),
                scores={"ces": 6},
                is_complete=False,
                answered_at=at(yesterday, 23, 59),
            ),
            Feedback(
                customer=customer,
                touchpoint=setup.touchpoints[0],
                sent_at=at(yesterday, 20),
                scores={"ces": 5},
                answered_at=at(TODAY, 0, 0),
            ),
        ],
    )
    frame = answer_counts(
        workspace=workspace,
        journey_id=setup.journey.pk,
        filters=ReportFilters(since=yesterday, until=TODAY),
        by=["day"],
    )
    assert [(row.day.date(), row.score) for row in frame.itertuples()] == [(yesterday, 6), (TODAY, 5)]
    assert str(frame["day"].dtype).startswith("datetime64")


def test_another_workspace_sees_nothing(dataset, workspace, other_workspace):
    rollups_refresh()
    journey_id = dataset.journey.pk
    assert answer_counts(workspace=other_workspace, journey_id=journey_id, filters=FULL, by=["stage_id"]).empty
    assert invitation_counts(workspace=other_workspace, journey_id=journey_id, filters=FULL, by=["day"]).empty
    assert stage_reach(workspace=other_workspace, journey_id=journey_id, since=DAYS[-1], until=TODAY).empty
    assert journey_stages(workspace=other_workspace, journey_id=journey_id).empty
    assert journey_touchpoints(workspace=other_workspace, journey_id=journey_id).empty
    # and the other workspace's rows (same days, same shapes) never reach this one's counts
    frame = answer_counts(workspace=workspace, journey_id=journey_id, filters=FULL)
    assert frame["n"].sum() == sum(brute_answers(workspace, dataset.journey, FULL, []).values())


def test_an_empty_period_gives_typed_empty_frames(workspace):
    setup = journey_setup(workspace=workspace)
    filters = ReportFilters(since=TODAY, until=TODAY)
    frame = answer_counts(workspace=workspace, journey_id=setup.journey.pk, filters=filters, by=["day", "persona"])
    assert frame.empty
    assert list(frame.columns) == ["day", "persona", "question_type", "score", "n"]
    assert str(frame["n"].dtype) == "int64"
    backwards = ReportFilters(since=TODAY, until=TODAY - timedelta(days=3))
    assert invitation_counts(workspace=workspace, journey_id=setup.journey.pk, filters=backwards).empty


def test_unknown_or_repeated_dimensions_are_refused(workspace):
    with pytest.raises(ValueError, match="distinct dimensions"):
        answer_counts(workspace=workspace, journey_id=1, filters=FULL, by=["customer_id"])
    with pytest.raises(ValueError, match="distinct dimensions"):
        invitation_counts(workspace=workspace, journey_id=1, filters=FULL, by=["day", "day"])


def test_query_count_does_not_grow_with_the_data(workspace, django_assert_num_queries):
    rng = random.Random(7)  # noqa: S311 - test data
    setup = journey_setup(workspace=workspace)
    customers = customers_create(workspace=workspace, count=10, personas=PERSONA_TRAITS)
    by = ["stage_id", "week", "persona"]
    for count in (20, 400):
        feedback_create(setup, random_feedback(setup, customers=customers, rng=rng, count=count, days=DAYS))
        rollups_refresh(workspace=workspace)
        # the state, the rolled-up days, today's raw rows
        with django_assert_num_queries(3):
            answer_counts(workspace=workspace, journey_id=setup.journey.pk, filters=FULL, by=by)
        with django_assert_num_queries(3):
            invitation_counts(workspace=workspace, journey_id=setup.journey.pk, filters=FULL, by=by)
        with django_assert_num_queries(1):
            stage_reach(workspace=workspace, journey_id=setup.journey.pk, since=DAYS[-1], until=TODAY)


# --- Drop-off ---------------------------------------------------------------------


def test_stage_reach_counts_customers_who_continue_within_the_window(workspace, other_workspace):
    setup = journey_setup(workspace=workspace, stages=3, touchpoints_per_stage=2)
    (s1a, s1b, s2a, s2b, s3a, _s3b) = setup.touchpoints
    ann, bob, cid, dan, eve, fay = customers_create(workspace=workspace, count=6)
    day = date(2026, 3, 2)
    other = journey_setup(workspace=workspace, stages=1, touchpoints_per_stage=1)
    events_create(
        workspace=workspace,
        rows=[
            # ann: stage 1 twice (counted once), stage 2 after 10 days, stage 3 after 40 more days (too late)
            (ann, s1a, at(day, 9)),
            (ann, s1b, at(day + timedelta(days=1), 9)),
            (ann, s2a, at(day + timedelta(days=10), 9)),
            (ann, s3a, at(day + timedelta(days=50), 9)),
            # bob: stage 1, then stage 2 exactly 30 days later (inside), stage 3 the same day
            (bob, s1a, at(day + timedelta(days=2), 8)),
            (bob, s2b, at(day + timedelta(days=32), 8)),
            (bob, s3a, at(day + timedelta(days=32), 9)),
            # cid: stage 2 *before* stage 1 only: does not continue
            (cid, s2a, at(day, 7)),
            (cid, s1a, at(day, 8)),
            # dan: stage 1 then 30 days 23 hours to stage 2: outside the 30-day window, inside 31 days
            (dan, s1a, at(day + timedelta(days=3), 12)),
            (dan, s2a, at(day + timedelta(days=34), 11)),
            # eve: stage 1 before the period, stage 2 within: reaches stage 2 only
            (eve, s1a, at(day - timedelta(days=1), 12)),
            (eve, s2a, at(day + timedelta(days=4), 12)),
            # fay: another journey's touchpoint
            (fay, other.touchpoints[0], at(day, 12)),
            # an anonymous visitor does not count
            (None, s1a, at(day, 12)),
        ],
    )
    foreign = journey_setup(workspace=other_workspace, stages=1, touchpoints_per_stage=1)
    [stranger] = customers_create(workspace=other_workspace, count=1)
    events_create(workspace=other_workspace, rows=[(stranger, foreign.touchpoints[0], at(day, 9))])

    def reach(since: date, until: date, **options):
        return stage_reach(workspace=workspace, journey_id=setup.journey.pk, since=since, until=until, **options)

    frame = reach(day, day + timedelta(days=9))
    assert list(frame.columns) == ["stage_id", "order", "reached", "cohort", "continued"]
    assert frame["stage_id"].tolist() == [stage.pk for stage in setup.stages]
    assert frame["reached"].tolist() == [4, 2, 0]  # ann bob cid dan | cid eve (ann's and bob's come later) | none
    # The drop-off cohort is the customers whose window *ended* in the period: first seen 30 days earlier.
    assert frame["cohort"].tolist()[:2] == [0, 0]
    assert frame["cohort"].isna().tolist() == [False, False, True]  # the last stage has no next one
    assert frame["continued"].isna().tolist() == [False, False, True]

    later = reach(day + timedelta(days=30), day + timedelta(days=39))
    assert later["reached"].tolist() == [0, 2, 1]  # | bob dan | bob
    assert later["cohort"].tolist()[:2] == [4, 2]  # ann bob cid dan (eve's stage 1 is earlier) | cid eve
    assert later["continued"].tolist()[:2] == [2, 0]  # ann, bob at exactly 30 days | cid: no stage 3, eve: none

    longer = reach(day + timedelta(days=31), day + timedelta(days=40), window_days=31)
    assert longer["cohort"].tolist()[:2] == [4, 2]
    assert longer["continued"].tolist()[:2] == [3, 0]  # + dan within 31 days

    # A period that ends now counts only customers whose window has ended by now.
    now = datetime.combine(day + timedelta(days=35), datetime.min.time(), tzinfo=UTC)
    current = reach(day, day + timedelta(days=40), now=now)
    assert current["cohort"].tolist()[:2] == [5, 2]  # first seen before day + 5: eve ann cid bob dan | cid eve
    assert current["continued"].tolist()[:2] == [3, 0]  # eve ann bob


def test_journey_labels(workspace):
    setup = journey_setup(workspace=workspace, stages=2, touchpoints_per_stage=2)
    stages = journey_stages(workspace=workspace, journey_id=setup.journey.pk)
    assert stages.to_dict("records") == [
        {"stage_id": stage.pk, "order": stage.order, "name": stage.name} for stage in setup.stages
    ]
    touchpoints = journey_touchpoints(workspace=workspace, journey_id=setup.journey.pk)
    assert touchpoints["touchpoint_id"].tolist() == [touchpoint.pk for touchpoint in setup.touchpoints]
    assert touchpoints.columns.tolist() == ["touchpoint_id", "stage_id", "name", "channel"]
    assert touchpoints["channel"].tolist() == [touchpoint.channel for touchpoint in setup.touchpoints]
