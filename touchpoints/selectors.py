"""Every read of the touchpoints app, workspace first.

List selectors return querysets with their relations loaded, so a list endpoint
costs the same number of queries for 5 rows as for 500.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, F, Max, OuterRef, Prefetch, QuerySet, Subquery

from touchpoints.keys import hash_api_key
from touchpoints.models import (
    ApiKey,
    Customer,
    Journey,
    Membership,
    Persona,
    Stage,
    Touchpoint,
    TouchpointEvent,
    TouchpointEventName,
    Workspace,
)


def membership_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Membership]:
    """The user's workspaces, as memberships (with the workspace loaded)."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")


def membership_for_user(*, user: User | AnonymousUser, workspace_id: int | None) -> Membership | None:
    """The membership for ``workspace_id`` if the user has it, else their first one."""
    memberships = membership_list_for_user(user=user)
    if workspace_id is not None:
        chosen = memberships.filter(workspace_id=workspace_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def apikey_get_active(*, raw_key: str) -> ApiKey | None:
    """The unrevoked key whose hash matches ``raw_key``, with its workspace."""
    return (
        ApiKey.objects.select_related("workspace")
        .filter(hashed_key=hash_api_key(raw_key), revoked_at__isnull=True)
        .first()
    )


def persona_list(*, workspace: Workspace) -> QuerySet[Persona]:
    return Persona.objects.for_workspace(workspace)


def journey_list(*, workspace: Workspace) -> QuerySet[Journey]:
    return (
        Journey.objects.for_workspace(workspace)
        .annotate(
            stage_count=Count("stages", distinct=True),
            touchpoint_count=Count("stages__touchpoints", distinct=True),
        )
        .prefetch_related(Prefetch("personas", queryset=Persona.objects.for_workspace(workspace).only("id", "name")))
    )


def stage_list(*, workspace: Workspace) -> QuerySet[Stage]:
    return Stage.objects.for_workspace(workspace).annotate(touchpoint_count=Count("touchpoints"))


def touchpoint_list(*, workspace: Workspace) -> QuerySet[Touchpoint]:
    """Touchpoints with ``journey_id`` annotated and their event names prefetched (names only)."""
    event_names = TouchpointEventName.objects.for_workspace(workspace).only("touchpoint_id", "name").order_by("name")
    return (
        Touchpoint.objects.for_workspace(workspace)
        .annotate(journey_id=F("stage__journey_id"))
        .prefetch_related(Prefetch("event_names", queryset=event_names))
    )


def journey_map_queryset(*, workspace: Workspace) -> QuerySet[Journey]:
    """Journeys with everything their map page shows: stages in order, touchpoints, event names, personas.

    Every prefetch is scoped to the workspace too, so even a row linked across
    workspaces by mistake (say, through the admin) is never shown.
    """
    event_names = TouchpointEventName.objects.for_workspace(workspace).order_by("name")
    touchpoints = Touchpoint.objects.for_workspace(workspace).prefetch_related(
        Prefetch("event_names", queryset=event_names)
    )
    stages = (
        Stage.objects.for_workspace(workspace)
        .order_by("order")
        .prefetch_related(Prefetch("touchpoints", queryset=touchpoints))
    )
    return Journey.objects.for_workspace(workspace).prefetch_related(
        Prefetch("stages", queryset=stages),
        Prefetch("personas", queryset=Persona.objects.for_workspace(workspace)),
    )


def customer_list(*, workspace: Workspace) -> QuerySet[Customer]:
    return Customer.objects.for_workspace(workspace)


def event_name_stats(*, workspace: Workspace, mapped: bool | None = None) -> QuerySet:
    """Event names seen in the workspace, most frequent first: ``name``, ``count``, ``last_seen_at``
    and ``mapped_touchpoint_id`` (where the name is mapped now; ``None`` when it is not).

    One query whatever the number of names; ``mapped`` keeps only mapped or unmapped names.
    """
    mapping = TouchpointEventName.objects.for_workspace(workspace).filter(name=OuterRef("name"))
    stats = (
        TouchpointEvent.objects.for_workspace(workspace)
        .values("name")
        .annotate(
            count=Count("id"),
            last_seen_at=Max("occurred_at"),
            mapped_touchpoint_id=Subquery(mapping.values("touchpoint_id")[:1]),
        )
        .order_by("-count", "name")
    )
    if mapped is not None:
        stats = stats.filter(mapped_touchpoint_id__isnull=not mapped)
    return stats
