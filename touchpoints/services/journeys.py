"""Journeys, stages, touchpoints and personas: the journey map.

Stage orders are 1-based, unique per journey and kept contiguous: creating,
deleting, moving and reordering stages all leave ``1..n``. Every change of order
locks the journey row before it reads any order, so concurrent edits of one
journey serialise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import translation
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from config.limits import LIST_MAX_ITEMS
from touchpoints.journey_templates import STANDARD_STAGES
from touchpoints.models import (
    Journey,
    Persona,
    Stage,
    Touchpoint,
    TouchpointEvent,
    TouchpointEventName,
    Workspace,
)
from touchpoints.services.common import (
    apply_changes,
    lock_in_workspace,
    model_clean,
    renumber,
    save_with_unique_name,
)

EVENT_NAME_MAX_LENGTH = 200


# --- Personas ------------------------------------------------------------------


def _persona_name_taken() -> ApplicationError:
    return ApplicationError.for_field("name", _("A persona with this name already exists."))


@transaction.atomic
def persona_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    goals: str = "",
    pains: str = "",
    needs: str = "",
) -> Persona:
    persona = Persona(
        workspace=workspace,
        name=name.strip(),
        description=description,
        goals=goals,
        pains=pains,
        needs=needs,
    )
    model_clean(persona)
    save_with_unique_name(persona, _persona_name_taken())
    return persona


@transaction.atomic
def persona_update(*, workspace: Workspace, persona_id: int, data: dict[str, Any]) -> Persona:
    persona = Persona.objects.for_workspace(workspace).select_for_update().get(pk=persona_id)
    if "name" in data:
        data = {**data, "name": data["name"].strip()}
    changed = apply_changes(persona, data, {"name", "description", "goals", "pains", "needs"})
    model_clean(persona)
    if changed:
        save_with_unique_name(persona, _persona_name_taken(), update_fields=[*changed, "updated_at"])
    return persona


@transaction.atomic
def persona_delete(*, workspace: Workspace, persona_id: int) -> None:
    Persona.objects.for_workspace(workspace).get(pk=persona_id).delete()


# --- Journeys ------------------------------------------------------------------


def _journey_name_taken() -> ApplicationError:
    return ApplicationError.for_field("name", _("A journey with this name already exists."))


def _workspace_personas(workspace: Workspace, persona_ids: Iterable[int]) -> list[Persona]:
    wanted = set(persona_ids)
    if len(wanted) > LIST_MAX_ITEMS:
        raise ApplicationError.for_field(
            "persona_ids", _("At most %(max)d personas per journey.") % {"max": LIST_MAX_ITEMS}
        )
    personas = list(Persona.objects.for_workspace(workspace).filter(pk__in=wanted))
    if len(personas) != len(wanted):
        raise ApplicationError.for_field("persona_ids", _("Unknown persona."))
    return personas


@transaction.atomic
def journey_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    map_type: str = Journey.MapType.CURRENT_STATE,
    is_active: bool = True,
    persona_ids: Sequence[int] = (),
    from_template: bool = False,
) -> Journey:
    """Create a journey, blank or with the nine standard stages in the workspace language."""
    journey = Journey(
        workspace=workspace,
        name=name.strip(),
        description=description,
        map_type=map_type,
        is_active=is_active,
    )
    model_clean(journey)
    personas = _workspace_personas(workspace, persona_ids)
    save_with_unique_name(journey, _journey_name_taken())
    journey.personas.set(personas)
    if from_template:
        with translation.override(workspace.default_language):
            Stage.objects.bulk_create(
                Stage(
                    workspace=workspace,
                    journey=journey,
                    name=str(stage_name),
                    description=str(stage_description),
                    order=position,
                )
                for position, (stage_name, stage_description) in enumerate(STANDARD_STAGES, 1)
            )
    return journey


@transaction.atomic
def journey_update(*, workspace: Workspace, journey_id: int, data: dict[str, Any]) -> Journey:
    journey = Journey.objects.for_workspace(workspace).select_for_update().get(pk=journey_id)
    data = dict(data)
    persona_ids = data.pop("persona_ids", None)
    if "name" in data:
        data["name"] = data["name"].strip()
    changed = apply_changes(journey, data, {"name", "description", "map_type", "is_active"})
    model_clean(journey)
    if changed:
        save_with_unique_name(journey, _journey_name_taken(), update_fields=[*changed, "updated_at"])
    if persona_ids is not None:
        journey.personas.set(_workspace_personas(workspace, persona_ids))
    return journey


@transaction.atomic
def journey_delete(*, workspace: Workspace, journey_id: int) -> None:
    Journey.objects.for_workspace(workspace).get(pk=journey_id).delete()


# --- Stages --------------------------------------------------------------------


def _lock_journey(workspace: Workspace, journey_id: int, *, field: str | None = None) -> Journey:
    """Lock the journey row: every change of its stage orders goes through here."""
    return lock_in_workspace(Journey, workspace, journey_id, field=field, unknown=_("Unknown journey."))


def _lock_stage(workspace: Workspace, stage_id: int) -> tuple[Journey, Stage, list[int]]:
    """Lock the stage's journey, then read the stage and the journey's stage ids in order.

    Reading after the lock means a concurrent delete or move cannot slip between.
    """
    journey_id = Stage.objects.for_workspace(workspace).values_list("journey_id", flat=True).get(pk=stage_id)
    journey = _lock_journey(workspace, journey_id)
    stage = Stage.objects.for_workspace(workspace).get(pk=stage_id, journey=journey)
    ids = list(journey.stages.order_by("order").values_list("pk", flat=True))
    return journey, stage, ids


def _renumber(journey: Journey, stage_ids: Sequence[int]) -> None:
    renumber(Stage.objects.filter(journey=journey), stage_ids)


@transaction.atomic
def stage_create(
    *,
    workspace: Workspace,
    journey_id: int,
    name: str,
    description: str = "",
    order: int | None = None,
) -> Stage:
    """Add a stage; without ``order`` it goes last.

    Orders stay ``1..n``: ``order`` may be ``n + 1`` (last); a taken order is an
    error (move stages with :func:`stage_reorder` or :func:`stage_update`).
    """
    journey = _lock_journey(workspace, journey_id, field="journey")
    count = journey.stages.count()
    if order is None:
        order = count + 1
    elif order <= count:
        raise ApplicationError.for_field(
            "order",
            _("Another stage of this journey already has order %(order)d.") % {"order": order},
            code="order_taken",
        )
    elif order != count + 1:
        raise ApplicationError.for_field("order", _("The order must be between 1 and %(max)d.") % {"max": count + 1})
    stage = Stage(workspace=workspace, journey=journey, name=name.strip(), description=description, order=order)
    model_clean(stage)
    stage.save()
    return stage


@transaction.atomic
def stage_update(*, workspace: Workspace, stage_id: int, data: dict[str, Any]) -> Stage:
    """Rename or describe a stage; a new ``order`` (1..n) moves it there and shifts the others."""
    journey, stage, ids = _lock_stage(workspace, stage_id)
    data = dict(data)
    if "name" in data:
        data["name"] = data["name"].strip()
    if "journey_id" in data and data["journey_id"] != stage.journey_id:
        raise ApplicationError.for_field("journey", _("A stage cannot move to another journey."))
    data.pop("journey_id", None)
    new_order = data.pop("order", stage.order)
    if not 1 <= new_order <= len(ids):
        raise ApplicationError.for_field("order", _("The order must be between 1 and %(max)d.") % {"max": len(ids)})
    changed = apply_changes(stage, data, {"name", "description"})
    model_clean(stage)
    if changed:
        stage.save(update_fields=[*changed, "updated_at"])
    if new_order != stage.order:
        ids.remove(stage.pk)
        ids.insert(new_order - 1, stage.pk)
        _renumber(journey, ids)
        stage.order = new_order
    return stage


@transaction.atomic
def stage_delete(*, workspace: Workspace, stage_id: int) -> None:
    """Delete a stage (and its touchpoints); the others close the gap."""
    journey, stage, ids = _lock_stage(workspace, stage_id)
    stage.delete()
    ids.remove(stage_id)
    _renumber(journey, ids)


@transaction.atomic
def stage_reorder(*, workspace: Workspace, journey_id: int, stage_ids: Sequence[int]) -> list[Stage]:
    """Put the journey's stages in the order of ``stage_ids``: all of them, each once."""
    journey = _lock_journey(workspace, journey_id)
    current = set(journey.stages.values_list("pk", flat=True))
    if len(stage_ids) != len(set(stage_ids)) or set(stage_ids) != current:
        raise ApplicationError.for_field("stage_ids", _("List every stage of this journey exactly once."))
    _renumber(journey, stage_ids)
    return list(journey.stages.order_by("order"))


@transaction.atomic
def stage_move(*, workspace: Workspace, stage_id: int, offset: int) -> Stage:
    """Move a stage ``offset`` places (-1 = one to the left); the ends stop it."""
    journey, stage, ids = _lock_stage(workspace, stage_id)
    position = ids.index(stage.pk)
    target = min(max(position + offset, 0), len(ids) - 1)
    if target != position:
        ids.insert(target, ids.pop(position))
        _renumber(journey, ids)
        stage.order = target + 1
    return stage


# --- Touchpoints -----------------------------------------------------------------


def _clean_event_names(names: Iterable[str]) -> list[str]:
    names = list(names)
    if len(names) > LIST_MAX_ITEMS:
        raise ApplicationError.for_field(
            "event_names", _("At most %(max)d event names per touchpoint.") % {"max": LIST_MAX_ITEMS}
        )
    cleaned: dict[str, None] = {}
    for raw in names:
        name = raw.strip()
        if not name:
            raise ApplicationError.for_field("event_names", _("Event names cannot be blank."))
        if len(name) > EVENT_NAME_MAX_LENGTH:
            raise ApplicationError.for_field(
                "event_names",
                _("Event names are at most %(max)d characters.") % {"max": EVENT_NAME_MAX_LENGTH},
            )
        cleaned[name] = None
    return list(cleaned)


def _set_event_names(touchpoint: Touchpoint, names: list[str]) -> None:
    """Make ``names`` the touchpoint's event names; a name owned elsewhere is an error."""
    taken = (
        TouchpointEventName.objects.for_workspace(touchpoint.workspace)
        .filter(name__in=names)
        .exclude(touchpoint=touchpoint)
        .select_related("touchpoint")
        .first()
    )
    if taken is not None:
        raise ApplicationError.for_field(
            "event_names",
            _("The event “%(event)s” already belongs to the touchpoint “%(touchpoint)s”.")
            % {"event": taken.name, "touchpoint": taken.touchpoint.name},
            code="event_name_taken",
        )
    touchpoint.event_names.exclude(name__in=names).delete()
    existing = set(touchpoint.event_names.values_list("name", flat=True))
    try:
        with transaction.atomic():
            TouchpointEventName.objects.bulk_create(
                TouchpointEventName(workspace=touchpoint.workspace, touchpoint=touchpoint, name=name)
                for name in names
                if name not in existing
            )
    except IntegrityError as exc:  # another request took the name since the check above
        raise ApplicationError.for_field(
            "event_names",
            _("One of these event names was just taken by another touchpoint."),
            code="event_name_taken",
        ) from exc
    # Stored events of a newly mapped name now count for this touchpoint in reports. They were
    # evaluated when they arrived (unmapped), so they never fire surveys now.
    TouchpointEvent.objects.for_workspace(touchpoint.workspace).filter(name__in=names, touchpoint__isnull=True).update(
        touchpoint=touchpoint
    )


def _workspace_stage(workspace: Workspace, stage_id: int) -> Stage:
    stage = Stage.objects.for_workspace(workspace).filter(pk=stage_id).first()
    if stage is None:
        raise ApplicationError.for_field("stage", _("Unknown stage."))
    return stage


@transaction.atomic
def touchpoint_create(
    *,
    workspace: Workspace,
    stage_id: int,
    name: str,
    channel: str,
    customer_does: str = "",
    customer_thinks: str = "",
    customer_feels: str = "",
    owner_team: str = "",
    event_names: Iterable[str] = (),
    order: int | None = None,
) -> Touchpoint:
    """Add a touchpoint to a stage (last, unless ``order`` says otherwise)."""
    stage = _workspace_stage(workspace, stage_id)
    if order is None:
        order = (stage.touchpoints.aggregate(last=Max("order"))["last"] or 0) + 1
    touchpoint = Touchpoint(
        workspace=workspace,
        stage=stage,
        name=name.strip(),
        channel=channel,
        customer_does=customer_does,
        customer_thinks=customer_thinks,
        customer_feels=customer_feels,
        owner_team=owner_team,
        order=order,
    )
    model_clean(touchpoint)
    names = _clean_event_names(event_names)
    touchpoint.save()
    _set_event_names(touchpoint, names)
    return touchpoint


_TOUCHPOINT_FIELDS = {
    "name",
    "channel",
    "customer_does",
    "customer_thinks",
    "customer_feels",
    "owner_team",
    "order",
}


@transaction.atomic
def touchpoint_update(*, workspace: Workspace, touchpoint_id: int, data: dict[str, Any]) -> Touchpoint:
    """Change a touchpoint; ``stage_id`` moves it (within the workspace), ``event_names`` replaces them."""
    touchpoint = Touchpoint.objects.for_workspace(workspace).select_for_update().get(pk=touchpoint_id)
    data = dict(data)
    event_names = data.pop("event_names", None)
    stage_id = data.pop("stage_id", None)
    if "name" in data:
        data["name"] = data["name"].strip()
    changed = apply_changes(touchpoint, data, _TOUCHPOINT_FIELDS)
    if stage_id is not None and stage_id != touchpoint.stage_id:
        touchpoint.stage = _workspace_stage(workspace, stage_id)
        changed.append("stage")
    model_clean(touchpoint)
    if changed:
        touchpoint.save(update_fields=[*changed, "updated_at"])
    if event_names is not None:
        _set_event_names(touchpoint, _clean_event_names(event_names))
    return touchpoint


@transaction.atomic
def touchpoint_delete(*, workspace: Workspace, touchpoint_id: int) -> None:
    Touchpoint.objects.for_workspace(workspace).get(pk=touchpoint_id).delete()


@transaction.atomic
def event_name_map(*, workspace: Workspace, name: str, touchpoint_id: int) -> Touchpoint:
    """Add an event name to a touchpoint (the unmapped-events page); its stored events follow it."""
    touchpoint = lock_in_workspace(
        Touchpoint, workspace, touchpoint_id, field="touchpoint", unknown=_("Unknown touchpoint.")
    )
    names = _clean_event_names([*touchpoint.event_names.values_list("name", flat=True), name])
    _set_event_names(touchpoint, names)
    return touchpoint
