"""Follow-up cases: opened from detractor answers (idempotent, batched), changed by services, the API and the
pages (roles, PII, field errors, scoping, flat query counts), and the dashboard's follow-up summary."""

from __future__ import annotations

import html
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import cases
from analytics.cases import add_business_days, case_note_add, case_update, detractor_cases_open, followup_summary
from analytics.models import CaseNote, DetractorSweep, FollowUpCase
from analytics.tasks import open_detractor_cases
from config.errors import ApplicationError
from surveys.models import Answer
from tests.analytics.factories import Feedback, customers_create, feedback_create, journey_setup
from tests.touchpoints.factories import MembershipFactory, UserFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Customer, Role, Touchpoint
from touchpoints.permissions import SESSION_WORKSPACE_KEY

pytestmark = pytest.mark.django_db

CASES = reverse("api:case-list")
FOLLOW_UP = reverse("followup:list")
PHONE = "+48 601 234 567"


def detail(case_id: int) -> str:
    return reverse("api:case-detail", args=[case_id])


def soon(days: int = 30) -> datetime:
    """A due date the rules accept (within two years), on the minute, in UTC."""
    return (timezone.now() + timedelta(days=days)).replace(second=0, microsecond=0)


def form_value(moment: datetime) -> str:
    """How the page's datetime-local field sends a time."""
    return moment.strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def setup(workspace):
    setup = journey_setup(workspace=workspace, stages=2, touchpoints_per_stage=1)
    Touchpoint.objects.filter(pk=setup.touchpoints[0].pk).update(owner_team="Support")
    Touchpoint.objects.filter(pk=setup.touchpoints[1].pk).update(owner_team="Billing")
    setup.customers = customers_create(workspace=workspace, count=40)
    Customer.objects.filter(pk=setup.customers[0].pk).update(email="ann@example.com")
    return setup


def answer(setup, scores_list, *, touchpoint=None, when=None, texts=None, start=0):
    """One response per item of ``scores_list`` (customers from ``start`` on), answered at ``when``."""
    moment = when or timezone.now() - timedelta(hours=2)
    items = [
        Feedback(
            customer=setup.customers[start + index],
            touchpoint=touchpoint or setup.touchpoints[0],
            sent_at=moment - timedelta(hours=1),
            scores=scores,
            texts=texts or {},
            answered_at=moment,
        )
        for index, scores in enumerate(scores_list)
    ]
    return feedback_create(setup, items)


def case_of(invitation) -> FollowUpCase:
    return FollowUpCase.objects.get(response__invitation=invitation)


# --- Opening detractor cases ----------------------------------------------------------------


def test_each_detractor_response_opens_one_case(setup):
    invitations = answer(
        setup,
        [
            {"nps": 3},  # detractor
            {"nps": 9},  # promoter
            {"nps": 7, "csat": 1},  # CSAT detractor
            {"nps": 5, "ces": 2},  # both low: one case, NPS first
            {"csat": 3},  # neutral
            {"ces": 3},  # neutral on 1-7
            {},  # no scores
            {"nps": 6},  # the highest detractor score
            {"nps": 7},  # passive
        ],
        texts=None,
    )
    result = detractor_cases_open()
    assert result.opened == 4
    assert sorted(FollowUpCase.objects.values_list("question_type", "score")) == [
        ("csat", 1),
        ("nps", 3),
        ("nps", 5),
        ("nps", 6),
    ]
    case = case_of(invitations[0])
    assert (case.source, case.status, case.owner_team) == ("detractor", "open", "Support")
    assert (case.journey_id, case.stage_id, case.touchpoint_id) == (
        setup.journey.pk,
        setup.stages[0].pk,
        setup.touchpoints[0].pk,
    )
    assert case.customer_id == setup.customers[0].pk
    assert case.feedback_at == Answer.objects.filter(response__invitation=invitations[0]).get().created_at
    assert case.due_at == add_business_days(case.opened_at, cases.DETRACTOR_DUE_BUSINESS_DAYS, "UTC")
    # idempotent: a second sweep, or the task, opens nothing more
    assert detractor_cases_open().opened == 0
    assert open_detractor_cases() == 0
    assert FollowUpCase.objects.count() == 4


def test_a_later_low_answer_of_the_same_response_opens_no_second_case(setup):
    invitation = answer(setup, [{"nps": 2}])[0]
    detractor_cases_open()
    response = invitation.response
    Answer.objects.create(workspace=setup.workspace, response=response, question=setup.questions["csat"], number=1)
    assert detractor_cases_open().opened == 0
    assert FollowUpCase.objects.filter(response=response).count() == 1


def test_the_sweep_works_in_batches_with_a_constant_number_of_queries(setup):
    detractor_cases_open()  # the first sweep sets the watermark up
    answer(setup, [{"nps": 1}] * 5)
    with CaptureQueriesContext(connection) as few:
        assert detractor_cases_open(limit=100).opened == 5
    answer(setup, [{"nps": 1}] * 30, start=5)
    with CaptureQueriesContext(connection) as many:
        assert detractor_cases_open(limit=100).opened == 30
    assert len(many.captured_queries) == len(few.captured_queries)
    answer(setup, [{"nps": 0}] * 5, start=35)
    first = detractor_cases_open(limit=3)
    assert (first.opened, first.is_full) == (3, True)
    second = detractor_cases_open(limit=3)
    assert (second.opened, second.is_full) == (2, False)
    assert FollowUpCase.objects.count() == 40


def test_the_watermark_trails_by_the_commit_lag(setup):
    start = timezone.now()
    detractor_cases_open(now=start)
    state = DetractorSweep.objects.get()
    answer(setup, [{"nps": 4}] * 3)
    newest = Answer.objects.order_by("-pk").first().pk
    detractor_cases_open(now=start + timedelta(minutes=1))
    case = FollowUpCase.objects.order_by("pk").first()
    case.delete()  # as if its answer had committed late, after the sweep looked
    # within the lag the watermark has not passed the answer: the next sweep still finds it
    assert detractor_cases_open(now=start + timedelta(minutes=5)).opened == 1
    assert DetractorSweep.objects.get().swept_through_id == state.swept_through_id
    later = start + cases.SWEEP_COMMIT_LAG + timedelta(minutes=1)
    detractor_cases_open(now=later)
    detractor_cases_open(now=later + cases.SWEEP_COMMIT_LAG + timedelta(minutes=1))
    assert DetractorSweep.objects.get().swept_through_id >= newest  # matured: answers below are not read again
    FollowUpCase.objects.order_by("pk").first().delete()
    assert detractor_cases_open(now=later + timedelta(hours=1)).opened == 0


def test_the_first_sweep_looks_back_a_week_only(setup):
    answer(setup, [{"nps": 0}], when=timezone.now() - timedelta(days=10))
    recent = answer(setup, [{"nps": 0}], start=1)[0]
    assert detractor_cases_open().opened == 1
    assert FollowUpCase.objects.get().response_id == recent.response.pk


def test_business_days_skip_weekends_in_the_workspace_time_zone():
    friday = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # 17:00 in Warsaw
    due = add_business_days(friday, 2, "Europe/Warsaw")
    local = due.astimezone(zoneinfo.ZoneInfo("Europe/Warsaw"))
    assert (local.weekday(), local.hour, local.day) == (1, 17, 31)  # Tuesday 17:00, after the switch to summer time
    saturday = datetime(2026, 3, 28, 10, 0, tzinfo=UTC)
    assert add_business_days(saturday, 2, "UTC").weekday() == 1
    assert add_business_days(datetime(2026, 3, 23, 9, 0, tzinfo=UTC), 5, "Not/AZone") == datetime(
        2026, 3, 30, 9, 0, tzinfo=UTC
    )


# --- Changing cases (services) ----------------------------------------------------------------


@pytest.fixture
def case(setup):
    answer(setup, [{"nps": 2}], texts={"text": f"Write to ann@example.com or call {PHONE}, the parcel was late."})
    detractor_cases_open()
    return FollowUpCase.objects.get()


@pytest.fixture
def designer(workspace):
    return MembershipFactory(workspace=workspace, role=Role.DESIGNER, user=UserFactory(username="dora")).user


def test_status_changes_are_recorded_and_close_the_loop(workspace, case, designer):
    updated = case_update(
        workspace=workspace, case_id=case.pk, data={"status": "in_progress"}, author=designer, author_label="dora"
    )
    assert updated.followed_up_at is not None
    assert updated.closed_at is None
    followed_up = updated.followed_up_at
    closed = case_update(
        workspace=workspace,
        case_id=case.pk,
        data={"status": "closed", "assignee_id": designer.pk},
        author=designer,
        author_label="dora",
    )
    assert closed.closed_at is not None
    assert closed.followed_up_at == followed_up
    assert closed.assignee == designer
    reopened = case_update(workspace=workspace, case_id=case.pk, data={"status": "open"}, author=None, author_label="x")
    assert reopened.closed_at is None
    changes = list(CaseNote.objects.filter(case=case, kind="change").values_list("changes", flat=True))
    assert changes == [
        {"status": ["open", "in_progress"]},
        {"status": ["in_progress", "closed"], "assignee": ["", "dora"]},
        {"status": ["closed", "open"]},
    ]
    # nothing changed: nothing recorded
    case_update(workspace=workspace, case_id=case.pk, data={"status": "open"}, author=None, author_label="x")
    assert CaseNote.objects.filter(case=case).count() == 3


def test_a_note_marks_the_case_followed_up(workspace, case, designer):
    note = case_note_add(
        workspace=workspace, case_id=case.pk, text="  Called her.  ", author=designer, author_label="dora"
    )
    case.refresh_from_db()
    assert note.text == "Called her."
    assert case.followed_up_at == note.created_at
    assert case.status == "open"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"status": "done"}, "status"),
        ({"assignee_id": 10**12}, "assignee"),
        ({"due_at": timezone.now() - timedelta(days=2)}, "due_at"),
        ({"due_at": datetime(2030, 1, 1)}, "due_at"),  # noqa: DTZ001 - a naive time is the point
        ({"owner_team": "Other"}, "owner_team"),
    ],
)
def test_bad_changes_are_field_errors(workspace, case, data, field):
    with pytest.raises(ApplicationError) as caught:
        case_update(workspace=workspace, case_id=case.pk, data=data, author=None, author_label="x")
    assert field in caught.value.fields


@pytest.mark.parametrize(
    "due_at",
    [
        pytest.param(lambda now: now + cases.DUE_AT_MAX_AHEAD + timedelta(days=1), id="over two years ahead"),
        pytest.param(lambda now: now + timedelta(days=3 * 365), id="three years ahead"),
        # At the ends of the calendar: converting these to UTC would overflow.
        pytest.param(
            lambda now: datetime(9999, 12, 31, 23, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York")), id="9999 west"
        ),
        pytest.param(lambda now: datetime(9999, 12, 31, 23, 59, tzinfo=UTC), id="9999 UTC"),
        pytest.param(
            lambda now: datetime(1, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo("Pacific/Kiritimati")), id="year 1 east"
        ),
        pytest.param(lambda now: datetime(1999, 12, 31, 12, 0, tzinfo=UTC), id="before 2000"),
    ],
)
def test_a_due_date_out_of_range_is_a_field_error(workspace, case, due_at):
    before = case.due_at
    with pytest.raises(ApplicationError) as caught:
        case_update(
            workspace=workspace, case_id=case.pk, data={"due_at": due_at(timezone.now())}, author=None, author_label=""
        )
    assert list(caught.value.fields) == ["due_at"]
    case.refresh_from_db()
    assert case.due_at == before
    assert not CaseNote.objects.exists()


def test_a_due_date_up_to_two_years_ahead_is_accepted(workspace, case):
    due_at = timezone.now() + cases.DUE_AT_MAX_AHEAD - timedelta(minutes=5)
    updated = case_update(workspace=workspace, case_id=case.pk, data={"due_at": due_at}, author=None, author_label="")
    assert updated.due_at == due_at
    assert FollowUpCase.objects.get(pk=case.pk).due_at == due_at


def test_only_admins_and_designers_of_the_workspace_can_be_assigned(workspace, other_workspace, case):
    viewer = MembershipFactory(workspace=workspace, role=Role.VIEWER).user
    stranger = MembershipFactory(workspace=other_workspace, role=Role.ADMIN).user
    for user in (viewer, stranger):
        with pytest.raises(ApplicationError) as caught:
            case_update(
                workspace=workspace, case_id=case.pk, data={"assignee_id": user.pk}, author=None, author_label=""
            )
        assert "assignee" in caught.value.fields


def test_another_workspaces_case_does_not_exist_for_the_services(other_workspace, case):
    with pytest.raises(FollowUpCase.DoesNotExist):
        case_update(workspace=other_workspace, case_id=case.pk, data={"status": "closed"}, author=None, author_label="")
    with pytest.raises(FollowUpCase.DoesNotExist):
        case_note_add(workspace=other_workspace, case_id=case.pk, text="hi", author=None, author_label="")


# --- The dashboard's summary ------------------------------------------------------------------


def test_followup_summary(workspace, setup, designer):
    today = timezone.now().date()
    answer(setup, [{"nps": 1}, {"nps": 2}, {"nps": 3}, {"csat": 1}, {"nps": 10}])
    answer(setup, [{"nps": 0}], touchpoint=setup.touchpoints[1], start=10)  # same journey, other stage
    answer(setup, [{"nps": 0}], when=timezone.now() - timedelta(days=40), start=20)  # before the period
    other = journey_setup(workspace=workspace, stages=1, touchpoints_per_stage=1)
    other.customers = setup.customers
    answer(other, [{"nps": 0}], start=30)  # another journey
    empty = followup_summary(
        workspace=workspace, journey=setup.journey, since=today - timedelta(days=20), until=today - timedelta(days=10)
    )
    assert empty["detractors"] == 0
    assert empty["share"].n == 0
    detractor_cases_open(now=timezone.now() - timedelta(days=1))
    since = today - timedelta(days=7)
    summary = followup_summary(workspace=workspace, journey=setup.journey, since=since, until=today)
    assert (summary["detractors"], summary["followed_up"], summary["closed"]) == (5, 0, 0)
    assert summary["median_hours_to_close"] is None
    journey_cases = FollowUpCase.objects.filter(journey=setup.journey, feedback_at__date__gte=since).order_by("pk")
    first, second, third = journey_cases[:3]
    case_update(workspace=workspace, case_id=first.pk, data={"status": "closed"}, author=designer, author_label="d")
    case_update(workspace=workspace, case_id=second.pk, data={"status": "closed"}, author=designer, author_label="d")
    case_note_add(workspace=workspace, case_id=third.pk, text="Left a voicemail.", author=designer, author_label="d")
    summary = followup_summary(workspace=workspace, journey=setup.journey, since=since, until=today)
    assert (summary["detractors"], summary["followed_up"], summary["closed"]) == (5, 3, 2)
    assert summary["share"].value == pytest.approx(0.6)
    assert summary["share"].ci_low < 0.6 < summary["share"].ci_high
    assert summary["share"].sufficient
    assert summary["median_hours_to_close"] == pytest.approx(24, abs=0.1)
    everywhere = followup_summary(workspace=workspace, journey=None, since=since, until=today)
    assert everywhere["detractors"] == 6


# --- API ----------------------------------------------------------------------------------------


def test_list_and_read_cases(key_client, case, setup):
    body = key_client(Role.ADMIN).get(CASES).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["id"] == case.pk
    assert (row["source"], row["status"], row["owner_team"]) == ("detractor", "open", "Support")
    assert (row["question_type"], row["score"]) == ("nps", 2)
    assert row["stage_name"] == "Stage 1"
    assert row["customer"] == {"external_id": setup.customers[0].external_id, "email": "ann@example.com"}
    assert row["is_overdue"] is False
    assert row["note_count"] == 0
    one = key_client(Role.DESIGNER).get(detail(case.pk)).json()
    answers = {item["question_type"]: item for item in one["answers"]}
    assert answers["nps"]["number"] == 2
    assert "ann@example.com" in answers["text"]["text"]
    assert PHONE in answers["text"]["text"]
    assert one["notes"] == []


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_see_no_customer_details(key_client, case, role):
    api = key_client(role)
    assert api.get(CASES).json()["results"][0]["customer"] is None
    one = api.get(detail(case.pk)).json()
    assert one["customer"] is None
    text = next(item["text"] for item in one["answers"] if item["question_type"] == "text")
    assert text == "Write to [email hidden] or call [phone hidden], the parcel was late."
    content = api.get(detail(case.pk)).content.decode()
    assert "ann@example.com" not in content
    assert "601 234 567" not in content


NOTE = "Called Ann on +7 912 345-67-89, she asked for a reply to ann.b@example.org by 2026-11-23."
MASKED_NOTE = "Called Ann on [phone hidden], she asked for a reply to [email hidden] by 2026-11-23."


@pytest.mark.parametrize(
    ("role", "shown"),
    [(Role.ADMIN, NOTE), (Role.DESIGNER, NOTE), (Role.ANALYST, MASKED_NOTE), (Role.VIEWER, MASKED_NOTE)],
)
def test_notes_are_masked_for_roles_without_pii(key_client, workspace, case, role, shown):
    case_note_add(workspace=workspace, case_id=case.pk, text=NOTE, author=None, author_label="dora")
    notes = key_client(role).get(detail(case.pk)).json()["notes"]
    assert [note["text"] for note in notes] == [shown]


def test_the_author_of_a_note_reads_it_back_as_written(member_client, case):
    response = member_client(Role.DESIGNER).post(
        reverse("api:case-notes", args=[case.pk]), {"text": NOTE}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["text"] == NOTE


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_cannot_write(key_client, case, role):
    api = key_client(role)
    assert api.patch(detail(case.pk), {"status": "closed"}, format="json").status_code == 403
    assert api.post(reverse("api:case-notes", args=[case.pk]), {"text": "hi"}, format="json").status_code == 403
    case.refresh_from_db()
    assert case.status == "open"
    assert not CaseNote.objects.exists()


def test_update_a_case_and_add_notes(member_client, case, designer):
    api = member_client(Role.DESIGNER)
    due = (timezone.now() + timedelta(days=5)).replace(microsecond=0)
    response = api.patch(
        detail(case.pk),
        {"status": "in_progress", "assignee": designer.pk, "due_at": due.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["assignee"], body["assignee_name"]) == ("in_progress", designer.pk, "dora")
    assert datetime.fromisoformat(body["due_at"]) == due
    assert body["followed_up_at"] is not None
    assert body["notes"][0]["kind"] == "change"
    assert body["notes"][0]["author"] == api.user.username
    note = api.post(reverse("api:case-notes", args=[case.pk]), {"text": "Refund issued."}, format="json")
    assert note.status_code == 201, note.content
    assert note.json()["text"] == "Refund issued."
    assert api.get(CASES).json()["results"][0]["note_count"] == 1
    unassigned = api.patch(detail(case.pk), {"assignee": None}, format="json").json()
    assert unassigned["assignee"] is None


def test_a_key_is_named_in_the_history(key_client, case):
    response = key_client(Role.ADMIN).patch(detail(case.pk), {"status": "closed"}, format="json")
    assert response.status_code == 200
    assert response.json()["notes"][0]["author"].startswith("API key jp_sk_")
    assert response.json()["closed_at"] is not None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "done"}, "status"),
        ({"due_at": "next tuesday"}, "due_at"),
        ({"due_at": "2020-01-01T10:00:00Z"}, "due_at"),
        ({"assignee": 999999}, "assignee"),
        ({"assignee": "dora"}, "assignee"),
        ({"assignee": 10**30}, "assignee"),
        ({"owner_team": "Billing"}, "owner_team"),
    ],
)
def test_bad_updates_are_field_errors(admin_api, case, payload, field):
    assert_error(admin_api.patch(detail(case.pk), payload, format="json"), 400, field)
    case.refresh_from_db()
    assert case.status == "open"


@pytest.mark.parametrize(
    "due_at",
    [
        "9999-12-31T23:00:00-05:00",  # would overflow on conversion to UTC
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:00:00",  # no offset: read as UTC
        "0001-01-01T00:00:00-05:00",
        "0001-01-01T00:00:00+05:00",  # would underflow on conversion to UTC
        "1999-12-31T12:00:00Z",
        "three years",
    ],
)
def test_a_due_date_out_of_range_is_a_field_error_in_the_api(admin_api, case, due_at):
    if due_at == "three years":
        due_at = (timezone.now() + timedelta(days=3 * 365)).isoformat()
    before = case.due_at
    error = assert_error(admin_api.patch(detail(case.pk), {"due_at": due_at}, format="json"), 400, "due_at")
    assert list(error["fields"]) == ["due_at"]
    case.refresh_from_db()
    assert case.due_at == before
    assert not CaseNote.objects.exists()


def test_the_api_accepts_a_due_date_up_to_two_years_ahead(admin_api, case):
    due = soon(days=2 * 365 - 1).astimezone(zoneinfo.ZoneInfo("America/New_York"))
    response = admin_api.patch(detail(case.pk), {"due_at": due.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    assert datetime.fromisoformat(response.json()["due_at"]) == due
    case.refresh_from_db()
    assert case.due_at == due


def test_a_note_needs_text(admin_api, case):
    url = reverse("api:case-notes", args=[case.pk])
    assert_error(admin_api.post(url, {"text": "   "}, format="json"), 400, "text")
    assert_error(admin_api.post(url, {"text": "x" * 5001}, format="json"), 400, "text")
    assert_error(admin_api.post(url, {}, format="json"), 400, "text")


def test_a_whole_update_is_refused(admin_api, case):
    assert admin_api.put(detail(case.pk), {"status": "closed"}, format="json").status_code == 405
    assert admin_api.delete(detail(case.pk)).status_code == 405


def test_filters(workspace, admin_api, setup, designer):
    answer(setup, [{"nps": 1}, {"nps": 2}])
    answer(setup, [{"nps": 3}], touchpoint=setup.touchpoints[1], start=5)
    detractor_cases_open()
    billing = FollowUpCase.objects.get(owner_team="Billing")
    case_update(
        workspace=workspace, case_id=billing.pk, data={"assignee_id": designer.pk}, author=None, author_label=""
    )
    late = FollowUpCase.objects.filter(owner_team="Support").first()
    FollowUpCase.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))

    def ids(**query):
        response = admin_api.get(CASES, query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(owner_team="Billing") == {billing.pk}
    assert ids(stage=setup.stages[1].pk) == {billing.pk}
    assert ids(touchpoint=setup.touchpoints[1].pk) == {billing.pk}
    assert ids(assignee=designer.pk) == {billing.pk}
    assert len(ids(unassigned="true")) == 2
    assert ids(overdue="true") == {late.pk}
    assert len(ids(status="open", source="detractor", journey=setup.journey.pk)) == 3
    assert ids(status="closed") == set()
    assert ids(source="flag") == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"source": "phone"}, "source"),
        ({"stage": "abc"}, "stage"),
        ({"assignee": "1e40"}, "assignee"),
    ],
)
def test_bad_filters_are_field_errors(admin_api, query, field):
    assert_error(admin_api.get(CASES, query), 400, field)


def test_another_workspaces_cases_do_not_exist(key_client, case, other_workspace):
    stranger = key_client(Role.ADMIN, ws=other_workspace)
    assert stranger.get(CASES).json()["count"] == 0
    assert stranger.get(detail(case.pk)).status_code == 404
    assert stranger.patch(detail(case.pk), {"status": "closed"}, format="json").status_code == 404
    assert stranger.post(reverse("api:case-notes", args=[case.pk]), {"text": "hi"}, format="json").status_code == 404
    case.refresh_from_db()
    assert case.status == "open"


def test_list_query_count_is_flat(workspace, admin_api, setup, designer):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_api.get(CASES).status_code == 200
        return len(captured.captured_queries)

    answer(setup, [{"nps": 1}] * 3)
    detractor_cases_open()
    queries()  # the key's first use writes its last_used_at once
    few = queries()
    answer(setup, [{"nps": 1}] * 30, start=3)
    detractor_cases_open()
    for item in FollowUpCase.objects.all()[:20]:
        case_update(
            workspace=workspace, case_id=item.pk, data={"assignee_id": designer.pk}, author=None, author_label=""
        )
        case_note_add(workspace=workspace, case_id=item.pk, text="note", author=None, author_label="")
    assert queries() == few


# --- Pages ----------------------------------------------------------------------------------------


@pytest.fixture
def page_client(workspace):
    def make(role: str = Role.DESIGNER) -> Client:
        membership = MembershipFactory(workspace=workspace, role=role)
        client = Client()
        client.force_login(membership.user)
        session = client.session
        session[SESSION_WORKSPACE_KEY] = workspace.pk
        session.save()
        client.user = membership.user
        return client

    return make


def test_the_list_page_shows_counts_and_filters(page_client, case, setup):
    FollowUpCase.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(hours=1))
    page = page_client(Role.DESIGNER).get(FOLLOW_UP)
    assert page.status_code == 200
    text = html.unescape(page.content.decode())
    assert f"/follow-up/{case.pk}/" in text
    assert "Open 1" in " ".join(text.split()).replace("</strong>", "").replace("<strong>", "")
    assert "overdue" in text
    assert "Support" in text
    assert setup.customers[0].external_id in text
    assert 'aria-current="page"' in text
    filtered = page_client(Role.DESIGNER).get(FOLLOW_UP, {"status": "closed"})
    assert f"/follow-up/{case.pk}/" not in filtered.content.decode()
    analyst = page_client(Role.ANALYST).get(FOLLOW_UP).content.decode()
    assert setup.customers[0].external_id not in analyst
    assert f"/follow-up/{case.pk}/" in analyst


def test_a_bad_filter_is_a_field_error(page_client, case):
    page = page_client(Role.VIEWER).get(FOLLOW_UP, {"status": "done", "journey": "999999"})
    assert page.status_code == 400
    content = page.content.decode()
    assert 'aria-invalid="true"' in content
    assert "errorlist" in content


def test_the_list_page_query_count_is_flat(page_client, setup):
    client = page_client(Role.DESIGNER)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(FOLLOW_UP).status_code == 200
        return len(captured.captured_queries)

    answer(setup, [{"nps": 1}] * 2)
    detractor_cases_open()
    few = queries()
    answer(setup, [{"nps": 1}] * 25, start=2)
    detractor_cases_open()
    assert queries() == few


def test_a_designer_updates_a_case_on_its_page(page_client, case, designer):
    client = page_client(Role.DESIGNER)
    url = reverse("followup:case", args=[case.pk])
    page = client.get(url)
    assert page.status_code == 200
    content = html.unescape(page.content.decode())
    assert "ann@example.com" in content  # designers see the customer
    assert 'type="datetime-local"' in content
    due = soon()
    response = client.post(url, {"status": "closed", "assignee": str(designer.pk), "due_at": form_value(due)})
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.assignee_id) == ("closed", designer.pk)
    assert case.due_at == due  # the workspace's zone: UTC
    history = client.get(url).content.decode()
    assert "Status: Open → Closed" in html.unescape(history)


def test_an_overdue_case_changes_status_without_a_new_due_date(page_client, case):
    FollowUpCase.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(days=1, seconds=17))
    case.refresh_from_db()
    client = page_client(Role.DESIGNER)
    url = reverse("followup:case", args=[case.pk])
    shown = timezone.localtime(case.due_at, UTC).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{shown}"' in client.get(url).content.decode()
    response = client.post(url, {"status": "in_progress", "assignee": "", "due_at": shown})
    assert response.status_code == 302, response.content.decode()
    updated = FollowUpCase.objects.get(pk=case.pk)
    assert updated.status == "in_progress"
    assert updated.due_at == case.due_at
    assert "due_at" not in CaseNote.objects.get(case=case).changes


def test_due_dates_are_read_in_the_workspace_time_zone(workspace, page_client, case):
    type(workspace).objects.filter(pk=workspace.pk).update(timezone="Europe/Warsaw")
    client = page_client(Role.ADMIN)
    day = date(timezone.now().year + 1, 7, 6)  # summer time next year: within two years, always
    client.post(reverse("followup:case", args=[case.pk]), {"status": "open", "assignee": "", "due_at": f"{day}T17:00"})
    case.refresh_from_db()
    assert case.due_at == datetime.combine(day, time(15, 0), tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"due_at": "soon"}, "due_at"),
        ({"due_at": "2020-01-01T10:00"}, "due_at"),
        ({"status": "done"}, "status"),
        ({"assignee": "999999"}, "assignee"),
    ],
)
def test_bad_input_on_the_page_is_shown_beside_the_field(page_client, case, changes, field):
    data = {"status": "open", "assignee": "", "due_at": form_value(soon())} | changes
    response = page_client(Role.DESIGNER).post(reverse("followup:case", args=[case.pk]), data)
    assert response.status_code == 400
    content = response.content.decode()
    assert f'id="id_{field}_errors"' in content
    assert 'aria-invalid="true"' in content
    case.refresh_from_db()
    assert case.status == "open"


TOO_FAR = "Give a due date at most two years ahead."
PAST = "Give a due date that is not in the past."


@pytest.mark.parametrize(
    ("zone", "due_at", "message"),
    [
        ("America/New_York", "9999-12-31T23:00", TOO_FAR),  # was a 500: past the calendar's end in UTC
        ("America/New_York", "9999-12-31", TOO_FAR),
        ("America/New_York", "three years", TOO_FAR),
        ("America/New_York", "0001-01-01T00:00", PAST),
        ("Pacific/Kiritimati", "0001-01-01T00:00", PAST),  # UTC+14: before the calendar's start in UTC
        ("Pacific/Kiritimati", "9999-12-31T23:59", TOO_FAR),
        ("UTC", "1999-12-31T12:00", PAST),
    ],
)
def test_a_due_date_out_of_range_is_shown_beside_the_field(workspace, page_client, case, zone, due_at, message):
    type(workspace).objects.filter(pk=workspace.pk).update(timezone=zone)
    if due_at == "three years":
        due_at = form_value(timezone.localtime(timezone.now() + timedelta(days=3 * 365), zoneinfo.ZoneInfo(zone)))
    before = case.due_at
    response = page_client(Role.ADMIN).post(
        reverse("followup:case", args=[case.pk]), {"status": "closed", "assignee": "", "due_at": due_at}
    )
    assert response.status_code == 400
    content = html.unescape(response.content.decode())
    errors = content.split('id="id_due_at_errors"', 1)[1].split("</ul>", 1)[0]
    assert message in errors
    assert f'value="{due_at}"' in content  # the form keeps what was typed
    case.refresh_from_db()
    assert (case.status, case.due_at) == ("open", before)
    assert not CaseNote.objects.exists()


def test_the_page_accepts_a_due_date_up_to_two_years_ahead_west_of_utc(workspace, page_client, case):
    type(workspace).objects.filter(pk=workspace.pk).update(timezone="America/New_York")
    zone = zoneinfo.ZoneInfo("America/New_York")
    due = timezone.localtime(soon(days=2 * 365 - 1), zone)
    response = page_client(Role.ADMIN).post(
        reverse("followup:case", args=[case.pk]), {"status": "open", "assignee": "", "due_at": form_value(due)}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.due_at == due


def test_notes_on_the_page(page_client, case):
    client = page_client(Role.ADMIN)
    url = reverse("followup:case-note", args=[case.pk])
    assert client.post(url, {"text": "Called, resolved."}).status_code == 302
    assert "Called, resolved." in client.get(reverse("followup:case", args=[case.pk])).content.decode()
    empty = client.post(url, {"text": ""})
    assert empty.status_code == 400
    assert 'id="id_text_errors"' in empty.content.decode()
    assert CaseNote.objects.filter(case=case).count() == 1


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_read_the_case_page_without_pii_or_forms(page_client, case, role):
    client = page_client(role)
    url = reverse("followup:case", args=[case.pk])
    case_note_add(workspace=case.workspace, case_id=case.pk, text=NOTE, author=None, author_label="dora")
    content = client.get(url).content.decode()
    assert "ann@example.com" not in content
    assert "601 234 567" not in content
    assert "912 345-67-89" not in content
    assert "ann.b@example.org" not in content
    text = html.unescape(content)
    assert "Write to [email hidden] or call [phone hidden], the parcel was late." in text
    assert MASKED_NOTE in text
    assert "Customer details, e-mail addresses and phone numbers are hidden for your role." in text
    assert 'name="status"' not in content
    assert 'name="text"' not in content
    assert client.post(url, {"status": "closed", "due_at": form_value(soon())}).status_code == 403
    assert client.post(reverse("followup:case-note", args=[case.pk]), {"text": "x"}).status_code == 403
    case.refresh_from_db()
    assert case.status == "open"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DESIGNER])
def test_writers_read_the_case_page_as_written(page_client, case, role):
    case_note_add(workspace=case.workspace, case_id=case.pk, text=NOTE, author=None, author_label="dora")
    text = html.unescape(page_client(role).get(reverse("followup:case", args=[case.pk])).content.decode())
    assert f"Write to ann@example.com or call {PHONE}, the parcel was late." in text
    assert NOTE in text
    assert "[phone hidden]" not in text
    assert "[email hidden]" not in text


def test_another_workspaces_case_page_is_not_found(other_workspace, case):
    membership = MembershipFactory(workspace=other_workspace, role=Role.ADMIN)
    client = Client()
    client.force_login(membership.user)
    assert client.get(reverse("followup:case", args=[case.pk])).status_code == 404
    assert client.post(reverse("followup:case-note", args=[case.pk]), {"text": "x"}).status_code == 404
    assert f"/follow-up/{case.pk}/" not in client.get(FOLLOW_UP).content.decode()


def test_the_nav_links_the_follow_up_page(page_client):
    content = page_client(Role.VIEWER).get(FOLLOW_UP).content.decode()
    assert f'href="{FOLLOW_UP}" aria-current="page"' in content


def test_a_case_page_links_to_its_stage_report_around_the_answer(page_client, case):
    page = page_client(Role.VIEWER).get(reverse("followup:case", args=[case.pk])).content.decode()
    today = timezone.now().date()
    period = f"since={(today - timedelta(days=89)).isoformat()}&amp;until={today.isoformat()}"
    assert f'href="{reverse("analytics:stage", args=[case.journey_id, case.stage_id])}?{period}"' in page
    assert "See the stage's report<" in page


def test_an_old_answers_case_links_to_a_report_that_holds_it(page_client, case):
    answered = timezone.now() - timedelta(days=200)
    FollowUpCase.objects.filter(pk=case.pk).update(feedback_at=answered)
    page = page_client(Role.VIEWER).get(reverse("followup:case", args=[case.pk])).content.decode()
    until = answered.date() + timedelta(days=45)
    assert f"?since={(until - timedelta(days=89)).isoformat()}&amp;until={until.isoformat()}" in page
