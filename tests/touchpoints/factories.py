"""Factories for the touchpoints models. Tenant rows inherit their workspace from their parent."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from touchpoints.models import (
    Channel,
    Customer,
    Journey,
    Membership,
    Persona,
    Role,
    Stage,
    Touchpoint,
    TouchpointEventName,
    Workspace,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct-horse-battery")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"workspace-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ADMIN


class PersonaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Persona

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Persona {n}")
    goals = "Get it done quickly."


class JourneyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Journey

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Journey {n}")


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    journey = factory.SubFactory(JourneyFactory)
    workspace = factory.SelfAttribute("journey.workspace")
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n + 1)


class TouchpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touchpoint

    stage = factory.SubFactory(StageFactory)
    workspace = factory.SelfAttribute("stage.workspace")
    name = factory.Sequence(lambda n: f"Touchpoint {n}")
    channel = Channel.WEB
    customer_does = "Clicks."


class TouchpointEventNameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TouchpointEventName

    touchpoint = factory.SubFactory(TouchpointFactory)
    workspace = factory.SelfAttribute("touchpoint.workspace")
    name = factory.Sequence(lambda n: f"event_{n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    workspace = factory.SubFactory(WorkspaceFactory)
    external_id = factory.Sequence(lambda n: f"customer-{n}")
    email = factory.LazyAttribute(lambda customer: f"{customer.external_id}@example.com")
    traits = factory.LazyFunction(lambda: {"plan": "pro"})
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)
