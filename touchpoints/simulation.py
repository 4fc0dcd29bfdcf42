"""Simulated customers walking a workspace's journeys, sent through the public events API.

The engine of ``python manage.py simulate_journey`` (see that command for the options):

- :func:`journey_plans` reads the workspace's *active* journeys from the database:
  their stages in order, and on each stage the touchpoints that have event names
  mapped to them. Stages without a mapped name cannot be observed, so they are left
  out of the walk.
- :class:`Simulation` makes the customers. Customer ``n`` of seed ``s`` is
  ``sim-<s>-<n>`` and everything about them (name, ``@example.com`` email, language
  among en/ru/pl/hu with a matching locale and time zone, plan, persona, journey,
  where they drop off, which events they fire, order totals) comes from a random
  generator seeded with ``(s, n)`` alone: the same seed gives the same events
  whatever ``--customers`` is, and so the same message ids (``sim-<s>-<n>-<i>``),
  which the server stores once. Every customer reaches the first stage; before each
  later one they drop off with the plan's share of ``drop_off``, so later stages
  see fewer customers. On every stage reached they fire one or two of its
  touchpoints' event names, with properties guessed from the name (an order total
  at checkout, a carrier at delivery, a duration on a support call, ...); the
  customer's traits and ``context`` (locale, time zone) travel with their first
  event only, as at a sign-up (the server would let a later event's
  ``context.locale``, ``ru-RU``, replace the language ``ru`` set by the traits).
- Timestamps: with ``days`` each customer's walk (gaps of minutes within a stage,
  hours between stages, squeezed to fit) is placed at random in the last ``days``
  days, never after the start of the run. Without, every event is stamped when its
  batch is sent (a live stream). Either way customers are sent in cohorts of
  :data:`COHORT_SIZE` whose events interleave in time order, like real traffic.
- :class:`EventsClient` posts batches with the standard library only (the point is
  to exercise the public API as any client would): ``{"batch": [...]}`` with
  ``Authorization: Bearer <key>``, retrying connection errors, 429 and 5xx with
  backoff (the message ids make a retried batch safe), and raising
  :class:`SimulationError` with a readable message for everything else.
- :class:`Pacer` keeps to an events-per-second rate; :class:`Progress` draws the
  progress bar (or a line per tenth when the output is not a terminal).
"""

from __future__ import annotations

import heapq
import http.client
import ipaddress
import json
import random
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from django.urls import reverse
from django.utils.translation import gettext as _

from touchpoints.models import Persona, TouchpointEventName, Workspace

#: Customers whose events are interleaved with each other (in simulated time order).
COHORT_SIZE = 25
#: Gaps between two events of one customer: within a stage, and from one stage to the next.
GAP_IN_STAGE_SECONDS = (30.0, 20 * 60.0)
GAP_BETWEEN_STAGES_SECONDS = (30 * 60.0, 36 * 3600.0)
#: Share of the window a customer's walk may take at most (it is squeezed to fit).
WALK_MAX_SHARE = 0.8
#: Without ``days``, customers are still ordered as if spread over one day.
NOMINAL_WINDOW_SECONDS = 86400.0
#: Chance that a customer fires two touchpoints (when the stage has two) rather than one.
SECOND_TOUCHPOINT_CHANCE = 0.4


@dataclass(frozen=True)
class Locale:
    tag: str
    timezone: str
    currency: str
    #: Units of ``currency`` per euro, roughly; prices are made in euros.
    per_euro: float
    carriers: tuple[str, ...]
    payment_methods: tuple[str, ...]


#: Per language: weight, locales, and (display name, ASCII name for the email address).
LANGUAGES: dict[str, tuple[int, tuple[Locale, ...], tuple[tuple[str, str], ...]]] = {
    "en": (
        4,
        (
            Locale("en-GB", "Europe/London", "GBP", 0.86, ("Royal Mail", "DPD"), ("card", "paypal", "apple_pay")),
            Locale("en-US", "America/New_York", "USD", 1.08, ("UPS", "USPS"), ("card", "paypal", "apple_pay")),
        ),
        (
            ("Olivia Smith", "olivia.smith"),
            ("James Brown", "james.brown"),
            ("Amelia Jones", "amelia.jones"),
            ("Noah Williams", "noah.williams"),
            ("Emily Taylor", "emily.taylor"),
            ("Oliver Davies", "oliver.davies"),
            ("Grace Wilson", "grace.wilson"),
            ("Jack Evans", "jack.evans"),
        ),
    ),
    "ru": (
        2,
        (Locale("ru-RU", "Europe/Moscow", "RUB", 98.0, ("СДЭК", "Почта России"), ("card", "sbp")),),
        (
            ("Анна Смирнова", "anna.smirnova"),
            ("Дмитрий Иванов", "dmitry.ivanov"),
            ("Мария Кузнецова", "maria.kuznetsova"),
            ("Алексей Попов", "alexey.popov"),
            ("Екатерина Соколова", "ekaterina.sokolova"),
            ("Иван Лебедев", "ivan.lebedev"),
            ("Ольга Новикова", "olga.novikova"),
            ("Сергей Морозов", "sergey.morozov"),
        ),
    ),
    "pl": (
        2,
        (Locale("pl-PL", "Europe/Warsaw", "PLN", 4.3, ("InPost", "DPD"), ("blik", "card", "przelewy24")),),
        (
            ("Anna Kowalska", "anna.kowalska"),
            ("Piotr Nowak", "piotr.nowak"),
            ("Katarzyna Wiśniewska", "katarzyna.wisniewska"),
            ("Tomasz Wójcik", "tomasz.wojcik"),
            ("Magdalena Kamińska", "magdalena.kaminska"),
            ("Michał Lewandowski", "michal.lewandowski"),
            ("Agnieszka Zielińska", "agnieszka.zielinska"),
            ("Krzysztof Szymański", "krzysztof.szymanski"),
        ),
    ),
    "hu": (
        2,
        (Locale("hu-HU", "Europe/Budapest", "HUF", 395.0, ("MPL", "GLS"), ("card", "simplepay")),),
        (  # Hungarian names put the family name first
            ("Nagy Réka", "reka.nagy"),
            ("Kovács Bence", "bence.kovacs"),
            ("Tóth Eszter", "eszter.toth"),
            ("Szabó Máté", "mate.szabo"),
            ("Horváth Anna", "anna.horvath"),
            ("Varga Dániel", "daniel.varga"),
            ("Kiss Zsófia", "zsofia.kiss"),
            ("Molnár Péter", "peter.molnar"),
        ),
    ),
}


@dataclass(frozen=True)
class Plan:
    name: str
    weight: int
    #: Multiplies the drop-off probability: premium customers stay longer.
    drop_off_factor: float
    #: Order totals, in euros.
    spend_euros: tuple[float, float]


PLANS = (
    Plan("free", 50, 1.25, (15.0, 80.0)),
    Plan("plus", 35, 1.0, (30.0, 150.0)),
    Plan("premium", 15, 0.6, (60.0, 400.0)),
)

#: (sku, name, category)
PRODUCTS = (
    ("SKU-1042", "Running shoes", "shoes"),
    ("SKU-2210", "Rain jacket", "outerwear"),
    ("SKU-3307", "Backpack 30 l", "bags"),
    ("SKU-4415", "Wool socks, 3 pairs", "accessories"),
    ("SKU-5120", "Trail headlamp", "equipment"),
    ("SKU-6031", "Water bottle", "accessories"),
)


class SimulationError(Exception):
    """Something the user must fix (or wait for); the message says what, in their language."""


class KeyRejected(SimulationError):
    """The server answered 401 or 403: the key is unknown, revoked or may not send events."""


# --- The journey map -----------------------------------------------------------------


@dataclass(frozen=True)
class TouchpointPlan:
    name: str
    channel: str
    event_names: tuple[str, ...]


@dataclass(frozen=True)
class StagePlan:
    order: int
    name: str
    touchpoints: tuple[TouchpointPlan, ...]


@dataclass(frozen=True)
class JourneyPlan:
    id: int
    name: str
    stages: tuple[StagePlan, ...]
    personas: tuple[str, ...] = ()


def journey_plans(*, workspace: Workspace) -> list[JourneyPlan]:
    """The workspace's active journeys with their mapped event names, by stage order (two queries).

    Only touchpoints with at least one event name, and stages with such a
    touchpoint, are kept; journeys left with no stage are dropped.
    """
    rows = (
        TouchpointEventName.objects.for_workspace(workspace)
        .filter(
            touchpoint__workspace=workspace,
            touchpoint__stage__workspace=workspace,
            touchpoint__stage__journey__workspace=workspace,
            touchpoint__stage__journey__is_active=True,
        )
        .order_by(
            "touchpoint__stage__journey__name",
            "touchpoint__stage__journey_id",
            "touchpoint__stage__order",
            "touchpoint__order",
            "touchpoint_id",
            "name",
        )
        .values_list(
            "touchpoint__stage__journey_id",
            "touchpoint__stage__journey__name",
            "touchpoint__stage__order",
            "touchpoint__stage__name",
            "touchpoint_id",
            "touchpoint__name",
            "touchpoint__channel",
            "name",
        )
    )
    journeys: dict[int, str] = {}
    stages: dict[int, dict[int, str]] = defaultdict(dict)
    touchpoints: dict[tuple[int, int], dict[int, tuple[str, str]]] = defaultdict(dict)
    names: dict[int, list[str]] = defaultdict(list)
    for journey_id, journey_name, stage_order, stage_name, touchpoint_id, touchpoint_name, channel, name in rows:
        journeys[journey_id] = journey_name
        stages[journey_id][stage_order] = stage_name
        touchpoints[(journey_id, stage_order)][touchpoint_id] = (touchpoint_name, channel)
        names[touchpoint_id].append(name)
    if not journeys:
        return []
    personas: dict[int, list[str]] = defaultdict(list)
    for journey_id, persona_name in (
        Persona.objects.for_workspace(workspace)
        .filter(journeys__in=list(journeys))
        .order_by("name", "id")
        .values_list("journeys__id", "name")
    ):
        personas[journey_id].append(persona_name)
    return [
        JourneyPlan(
            id=journey_id,
            name=journey_name,
            stages=tuple(
                StagePlan(
                    order=order,
                    name=stage_name,
                    touchpoints=tuple(
                        TouchpointPlan(name=touchpoint_name, channel=channel, event_names=tuple(names[touchpoint_id]))
                        for touchpoint_id, (touchpoint_name, channel) in touchpoints[(journey_id, order)].items()
                    ),
                )
                for order, stage_name in stages[journey_id].items()
            ),
            personas=tuple(personas[journey_id]),
        )
        for journey_id, journey_name in journeys.items()
    ]


# --- Customers and their events --------------------------------------------------------


@dataclass(frozen=True)
class SimulatedCustomer:
    number: int
    user_id: str
    name: str
    email: str
    language: str
    locale: Locale
    plan: Plan
    persona: str

    def traits(self) -> dict[str, Any]:
        """What the first event carries: ``email``, ``language`` and ``timezone`` go to the profile."""
        traits: dict[str, Any] = {
            "name": self.name,
            "email": self.email,
            "language": self.language,
            "timezone": self.locale.timezone,
            "plan": self.plan.name,
            "simulated": True,
        }
        if self.persona:
            traits["persona"] = self.persona
        return traits


@dataclass(frozen=True)
class SimulatedEvent:
    customer: SimulatedCustomer
    name: str
    message_id: str
    properties: dict[str, Any]
    #: Seconds since the customer's first event.
    elapsed_seconds: float
    is_first: bool

    def as_item(self, occurred_at: datetime) -> dict[str, Any]:
        """The event in the native API's shape."""
        item: dict[str, Any] = {
            "event": self.name,
            "user_id": self.customer.user_id,
            "message_id": self.message_id,
            "timestamp": iso_timestamp(occurred_at),
            "properties": self.properties,
        }
        if self.is_first:  # like a sign-up: the profile once (a locale on every event would replace the language)
            item["traits"] = self.customer.traits()
            item["context"] = {"locale": self.customer.locale.tag, "timezone": self.customer.locale.timezone}
        return item


@dataclass(frozen=True)
class Walk:
    customer: SimulatedCustomer
    journey_index: int
    stages_reached: int
    events: tuple[SimulatedEvent, ...]
    #: Where in the window the walk starts, as a share of the room left (0..1).
    placement: float

    @property
    def duration_seconds(self) -> float:
        return self.events[-1].elapsed_seconds if self.events else 0.0

    def positions(self, window_seconds: float) -> list[float]:
        """Each event's seconds from the start of a window of ``window_seconds``, all within it."""
        duration = self.duration_seconds
        scale = min(1.0, WALK_MAX_SHARE * window_seconds / duration) if duration else 1.0
        start = self.placement * (window_seconds - duration * scale)
        return [start + event.elapsed_seconds * scale for event in self.events]


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, truncated (never rounded up into the future)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(euros: float, locale: Locale) -> float:
    amount = euros * locale.per_euro
    return float(round(amount)) if locale.per_euro >= 50 else round(amount, 2)


@dataclass
class _Shopping:
    """What one customer buys, so checkout, confirmation and delivery tell one story."""

    order_id: str
    product: tuple[str, str, str]
    items: int
    total_euros: float
    orders: int = 1


def event_properties(name: str, customer: SimulatedCustomer, shopping: _Shopping, rng: random.Random) -> dict[str, Any]:
    """Plausible properties for an event, guessed from its name (``checkout_completed`` gets a total)."""
    lowered = name.lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    locale = customer.locale
    sku, product_name, category = shopping.product
    properties: dict[str, Any] = {}

    def has(*stems: str) -> bool:
        return any(stem in lowered for stem in stems)

    if has("repeat", "reorder"):
        shopping.orders += 1
        shopping.total_euros = round(rng.uniform(*customer.plan.spend_euros), 2)
    order_id = shopping.order_id if shopping.orders == 1 else f"{shopping.order_id}-{shopping.orders}"
    if has("checkout", "purchase", "payment", "paid", "order"):
        properties.update(
            order_id=order_id,
            total=_money(shopping.total_euros, locale),
            currency=locale.currency,
            items=shopping.items,
        )
    if has("checkout", "purchase", "payment", "paid"):
        properties["payment_method"] = rng.choice(locale.payment_methods)
    if has("deliver", "shipped", "shipping", "parcel"):
        on_time = rng.random() < 0.85
        properties.update(order_id=order_id, carrier=rng.choice(locale.carriers), on_time=on_time)
        if not on_time:
            properties["days_late"] = rng.randint(1, 5)
    if has("cart", "basket"):
        price = shopping.total_euros / shopping.items
        properties.update(product_id=sku, price=_money(price, locale), currency=locale.currency, quantity=1)
    if has("product"):
        properties.update(product_id=sku, product_name=product_name, category=category)
    if has("search"):
        properties.update(engine=rng.choice(("google", "bing", "duckduckgo")), query=category)
    if has("compar"):
        properties["products_compared"] = rng.randint(2, 4)
    if "ad" in words or "ads" in words or has("campaign"):
        properties.update(
            campaign=rng.choice(("spring_sale", "new_collection", "free_delivery")),
            source=rng.choice(("instagram", "facebook", "tiktok")),
        )
    if has("chat", "call", "support", "ticket"):
        longest = 600 if has("chat") else 1500
        resolved_share = 0.9 if customer.plan.name == "premium" else 0.78
        properties.update(duration_seconds=rng.randint(45, longest), resolved=rng.random() < resolved_share)
    if has("referral", "refer"):
        properties["referral_code"] = f"REF-{customer.user_id.upper()}"
    if has("newsletter", "subscribe"):
        properties.update(list="newsletter", discount_code="WELCOME10")
    if has("loyalty", "renew", "membership"):
        properties.update(tier=customer.plan.name, years=rng.randint(1, 3))
    if has("onboard", "install") or "app" in words:
        properties["platform"] = rng.choice(("ios", "android"))
    return properties


class Simulation:
    """``customers`` simulated customers of ``seed`` walking ``journeys``; see the module docstring."""

    def __init__(
        self,
        *,
        journeys: Sequence[JourneyPlan],
        customers: int,
        seed: int,
        drop_off: float,
        days: float = 0.0,
    ) -> None:
        if not journeys or not all(journey.stages for journey in journeys):
            raise ValueError("Give at least one journey, each with at least one stage.")
        self.journeys = list(journeys)
        self.customers = customers
        self.seed = seed
        self.drop_off = drop_off
        self.days = days

    @property
    def is_live(self) -> bool:
        """Without ``days`` events are stamped when sent."""
        return self.days <= 0

    def walk(self, number: int, *, with_properties: bool = True) -> Walk:
        """Customer ``number`` (1-based) and their events; depends on the seed and the number alone.

        The walk and the event properties draw from two generators, so the walk is the
        same with or without properties (the preview skips them: they cost half the time).
        """
        rng = random.Random(f"journeypulse-simulation:{self.seed}:{number}")  # noqa: S311 - reproducible, not secret
        details = random.Random(f"journeypulse-simulation:{self.seed}:{number}:properties")  # noqa: S311
        language = rng.choices(list(LANGUAGES), weights=[weight for weight, _l, _n in LANGUAGES.values()])[0]
        _weight, locales, names = LANGUAGES[language]
        display_name, ascii_name = rng.choice(names)
        plan = rng.choices(PLANS, weights=[plan.weight for plan in PLANS])[0]
        journey_index = rng.randrange(len(self.journeys))
        journey = self.journeys[journey_index]
        user_id = f"sim-{self.seed}-{number}"
        customer = SimulatedCustomer(
            number=number,
            user_id=user_id,
            name=display_name,
            email=f"{ascii_name}+{user_id}@example.com",
            language=language,
            locale=rng.choice(locales),
            plan=plan,
            persona=rng.choice(journey.personas) if journey.personas else "",
        )
        shopping = _Shopping(
            order_id=f"SIM-{self.seed}-{number:05d}",
            product=details.choice(PRODUCTS),
            items=details.randint(1, 4),
            total_euros=round(details.uniform(*plan.spend_euros), 2),
        )

        drop_off = min(0.95, self.drop_off * plan.drop_off_factor)
        reached = 1
        while reached < len(journey.stages) and rng.random() >= drop_off:
            reached += 1

        events: list[SimulatedEvent] = []
        elapsed = 0.0
        for position, stage in enumerate(journey.stages[:reached]):
            if position:
                elapsed += rng.uniform(*GAP_BETWEEN_STAGES_SECONDS)
            count = 2 if len(stage.touchpoints) > 1 and rng.random() < SECOND_TOUCHPOINT_CHANCE else 1
            for index, touchpoint_index in enumerate(sorted(rng.sample(range(len(stage.touchpoints)), count))):
                if index:
                    elapsed += rng.uniform(*GAP_IN_STAGE_SECONDS)
                name = rng.choice(stage.touchpoints[touchpoint_index].event_names)
                events.append(
                    SimulatedEvent(
                        customer=customer,
                        name=name,
                        message_id=f"{user_id}-{len(events) + 1}",
                        properties=event_properties(name, customer, shopping, details) if with_properties else {},
                        elapsed_seconds=elapsed,
                        is_first=not events,
                    )
                )
        return Walk(
            customer=customer,
            journey_index=journey_index,
            stages_reached=reached,
            events=tuple(events),
            placement=rng.random(),
        )

    def walks(self) -> Iterator[Walk]:
        for number in range(1, self.customers + 1):
            yield self.walk(number)

    def preview(self) -> Preview:
        """How many events the run will send and how many customers reach each stage (no events kept)."""
        preview = Preview(funnels=[[0] * len(journey.stages) for journey in self.journeys])
        for number in range(1, self.customers + 1):
            walk = self.walk(number, with_properties=False)
            preview.events += len(walk.events)
            funnel = preview.funnels[walk.journey_index]
            for position in range(walk.stages_reached):
                funnel[position] += 1
        return preview

    def stream(self, *, now: datetime) -> Iterator[tuple[SimulatedEvent, datetime | None]]:
        """Every event with its time (``None`` when live: stamped at sending), cohort by cohort.

        With ``days``, walks are placed in ``(now - days, now]`` and never after ``now``.
        """
        window_seconds = self.days * 86400.0 if not self.is_live else NOMINAL_WINDOW_SECONDS
        window_start = now - timedelta(seconds=window_seconds)
        numbers = range(1, self.customers + 1)
        for first in range(0, len(numbers), COHORT_SIZE):
            timelines = []
            for number in numbers[first : first + COHORT_SIZE]:
                walk = self.walk(number)
                timelines.append(list(zip(walk.positions(window_seconds), walk.events, strict=True)))
            for position, event in heapq.merge(*timelines, key=lambda pair: pair[0]):
                if self.is_live:
                    yield event, None
                else:
                    yield event, min(now, window_start + timedelta(seconds=position))


@dataclass
class Preview:
    #: Per journey (same order as the simulation's), customers reaching each of its stages.
    funnels: list[list[int]]
    events: int = 0


def stamp_live(events: Sequence[tuple[SimulatedEvent, datetime | None]], now: datetime) -> list[dict[str, Any]]:
    """A batch as API items; live events get ``now`` minus a millisecond per later event, so order holds."""
    last = len(events) - 1
    return [
        event.as_item(occurred_at if occurred_at is not None else now - timedelta(milliseconds=last - index))
        for index, (event, occurred_at) in enumerate(events)
    ]


# --- Sending ---------------------------------------------------------------------------


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Totals:
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    sent: int = 0
    #: (field, message) -> how many items the server refused for it.
    error_kinds: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, result: BatchResult, sent: int) -> None:
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.errors += len(result.errors)
        self.sent += sent
        for error in result.errors:
            self.error_kinds[(str(error.get("field", "")), str(error.get("message", "")))] += 1


class _Response(Protocol):
    status: int

    def read(self) -> bytes: ...

    def close(self) -> None: ...


Opener = Callable[[urllib.request.Request, float], _Response]


class _Retryable(Exception):
    def __init__(self, reason: str, *, wait_seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait_seconds = reason, wait_seconds


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would become a GET: refuse and tell the user the right address instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_opener(url: str) -> Opener:
    """``urlopen`` without redirects, and without the environment's proxy for a server on this machine."""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if _is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    director = urllib.request.build_opener(*handlers)
    return lambda request, timeout: director.open(request, timeout=timeout)


def _server_message(body: bytes) -> str:
    """The message of our error shape (or DRF's ``detail``), else the start of the body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(data.get("detail"), str):
            return data["detail"]
    return text[:200]


def _ingest_result(body: bytes) -> BatchResult | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("accepted"), int):
        return None
    errors = data.get("errors")
    return BatchResult(
        accepted=data["accepted"],
        duplicates=int(data.get("duplicates") or 0),
        errors=[error for error in errors if isinstance(error, dict)] if isinstance(errors, list) else [],
    )


class EventsClient:
    """Posts batches to ``<base_url>/api/v1/events`` with a bearer key; see the module docstring."""

    user_agent = "JourneyPulse-simulate_journey (Python urllib)"

    def __init__(
        self,
        *,
        base_url: str,
        key: str,
        tries: int = 4,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 30.0,
        opener: Opener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.endpoint = self.base_url + reverse("api:event-ingest")
        self.key = key
        self.tries = tries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.opener = opener or default_opener(self.endpoint)
        self.sleep = sleep

    def check(self) -> None:
        """Send an empty batch once: proves the server answers and takes the key, and stores nothing."""
        try:
            self._post([])
        except _Retryable as problem:
            raise SimulationError(self._unreachable(problem.reason)) from None

    def send(self, items: list[dict[str, Any]]) -> BatchResult:
        """Post one batch, retrying what may pass (the same body each time, so nothing is stored twice)."""
        body = json.dumps({"batch": items}, ensure_ascii=False).encode("utf-8")
        reason = ""
        for attempt in range(self.tries):
            try:
                return self._post_body(body)
            except _Retryable as problem:
                reason = problem.reason
                if attempt + 1 < self.tries:
                    backoff = self.backoff_seconds * 2**attempt
                    self.sleep(min(30.0, problem.wait_seconds) if problem.wait_seconds is not None else backoff)
        raise SimulationError(
            _("Gave up on a batch after %(tries)d tries: %(reason)s") % {"tries": self.tries, "reason": reason}
        )

    def _post(self, items: list[dict[str, Any]]) -> BatchResult:
        return self._post_body(json.dumps({"batch": items}).encode("utf-8"))

    def _post_body(self, body: bytes) -> BatchResult:
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s) by the command
            self.endpoint,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.key}",
                "User-Agent": self.user_agent,
            },
        )
        try:
            response = self.opener(request, self.timeout_seconds)
            try:
                status, payload = response.status, response.read()
            finally:
                response.close()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read() if error.fp else b""
            return self._refused(status, payload, error.headers.get("Location", ""), error.headers.get("Retry-After"))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise _Retryable(str(reason) or error.__class__.__name__) from error
        result = _ingest_result(payload)
        if result is None:
            raise SimulationError(
                _("%(url)s did not answer like a JourneyPulse server (HTTP %(status)d). Check --url.")
                % {"url": self.endpoint, "status": status}
            )
        return result

    def _refused(self, status: int, payload: bytes, location: str, retry_after: str | None) -> BatchResult:
        message = _server_message(payload)
        if status == 400 and (result := _ingest_result(payload)) is not None:
            return result  # nothing in the batch was valid: the errors say why
        if status in (401, 403):
            raise KeyRejected(
                _(
                    "The server refused the key (HTTP %(status)d: %(message)s). Check --key, or leave it out "
                    "to have a temporary write key created for the workspace."
                )
                % {"status": status, "message": message}
            )
        if status == 429 or status >= 500:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise _Retryable(
                _("HTTP %(status)d from %(url)s") % {"status": status, "url": self.endpoint}, wait_seconds=wait
            )
        if 300 <= status < 400:
            raise SimulationError(
                _("%(url)s redirects to %(location)s; pass the server's address there as --url.")
                % {"url": self.endpoint, "location": location or "?"}
            )
        if status == 413:
            raise SimulationError(
                _("The server found a batch too large (HTTP 413: %(message)s); use a smaller --batch-size.")
                % {"message": message}
            )
        if status in (404, 405):
            raise SimulationError(
                _("%(url)s answered HTTP %(status)d: is --url the address of a JourneyPulse server?")
                % {"url": self.endpoint, "status": status}
            )
        raise SimulationError(
            _("The server answered HTTP %(status)d: %(message)s") % {"status": status, "message": message}
        )

    def _unreachable(self, reason: str) -> str:
        return _(
            "Cannot reach JourneyPulse at %(url)s (%(reason)s). Is the server running? "
            "Start it with “make run”, or give its address with --url."
        ) % {"url": self.base_url, "reason": reason}


# --- Pace and progress ------------------------------------------------------------------


class Pacer:
    """Waits before each batch so that at most ``rate`` events per second go out (0: no limit)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started: float | None = None

    def wait(self, sent: int) -> None:
        """Before sending more, ``sent`` events having gone out already."""
        if self.rate <= 0:
            return
        if self.started is None:
            self.started = self.clock()
        delay = self.started + sent / self.rate - self.clock()
        if delay > 0:
            self.sleep(delay)


class Progress:
    """A progress bar redrawn in place (``bar``), a line per tenth (``lines``), or nothing (``off``)."""

    BAR_MIN_WIDTH = 10
    BAR_MAX_WIDTH = 40
    REDRAW_SECONDS = 0.1

    def __init__(
        self,
        *,
        write: Callable[[str], None],
        total: int,
        mode: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.total, self.mode, self.clock = write, max(total, 1), mode, clock
        self.started = clock()
        self.last_drawn = float("-inf")
        self.last_tenth = 0
        self.drawn_width = 0

    def update(self, sent: int, *, final: bool = False) -> None:
        now = self.clock()
        if self.mode == "bar" and (final or now - self.last_drawn >= self.REDRAW_SECONDS):
            self.last_drawn = now
            line = self.bar_line(sent, now - self.started)
            self.write("\r" + line.ljust(self.drawn_width))
            self.drawn_width = len(line)
        elif self.mode == "lines":
            tenth = sent * 10 // self.total
            if tenth > self.last_tenth:
                self.last_tenth = tenth
                self.write(
                    _("%(percent)d%%: %(sent)d of %(total)d events sent")
                    % {"percent": min(100, sent * 100 // self.total), "sent": sent, "total": self.total}
                    + "\n"
                )

    def finish(self, sent: int) -> None:
        """Draw the last state and end the bar's line."""
        self.update(sent, final=True)
        if self.mode == "bar":
            self.write("\n")

    def bar_line(self, sent: int, elapsed_seconds: float) -> str:
        """``[####------] 120/351  34%  150 events/s  2s left``, the bar as wide as the terminal allows."""
        share = min(1.0, sent / self.total)
        rate = sent / elapsed_seconds if elapsed_seconds > 0 else 0.0
        figures = _("%(sent)d/%(total)d %(percent)3d%% %(rate).0f events/s") % {
            "sent": sent,
            "total": self.total,
            "percent": int(share * 100),
            "rate": rate,
        }
        if rate > 0 and sent < self.total:
            figures += " " + _("%(seconds)ds left") % {"seconds": round((self.total - sent) / rate)}
        columns = shutil.get_terminal_size().columns
        width = max(self.BAR_MIN_WIDTH, min(self.BAR_MAX_WIDTH, columns - len(figures) - 4))
        filled = int(share * width)
        return f"[{'#' * filled}{'-' * (width - filled)}] {figures}"[: max(20, columns - 1)]
