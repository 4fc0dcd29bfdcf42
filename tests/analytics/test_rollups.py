"""Daily rollups: what a refresh writes, that it is incremental and idempotent, and the lateness policy."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import rollups
from analytics.aggregation import ReportFilters, answer_counts, invitation_counts
from analytics.models import AnswerRollup, AnswerTouchpointRollup, InvitationRollup, RollupState
from analytics.rollups import LATE_DAYS, rollups_rebuild, rollups_refresh
from analytics.tasks import refresh_rollups
from surveys.models import Answer, Invitation, Response
from tests.analytics.factories import Feedback, customers_create, feedback_create, journey_setup, random_feedback
from tests.analytics.test_aggregation import brute_answers, brute_invitations
from touchpoints.services import touchpoint_update

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TODAY = NOW.date()
DAYS = [TODAY - timedelta(days=offset) for offset in range(8)]
ANSWER_KEY = ("day", "touchpoint_id", "survey_id", "channel", "language", "persona", "question_type", "score")
INVITATION_KEY = ANSWER_KEY[:-2]


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def answer_rows(workspace) -> Counter:
    return Counter(
        {row[:-1]: row[-1] for row in AnswerRollup.objects.filter(workspace=workspace).values_list(*ANSWER_KEY, "n")}
    )


def invitation_rows(workspace) -> dict:
    rows = InvitationRollup.objects.filter(workspace=workspace).values_list(*INVITATION_KEY, "sent", "answered")
    return {row[:-2]: row[-2:] for row in rows}


@pytest.fixture
def setup(workspace):
    return journey_setup(workspace=workspace, stages=2, touchpoints_per_stage=2)


@pytest.fixture
def customers(workspace):
    return customers_create(workspace=workspace, count=12, personas=["Shopper", "admin", "Nobody", None])


@pytest.fixture
def history(setup, customers):
    rng = random.Random(42)  # noqa: S311 - test data
    feedback_create(setup, random_feedback(setup, customers=customers, rng=rng, count=200, days=DAYS))
    return setup


def test_a_first_refresh_rolls_up_every_complete_day_and_leaves_today_raw(history, workspace):
    first_day = min(Invitation.objects.filter(workspace=workspace).values_list("sent_at", flat=True)).date()
    assert rollups_refresh(workspace=workspace, now=NOW) == (TODAY - first_day).days

    filters = ReportFilters(since=first_day, until=TODAY - timedelta(days=1))
    assert answer_rows(workspace) == brute_answers(workspace, history.journey, filters, ANSWER_KEY[:-2])
    rolled: Counter = Counter()
    for key, (sent, answered) in invitation_rows(workspace).items():
        rolled[(*key, "sent")] += sent
        rolled[(*key, "answered")] += answered
    assert +rolled == brute_invitations(workspace, history.journey, filters, INVITATION_KEY)
    assert not AnswerRollup.objects.filter(day__gte=TODAY).exists()
    summed: Counter = Counter()
    for key, n in answer_rows(workspace).items():
        summed[(key[0], key[1], key[2], key[6], key[7])] += n  # day, touchpoint, survey, question type, score
    per_touchpoint = AnswerTouchpointRollup.objects.filter(workspace=workspace).values_list(
        "day", "touchpoint_id", "survey_id", "question_type", "score", "n"
    )
    assert {row[:-1]: row[-1] for row in per_touchpoint} == dict(summed)
    state = RollupState.objects.get(workspace=workspace)
    assert (state.complete_until, state.refreshed_at) == (TODAY, NOW)


def test_a_second_refresh_recomputes_only_the_last_day(history, workspace):
    rollups_refresh(workspace=workspace, now=NOW)
    before = answer_rows(workspace)
    old, last = TODAY - timedelta(days=3), TODAY - timedelta(days=LATE_DAYS)
    # Tamper with one row of an old day and one of the last day: only the last day is recomputed.
    old_row = AnswerRollup.objects.filter(workspace=workspace, day=old).first()
    last_row = AnswerRollup.objects.filter(workspace=workspace, day=last).first()
    AnswerRollup.objects.filter(pk__in=[old_row.pk, last_row.pk]).update(n=999)

    # Invitations sent before the last day and answered since: their sent days are recomputed too.
    answered_late = {
        sent_at.date()
        for sent_at in Invitation.objects.filter(
            workspace=workspace, response__answers__created_at__gte=at(last, 0), sent_at__lt=at(last, 0)
        ).values_list("sent_at", flat=True)
    }
    with CaptureQueriesContext(connection) as queries:
        assert rollups_refresh(workspace=workspace, now=NOW) == 1 + len(answered_late)
    statements = [query["sql"] for query in queries.captured_queries]
    # answers, answers by channel and persona, answers per touchpoint, invitations: one DELETE and one
    # INSERT … SELECT each
    assert sum(sql.startswith("INSERT INTO analytics_") for sql in statements) == 4
    assert sum(sql.startswith("DELETE FROM analytics_") for sql in statements) == 4

    old_row.refresh_from_db()
    assert old_row.n == 999  # not recomputed
    assert AnswerRollup.objects.filter(pk=last_row.pk).first() is None  # recomputed: replaced
    after = answer_rows(workspace)
    assert {key: n for key, n in after.items() if key[0] != old} == {
        key: n for key, n in before.items() if key[0] != old
    }


def test_refresh_is_idempotent_and_its_query_count_does_not_grow_with_history(setup, customers, workspace):
    rng = random.Random(1)  # noqa: S311 - test data
    counts = []
    for size in (10, 300):
        feedback_create(setup, random_feedback(setup, customers=customers, rng=rng, count=size, days=DAYS))
        rollups_refresh(workspace=workspace, now=NOW)
        rows, invitations = answer_rows(workspace), invitation_rows(workspace)
        with CaptureQueriesContext(connection) as queries:
            rollups_refresh(workspace=workspace, now=NOW)
        counts.append(len(queries.captured_queries))
        assert answer_rows(workspace) == rows
        assert invitation_rows(workspace) == invitations
    assert counts[0] == counts[1]


def test_a_full_rebuild_restores_every_day(history, workspace):
    rollups_refresh(workspace=workspace, now=NOW)
    rows, invitations = answer_rows(workspace), invitation_rows(workspace)
    AnswerRollup.objects.filter(workspace=workspace).update(n=999)
    InvitationRollup.objects.filter(workspace=workspace, day=DAYS[-1]).delete()
    rollups_rebuild(workspace=workspace, now=NOW)
    assert (answer_rows(workspace), invitation_rows(workspace)) == (rows, invitations)


def test_late_answers_for_yesterday_are_picked_up_older_ones_by_a_rebuild(setup, customers, workspace):
    tp = setup.touchpoints[0]
    yesterday, older = TODAY - timedelta(days=1), TODAY - timedelta(days=LATE_DAYS + 2)
    feedback_create(setup, [Feedback(customer=customers[0], touchpoint=tp, sent_at=at(older, 8), scores={"nps": 9})])
    rollups_refresh(workspace=workspace, now=NOW)
    # Committed after the refresh, dated yesterday and earlier (a transaction across midnight, an import).
    feedback_create(
        setup,
        [
            Feedback(
                customer=customers[1],
                touchpoint=tp,
                sent_at=at(yesterday, 22),
                answered_at=at(yesterday, 23),
                scores={"nps": 3},
            ),
            Feedback(customer=customers[2], touchpoint=tp, sent_at=at(older, 9), scores={"nps": 4}),
        ],
    )
    rollups_refresh(workspace=workspace, now=NOW)
    scores = {(row.day, row.score): row.n for row in AnswerRollup.objects.filter(workspace=workspace)}
    assert scores == {(older, 9): 1, (yesterday, 3): 1}  # the older one waits for a rebuild

    assert rollups_rebuild(workspace=workspace, since=older, now=NOW) >= (TODAY - older).days
    scores = {(row.day, row.score): row.n for row in AnswerRollup.objects.filter(workspace=workspace)}
    assert scores == {(older, 9): 1, (older, 4): 1, (yesterday, 3): 1}
    filters = ReportFilters(since=older, until=TODAY)
    frame = answer_counts(workspace=workspace, journey_id=setup.journey.pk, filters=filters)
    assert frame["n"].sum() == 3


def test_next_days_refresh_recomputes_the_day_before_once_more(setup, customers, workspace):
    tp = setup.touchpoints[0]
    rollups_refresh(workspace=workspace, now=NOW - timedelta(days=1))  # complete until yesterday
    yesterday = TODAY - timedelta(days=1)
    feedback_create(
        setup,
        [
            Feedback(
                customer=customers[0],
                touchpoint=tp,
                sent_at=at(yesterday - timedelta(days=1), 23),
                answered_at=at(yesterday - timedelta(days=1), 23),
                scores={"csat": 2},
            )
        ],
    )
    # the day before yesterday is now LATE_DAYS late: recomputed again, yesterday for the first time
    assert rollups_refresh(workspace=workspace, now=NOW) == 2
    assert list(AnswerRollup.objects.filter(workspace=workspace).values_list("day", "score")) == [
        (yesterday - timedelta(days=1), 2)
    ]


def test_an_answer_to_an_old_invitation_updates_its_sent_day(setup, customers, workspace):
    tp = setup.touchpoints[1]
    sent_day = TODAY - timedelta(days=5)
    [invitation] = feedback_create(setup, [Feedback(customer=customers[0], touchpoint=tp, sent_at=at(sent_day))])
    rollups_refresh(workspace=workspace, now=NOW)
    assert InvitationRollup.objects.get(workspace=workspace, day=sent_day).answered == 0

    response = Response.objects.create(
        workspace=workspace, survey=setup.survey, invitation=invitation, language="pl", started_at=NOW
    )
    Answer.objects.create(workspace=workspace, response=response, question=setup.questions["nps"], number=10)
    assert rollups_refresh(workspace=workspace, now=NOW) == 2  # yesterday, and the invitation's sent day
    row = InvitationRollup.objects.get(workspace=workspace, day=sent_day)
    assert (row.sent, row.answered, row.language) == (1, 1, "pl")  # the response's language now


def test_a_deleted_touchpoint_takes_its_rows_and_refresh_goes_on(history, workspace):
    rollups_refresh(workspace=workspace, now=NOW)
    doomed = history.touchpoints[0]
    assert AnswerRollup.objects.filter(touchpoint=doomed).exists()
    doomed.delete()
    assert not AnswerRollup.objects.filter(touchpoint=doomed.pk).exists()
    assert not AnswerTouchpointRollup.objects.filter(touchpoint=doomed.pk).exists()
    assert not InvitationRollup.objects.filter(touchpoint=doomed.pk).exists()
    rollups_refresh(workspace=workspace, now=NOW)
    filters = ReportFilters(since=DAYS[-1], until=TODAY)
    frame = answer_counts(workspace=workspace, journey_id=history.journey.pk, filters=filters, by=["touchpoint_id"])
    assert doomed.pk not in set(frame["touchpoint_id"])
    assert frame["n"].sum() == sum(brute_answers(workspace, history.journey, filters, []).values())


def test_a_deleted_survey_takes_its_rows(history, workspace):
    rollups_refresh(workspace=workspace, now=NOW)
    assert AnswerTouchpointRollup.objects.filter(workspace=workspace).exists()
    history.survey.delete()  # the admin can (the service refuses a survey with responses)
    for model in (AnswerRollup, AnswerTouchpointRollup, InvitationRollup):
        assert not model.objects.filter(workspace=workspace).exists(), model


def test_a_touchpoint_moved_to_another_stage_takes_its_history(history, workspace):
    rollups_refresh(workspace=workspace, now=NOW)
    filters = ReportFilters(since=DAYS[-1], until=TODAY)
    journey_id = history.journey.pk
    first, second = (stage.pk for stage in history.stages)
    moved = history.touchpoints[0]

    def per(dimension: str, frame_of=answer_counts) -> dict:
        frame = frame_of(workspace=workspace, journey_id=journey_id, filters=filters, by=[dimension])
        return frame.groupby(dimension)[frame.columns[-1]].sum().to_dict()

    moved_n = per("touchpoint_id")[moved.pk]
    before, sent_before = per("stage_id"), per("stage_id", invitation_counts)
    touchpoint_update(workspace=workspace, touchpoint_id=moved.pk, data={"stage_id": second})
    after = per("stage_id")
    assert (after[first], after[second]) == (before[first] - moved_n, before[second] + moved_n)
    assert sum(per("stage_id", invitation_counts).values()) == sum(sent_before.values())
    expected = brute_answers(workspace, history.journey, filters, ["stage_id"])
    frame = answer_counts(workspace=workspace, journey_id=journey_id, filters=filters, by=["stage_id"])
    assert Counter({(r.stage_id, r.question_type, r.score): r.n for r in frame.itertuples()}) == expected


def one_detractor_in(workspace):
    """A journey of one touchpoint in ``workspace`` with one NPS 0 answer two days ago."""
    setup = journey_setup(workspace=workspace, stages=1, touchpoints_per_stage=1)
    [customer] = customers_create(workspace=workspace, count=1)
    feedback_create(
        setup,
        [
            Feedback(
                customer=customer,
                touchpoint=setup.touchpoints[0],
                sent_at=at(TODAY - timedelta(days=2)),
                scores={"nps": 0},
            )
        ],
    )
    return setup


def test_refresh_keeps_workspaces_apart(history, workspace, other_workspace):
    foreign = one_detractor_in(other_workspace)
    rollups_refresh(workspace=workspace, now=NOW)
    assert not AnswerRollup.objects.filter(workspace=other_workspace).exists()
    assert not RollupState.objects.filter(workspace=other_workspace).exists()
    before = answer_rows(workspace)
    rollups_refresh(now=NOW)
    assert answer_rows(workspace) == before
    assert list(AnswerRollup.objects.filter(workspace=other_workspace).values_list("score", "n")) == [(0, 1)]
    assert not AnswerRollup.objects.filter(workspace=workspace, touchpoint=foreign.touchpoints[0]).exists()


def test_a_workspace_without_data_costs_nothing(workspace):
    assert rollups_refresh(workspace=workspace, now=NOW) == 0
    assert RollupState.objects.get(workspace=workspace).complete_until == TODAY


def test_the_task_refreshes_and_beat_runs_it_every_quarter_hour(history, workspace):
    assert refresh_rollups.delay(workspace_id=workspace.pk).get() > 0
    assert AnswerRollup.objects.filter(workspace=workspace).exists()
    assert refresh_rollups.delay().get() >= 1
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "analytics.refresh_rollups"]
    assert entry["schedule"] == 15 * 60
    assert 0 < entry["options"]["expires"] < entry["schedule"]  # a run no worker took is dropped before the next


def test_a_failing_workspace_does_not_hold_back_the_others(history, workspace, other_workspace, monkeypatch, caplog):
    one_detractor_in(other_workspace)
    real = rollups._refresh_workspace

    def refresh(*, workspace_id: int, **kwargs):
        if workspace_id == workspace.pk:
            raise RuntimeError("boom")
        return real(workspace_id=workspace_id, **kwargs)

    monkeypatch.setattr(rollups, "_refresh_workspace", refresh)
    assert workspace.pk < other_workspace.pk  # the failing one comes first
    assert rollups_refresh(now=NOW) > 0
    assert AnswerRollup.objects.filter(workspace=other_workspace).exists()
    assert not AnswerRollup.objects.filter(workspace=workspace).exists()
    [failure] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert f"workspace {workspace.pk} failed" in failure.getMessage()
    assert failure.exc_info is not None
    with pytest.raises(RuntimeError):  # asked for that one workspace, its error is raised
        rollups_refresh(workspace=workspace, now=NOW)


@pytest.mark.django_db(transaction=True)
def test_the_migration_that_adds_the_segment_level_fills_it_from_the_rollups_already_made():
    """Days rolled up before the level existed must not read as empty after the upgrade."""
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("analytics", "0003_report_settings")], [("analytics", "0004_answer_segment_rollup")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    with connection.cursor() as cursor:
        for channel, language, n in (("email", "en", 3), ("email", "pl", 4), ("link", "en", 5)):
            cursor.execute(
                "INSERT INTO analytics_answerrollup (workspace_id, day, touchpoint_id, survey_id, channel, language,"
                " persona, question_type, score, n) VALUES (1, '2026-11-02', 7, 9, %s, %s, '', 'nps', 10, %s)",
                [channel, language, n],
            )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    with connection.cursor() as cursor:
        cursor.execute("SELECT channel, n FROM analytics_answersegmentrollup ORDER BY channel")
        assert cursor.fetchall() == [("email", 7), ("link", 5)]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
