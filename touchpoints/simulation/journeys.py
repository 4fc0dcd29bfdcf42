"""The journey map as the simulation sees it: active journeys, their stages and mapped event names.

Stages without a mapped event name cannot be observed, so they are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from touchpoints.models import Persona, TouchpointEventName, Workspace


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
