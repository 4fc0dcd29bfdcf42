"""Each customer's walk through a journey, its events, and the timed stream of all of them.

See :mod:`touchpoints.simulation` for how customers, drop-off and timestamps behave.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from touchpoints.simulation.journeys import JourneyPlan
from touchpoints.simulation.people import LANGUAGES, PLANS, SimulatedCustomer
from touchpoints.simulation.properties import PRODUCTS, Shopping, event_properties

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


class Simulation:
    """``customers`` simulated customers of ``seed`` walking ``journeys``; see :mod:`touchpoints.simulation`."""

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
        shopping = Shopping(
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
