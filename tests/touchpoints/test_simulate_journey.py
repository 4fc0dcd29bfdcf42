"""``simulate_journey``: simulated customers walk the journey, through the public events API of a live server.

The live-server tests call the command and query the database only once it has
returned: with SQLite the server thread shares the test's connection.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import urllib.error
import urllib.request
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.utils import timezone

from tests.touchpoints.factories import (
    JourneyFactory,
    StageFactory,
    TouchpointEventNameFactory,
    TouchpointFactory,
    WorkspaceFactory,
)
from touchpoints.demo import demo_seed
from touchpoints.models import ApiKey, Customer, Stage, TouchpointEvent, Workspace
from touchpoints.services import apikey_create
from touchpoints.simulation import (
    EventsClient,
    JourneyPlan,
    KeyRejected,
    Pacer,
    Progress,
    Simulation,
    SimulationError,
    StagePlan,
    TouchpointPlan,
    journey_plans,
    stamp_live,
)

LANGUAGES = {"en", "ru", "pl", "hu"}


def simulate(*args: str) -> tuple[str, str]:
    """Run the command; its stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command("simulate_journey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plan(stages: int = 4, touchpoints_per_stage: int = 2) -> JourneyPlan:
    """A journey plan without a database: stage ``s`` has touchpoints with names ``s<s>_t<t>``."""
    return JourneyPlan(
        id=1,
        name="Shop",
        stages=tuple(
            StagePlan(
                order=order,
                name=f"Stage {order}",
                touchpoints=tuple(
                    TouchpointPlan(name=f"T{order}.{index}", channel="web", event_names=(f"s{order}_t{index}",))
                    for index in range(touchpoints_per_stage)
                ),
            )
            for order in range(1, stages + 1)
        ),
        personas=("Bella", "Piotr"),
    )


# --- Against a live server ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestAgainstTheServer:
    def test_events_are_stored_mapped_and_customers_upserted(self, live_server):
        workspace = demo_seed().workspace
        before = timezone.now()

        out, err = simulate("--url", live_server.url, "--customers", "40", "--seed", "7", "--no-progress")

        expected = Simulation(journeys=journey_plans(workspace=workspace), customers=40, seed=7, drop_off=0.2)
        total = expected.preview().events
        events = TouchpointEvent.objects.filter(workspace=workspace)
        assert events.count() == total
        assert f"{total} events accepted, 0 duplicates, 0 errors" in out
        assert not events.filter(touchpoint__isnull=True).exists()
        assert all(message_id.startswith("sim-7-") for message_id in events.values_list("message_id", flat=True))
        # Live: stamped when sent (a millisecond apart, back from the send time, so order holds).
        earliest = before - timedelta(seconds=1)
        assert all(earliest <= moment <= timezone.now() for moment in events.values_list("occurred_at", flat=True))
        assert events.filter(name="checkout_completed").exists()
        for checkout in events.filter(name="checkout_completed"):
            assert checkout.properties["total"] > 0
            assert checkout.properties["currency"] in {"GBP", "USD", "RUB", "PLN", "HUF"}

        customers = Customer.objects.filter(workspace=workspace)
        assert sorted(customers.values_list("external_id", flat=True)) == sorted(f"sim-7-{n}" for n in range(1, 41))
        for customer in customers:
            assert customer.language in LANGUAGES
            assert customer.email.endswith("@example.com")
            assert customer.timezone
            assert customer.traits["plan"] in {"free", "plus", "premium"}
            assert customer.traits["simulated"] is True
            assert customer.traits["persona"]

        # The walk goes stage by stage: each stage sees at most the customers of the one before.
        reached = dict(
            Stage.objects.filter(workspace=workspace)
            .annotate(customers=Count("touchpoints__events__customer", distinct=True))
            .values_list("order", "customers")
        )
        funnel = [reached[order] for order in sorted(reached)]
        assert funnel[0] == 40
        assert funnel == sorted(funnel, reverse=True)
        assert funnel[-1] < funnel[0]

        # Without --key a temporary write key was used and is revoked now; --no-progress is silent.
        assert "temporary write key" in out
        assert not ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).exists()
        assert err == ""

    def test_the_same_seed_twice_stores_nothing_twice(self, live_server):
        workspace = demo_seed().workspace
        simulate("--url", live_server.url, "--customers", "15", "--seed", "11", "--no-progress")
        events = TouchpointEvent.objects.filter(workspace=workspace).count()
        customers = Customer.objects.filter(workspace=workspace).count()

        out, err = simulate("--url", live_server.url, "--customers", "15", "--seed", "11", "--batch-size", "7")

        assert TouchpointEvent.objects.filter(workspace=workspace).count() == events
        assert Customer.objects.filter(workspace=workspace).count() == customers == 15
        assert f"0 events accepted, {events} duplicates, 0 errors" in out
        # Not a terminal: a line per tenth instead of a bar.
        assert err.splitlines()[-1] == f"100%: {events} of {events} events sent"
        assert "\r" not in err

    def test_days_spread_the_walks_over_the_past(self, live_server):
        workspace = demo_seed().workspace
        start = timezone.now()

        simulate("--url", live_server.url, "--customers", "20", "--seed", "5", "--days", "3", "--no-progress")

        moments = list(TouchpointEvent.objects.filter(workspace=workspace).values_list("occurred_at", flat=True))
        assert moments
        assert all(start - timedelta(days=3) <= moment <= start for moment in moments)
        assert min(moments) < start - timedelta(days=1)
        # Each customer's events happen in the order of their walk.
        for customer in Customer.objects.filter(workspace=workspace):
            walk = sorted(customer.events.all(), key=lambda event: int(event.message_id.rsplit("-", 1)[1]))
            assert [event.occurred_at for event in walk] == sorted(event.occurred_at for event in walk)
            assert [event.touchpoint.stage.order for event in walk] == sorted(
                event.touchpoint.stage.order for event in walk
            )

    def test_a_run_that_fails_midway_is_finished_by_running_it_again(self, live_server, monkeypatch):
        workspace = demo_seed().workspace
        send = EventsClient.send
        calls = []

        def send_then_fail(self: EventsClient, items: list[dict[str, Any]]) -> Any:
            calls.append(len(items))
            if len(calls) == 2:
                raise SimulationError("Gave up on a batch after 4 tries: HTTP 503")
            return send(self, items)

        monkeypatch.setattr(EventsClient, "send", send_then_fail)
        args = ("--url", live_server.url, "--customers", "12", "--seed", "21", "--batch-size", "10", "--no-progress")
        with pytest.raises(CommandError, match="HTTP 503") as raised:
            simulate(*args)
        assert "10 of " in str(raised.value)
        assert "Run the same command with --seed 21 to send the rest" in str(raised.value)
        assert TouchpointEvent.objects.filter(workspace=workspace).count() == 10
        assert not ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).exists()

        monkeypatch.setattr(EventsClient, "send", send)
        out, _err = simulate(*args)

        total = TouchpointEvent.objects.filter(workspace=workspace).count()
        assert f"{total - 10} events accepted, 10 duplicates, 0 errors" in out

    def test_a_wrong_key_stops_the_run_and_says_so(self, live_server):
        workspace = demo_seed().workspace

        with pytest.raises(CommandError, match=r"refused the key \(HTTP 401") as raised:
            simulate("--url", live_server.url, "--key", "jp_wk_not-a-key", "--customers", "3", "--no-progress")

        assert "--key" in str(raised.value)
        assert not TouchpointEvent.objects.filter(workspace=workspace).exists()

    def test_a_given_key_is_used_and_names_the_workspace(self, live_server):
        workspace = demo_seed().workspace
        _key, raw_key = apikey_create(workspace=workspace, name="shop", kind=ApiKey.Kind.WRITE)

        out, _err = simulate("--url", live_server.url, "--key", raw_key, "--customers", "5", "--seed", "1", "-v", "0")

        assert out == ""
        assert ApiKey.objects.filter(workspace=workspace).count() == 1
        assert Customer.objects.filter(workspace=workspace, external_id__startswith="sim-1-").count() == 5

    def test_a_path_that_is_not_journeypulse_is_named(self, live_server):
        demo_seed()
        with pytest.raises(CommandError, match="is --url the address of a JourneyPulse server"):
            simulate("--url", f"{live_server.url}/not-here", "--customers", "2", "--no-progress")


# --- Refused before anything is sent ------------------------------------------------------


@pytest.mark.django_db
class TestRefusals:
    def test_an_unreachable_server_is_a_clear_error(self):
        workspace = demo_seed().workspace
        url = f"http://127.0.0.1:{free_port()}"

        with pytest.raises(CommandError, match="Cannot reach JourneyPulse") as raised:
            simulate("--url", url, "--customers", "3", "--no-progress")

        assert url in str(raised.value)
        assert "make run" in str(raised.value)
        assert not ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True).exists()

    def test_a_workspace_without_mapped_event_names(self):
        workspace = WorkspaceFactory(slug="bare")
        TouchpointFactory(stage__journey__workspace=workspace, workspace=workspace)  # no event name
        inactive = JourneyFactory(workspace=workspace, is_active=False)
        TouchpointEventNameFactory(
            workspace=workspace,
            touchpoint__workspace=workspace,
            touchpoint__stage__workspace=workspace,
            touchpoint__stage__journey=inactive,
        )

        with pytest.raises(CommandError, match="no active journey with event names mapped"):
            simulate("--workspace", "bare", "--url", f"http://127.0.0.1:{free_port()}")

        assert not ApiKey.objects.exists()  # refused before a key was made

    def test_an_unknown_workspace(self):
        with pytest.raises(CommandError, match="There is no workspace “nowhere”"):
            simulate("--workspace", "nowhere")

    def test_a_key_of_another_workspace(self):
        demo_seed()
        other = WorkspaceFactory(slug="other")
        _key, raw_key = apikey_create(workspace=other, name="other", kind=ApiKey.Kind.WRITE)

        with pytest.raises(CommandError, match="The key belongs to workspace “other”, not “demo”"):
            simulate("--workspace", "demo", "--key", raw_key)

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("--customers", "0", "--customers must be between 1"),
            ("--batch-size", "1001", "--batch-size must be between 1 and 1000"),
            ("--days", "-1", "--days must be between 0"),
            ("--rate", "-5", "--rate must be 0"),
            ("--drop-off", "1", "--drop-off must be between 0 and 0.95"),
            ("--url", "ftp://example.com", "--url must be an http:// or https:// address"),
        ],
    )
    def test_out_of_range_options(self, option, value, message):
        with pytest.raises(CommandError, match=message):
            simulate(option, value)


@pytest.mark.django_db
def test_journey_plans_keep_active_journeys_and_mapped_stages_in_order():
    workspace = WorkspaceFactory()
    journey = JourneyFactory(workspace=workspace, name="Shop")
    later = StageFactory(journey=journey, workspace=workspace, order=3, name="Buy")
    first = StageFactory(journey=journey, workspace=workspace, order=1, name="Look")
    StageFactory(journey=journey, workspace=workspace, order=2, name="Nothing mapped")
    for stage, names in ((later, ["checkout_completed", "paid"]), (first, ["ad_clicked"])):
        touchpoint = TouchpointFactory(stage=stage, workspace=workspace)
        for name in names:
            TouchpointEventNameFactory(touchpoint=touchpoint, workspace=workspace, name=name)
    inactive = JourneyFactory(workspace=workspace, is_active=False)
    TouchpointEventNameFactory(
        workspace=workspace,
        touchpoint__workspace=workspace,
        touchpoint__stage__workspace=workspace,
        touchpoint__stage__journey=inactive,
    )
    TouchpointEventNameFactory(name="elsewhere")  # another workspace

    plans = journey_plans(workspace=workspace)

    assert [plan.name for plan in plans] == ["Shop"]
    assert [(stage.order, stage.name) for stage in plans[0].stages] == [(1, "Look"), (3, "Buy")]
    assert plans[0].stages[1].touchpoints[0].event_names == ("checkout_completed", "paid")
    assert not journey_plans(workspace=Workspace.objects.create(name="Empty", slug="empty"))


# --- The simulation, without a server ----------------------------------------------------------


class TestSimulation:
    def test_the_same_seed_makes_the_same_events_whatever_the_number_of_customers(self):
        small = Simulation(journeys=[plan()], customers=5, seed=3, drop_off=0.3)
        large = Simulation(journeys=[plan()], customers=50, seed=3, drop_off=0.3)
        other = Simulation(journeys=[plan()], customers=5, seed=4, drop_off=0.3)

        def items(simulation: Simulation) -> list[dict[str, Any]]:
            return [
                event.as_item(timezone.now()) | {"timestamp": None}
                for walk in simulation.walks()
                for event in walk.events
            ]

        assert items(small) == items(large)[: len(items(small))]
        assert items(small) == items(Simulation(journeys=[plan()], customers=5, seed=3, drop_off=0.3))
        assert {item["user_id"] for item in items(other)}.isdisjoint({item["user_id"] for item in items(small)})

    def test_a_walk_goes_stage_by_stage_with_one_or_two_events_each(self):
        journey = plan(stages=5)
        stage_of = {name: stage.order for stage in journey.stages for t in stage.touchpoints for name in t.event_names}
        simulation = Simulation(journeys=[journey], customers=200, seed=1, drop_off=0.25)
        for walk in simulation.walks():
            stages = [stage_of[event.name] for event in walk.events]
            assert stages == sorted(stages)
            assert sorted(set(stages)) == list(range(1, walk.stages_reached + 1))
            assert all(1 <= stages.count(order) <= 2 for order in set(stages))
            assert [event.is_first for event in walk.events] == [True] + [False] * (len(walk.events) - 1)
            first = walk.events[0].as_item(timezone.now())
            assert first["traits"]["language"] in LANGUAGES
            assert "traits" not in walk.events[-1].as_item(timezone.now()) or len(walk.events) == 1
        preview = simulation.preview()  # walks without properties: the same walks
        assert preview.events == sum(len(walk.events) for walk in simulation.walks())
        funnel = preview.funnels[0]
        assert funnel[0] == 200
        assert funnel == sorted(funnel, reverse=True)
        assert funnel[-1] < funnel[0] / 2

    def test_no_drop_off_means_everyone_reaches_the_end(self):
        assert Simulation(journeys=[plan()], customers=30, seed=2, drop_off=0).preview().funnels == [[30] * 4]

    def test_an_order_tells_one_story_from_checkout_to_delivery(self):
        journey = JourneyPlan(
            id=1,
            name="Shop",
            stages=(
                StagePlan(1, "Buy", (TouchpointPlan("Checkout", "web", ("checkout_completed",)),)),
                StagePlan(2, "Get", (TouchpointPlan("Delivery", "in_person", ("order_delivered",)),)),
            ),
        )
        for walk in Simulation(journeys=[journey], customers=20, seed=8, drop_off=0).walks():
            checkout, delivery = (event.properties for event in walk.events)
            assert checkout["order_id"] == delivery["order_id"]
            assert checkout["total"] > 0
            assert checkout["payment_method"]
            assert delivery["carrier"]
            assert "traits" not in walk.events[1].as_item(timezone.now())

    def test_past_walks_end_by_now_and_live_events_are_stamped_when_sent(self):
        now = timezone.now()
        past = list(Simulation(journeys=[plan()], customers=60, seed=1, drop_off=0.2, days=2).stream(now=now))
        assert all(now - timedelta(days=2) <= moment <= now for _event, moment in past)

        live = list(Simulation(journeys=[plan()], customers=3, seed=1, drop_off=0.2).stream(now=now))
        assert all(moment is None for _event, moment in live)
        stamps = [item["timestamp"] for item in stamp_live(live, now)]
        assert stamps == sorted(stamps)
        assert stamps[-1] == now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_pacer_keeps_to_the_rate():
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = Pacer(10, clock=lambda: clock[0], sleep=sleep)
    pacer.wait(0)
    pacer.wait(5)
    clock[0] += 2.0  # the server was slow: no more waiting than needed
    pacer.wait(10)
    assert slept == [pytest.approx(0.5)]
    Pacer(0, clock=lambda: 0.0, sleep=sleep).wait(1000)
    assert len(slept) == 1


def test_progress_draws_a_bar_in_place_or_a_line_per_tenth():
    written: list[str] = []
    bar = Progress(write=written.append, total=200, mode="bar", clock=lambda: 1.0)
    bar.update(50, final=True)
    bar.finish(200)
    assert written[0].startswith("\r[")
    assert "50/200  25%" in written[0]
    assert "200/200 100%" in written[1]
    assert written[-1] == "\n"

    lines: list[str] = []
    progress = Progress(write=lines.append, total=200, mode="lines")
    for sent in range(0, 201, 10):
        progress.update(sent)
    progress.finish(200)
    assert len(lines) == 10
    assert lines[-1] == "100%: 200 of 200 events sent\n"

    silent: list[str] = []
    Progress(write=silent.append, total=10, mode="off").finish(10)
    assert silent == []


# --- The HTTP client, with a stand-in for the network ------------------------------------------


class Response:
    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        self.status, self.body = status, json.dumps(body).encode()

    def read(self) -> bytes:
        return self.body

    def close(self) -> None:
        pass


def http_error(status: int, body: bytes = b"", **headers: str) -> urllib.error.HTTPError:
    message = http.client.HTTPMessage()
    for name, value in headers.items():
        message[name] = value
    return urllib.error.HTTPError("http://server/api/v1/events", status, "error", message, io.BytesIO(body))


class Network:
    """Answers with the given outcomes in turn (an exception is raised), recording every request."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[urllib.request.Request] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def client(network: Network, sleeps: list[float] | None = None) -> EventsClient:
    return EventsClient(
        base_url="http://server/", key="jp_wk_k", opener=network, sleep=(sleeps if sleeps is not None else []).append
    )


OK = {"accepted": 2, "duplicates": 0, "errors": []}


class TestEventsClient:
    def test_a_batch_is_posted_with_the_key(self):
        network = Network(Response(OK))
        result = client(network).send([{"event": "a"}, {"event": "b"}])
        assert (result.accepted, result.duplicates, result.errors) == (2, 0, [])
        request = network.requests[0]
        assert request.full_url == "http://server/api/v1/events"
        assert request.get_header("Authorization") == "Bearer jp_wk_k"
        assert json.loads(request.data) == {"batch": [{"event": "a"}, {"event": "b"}]}

    def test_server_errors_and_dropped_connections_are_retried_with_the_same_body(self):
        sleeps: list[float] = []
        network = Network(
            http_error(503),
            http.client.RemoteDisconnected("gone"),
            http_error(429, **{"Retry-After": "3"}),
            Response(OK),
        )
        assert client(network, sleeps).send([{"event": "a"}]).accepted == 2
        assert len({request.data for request in network.requests}) == 1
        assert sleeps == [0.5, 1.0, 3.0]

    def test_it_gives_up_after_a_few_tries(self):
        network = Network(*[http_error(502)] * 4)
        with pytest.raises(SimulationError, match="Gave up on a batch after 4 tries: HTTP 502"):
            client(network).send([{"event": "a"}])

    def test_a_refused_key_is_not_retried(self):
        body = json.dumps({"error": {"code": "authentication_failed", "message": "Unknown or revoked API key."}})
        network = Network(http_error(401, body.encode()))
        with pytest.raises(KeyRejected, match="HTTP 401: Unknown or revoked API key"):
            client(network).send([{"event": "a"}])
        assert len(network.requests) == 1

    def test_item_errors_come_back_even_when_nothing_was_valid(self):
        body = {"accepted": 0, "duplicates": 0, "errors": [{"index": 0, "field": "event", "message": "Required."}]}
        result = client(Network(http_error(400, json.dumps(body).encode()))).send([{}])
        assert result.errors == body["errors"]

    def test_a_redirect_names_where_to(self):
        network = Network(http_error(301, Location="https://server/api/v1/events"))
        with pytest.raises(SimulationError, match="redirects to https://server/api/v1/events"):
            client(network).send([{"event": "a"}])

    def test_the_check_fails_at_once_when_nothing_listens(self):
        network = Network(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
        with pytest.raises(SimulationError, match=r"Cannot reach JourneyPulse at http://server \(.*refused"):
            client(network).check()
        assert len(network.requests) == 1

    def test_an_answer_that_is_not_ours(self):
        class Html(Response):
            def read(self) -> bytes:
                return b"<html>Welcome to nginx</html>"

        with pytest.raises(SimulationError, match="did not answer like a JourneyPulse server"):
            client(Network(Html({}))).send([{"event": "a"}])
