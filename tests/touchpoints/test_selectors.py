"""Selectors: scoping and fixed query counts."""

from __future__ import annotations

import pytest

from tests.touchpoints.factories import JourneyFactory, MembershipFactory, PersonaFactory, UserFactory
from touchpoints import selectors
from touchpoints.services import journey_create, touchpoint_create

pytestmark = pytest.mark.django_db


def _journey_with_cards(workspace, cards_per_stage: int):
    journey = journey_create(workspace=workspace, name=f"J{cards_per_stage}", from_template=True)
    journey.personas.add(PersonaFactory(workspace=workspace))
    for stage in journey.stages.all():
        for index in range(cards_per_stage):
            touchpoint_create(
                workspace=workspace,
                stage_id=stage.pk,
                name=f"T{index}",
                channel="web",
                event_names=[f"e_{cards_per_stage}_{stage.pk}_{index}"],
            )
    return journey


@pytest.mark.parametrize("cards_per_stage", [1, 6])
def test_journey_map_costs_five_queries_whatever_its_size(workspace, cards_per_stage, django_assert_num_queries):
    journey = _journey_with_cards(workspace, cards_per_stage)
    with django_assert_num_queries(5):
        loaded = selectors.journey_map_queryset(workspace=workspace).get(pk=journey.pk)
        stages = list(loaded.stages.all())
        cards = [t for stage in stages for t in stage.touchpoints.all()]
        events = [e.name for t in cards for e in t.event_names.all()]
        personas = list(loaded.personas.all())
    assert [stage.order for stage in stages] == list(range(1, 10))
    assert len(cards) == len(events) == 9 * cards_per_stage
    assert len(personas) == 1


def test_journey_list_counts_and_scopes(workspace, other_workspace):
    journey_create(workspace=workspace, name="Mine", from_template=True)
    JourneyFactory(workspace=other_workspace, name="Theirs")
    journeys = list(selectors.journey_list(workspace=workspace))
    assert [(j.name, j.stage_count, j.touchpoint_count) for j in journeys] == [("Mine", 9, 0)]


def test_membership_for_user_falls_back_to_a_real_membership(workspace, other_workspace):
    user = UserFactory()
    MembershipFactory(user=user, workspace=workspace)
    assert selectors.membership_for_user(user=user, workspace_id=other_workspace.pk).workspace == workspace
    assert selectors.membership_for_user(user=user, workspace_id=None).workspace == workspace
