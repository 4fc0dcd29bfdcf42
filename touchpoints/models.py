"""Tenancy (workspaces, members, API keys) and the journey map.

Every tenant table carries a ``workspace`` key, so scoping a query is one indexed
filter: ``Model.objects.for_workspace(workspace)``. Writes go through
:mod:`touchpoints.services`; reads through :mod:`touchpoints.selectors`.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import zoneinfo
from typing import Any, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


@functools.cache
def _time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """Accept IANA time-zone names only (``Europe/Warsaw``, ``UTC``)."""
    if value not in _time_zone_names():
        raise ValidationError(_("“%(value)s” is not a known time zone."), params={"value": value})


validate_language_tag = RegexValidator(
    r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$",
    _("Enter a language code such as “en”, “pl” or “pt-BR”."),
)


def _json_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_json_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_json_depth(item) for item in value), default=0)
    return 0


def validate_json_object(value: Any, *, max_bytes: int | None = None) -> None:
    """A JSON object at most ``TRAITS_MAX_DEPTH`` deep and ``max_bytes`` big (default ``TRAITS_MAX_BYTES``).

    NUL characters and lone surrogates are refused: PostgreSQL's jsonb cannot store them.
    The messages name no field, so traits, event properties and the like share them.
    """
    from config.limits import TRAITS_MAX_BYTES, TRAITS_MAX_DEPTH

    max_bytes = max_bytes or TRAITS_MAX_BYTES
    if not isinstance(value, dict):
        raise ValidationError(_("Give a JSON object."), code="invalid")
    if _json_depth(value) > TRAITS_MAX_DEPTH:
        raise ValidationError(_("Nest at most %(depth)d levels deep."), params={"depth": TRAITS_MAX_DEPTH})
    text = json.dumps(value, ensure_ascii=False)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(_("Contains an invalid character.")) from exc
    if "\\u0000" in text or "\x00" in text:
        raise ValidationError(_("Contains an invalid character."))
    if len(encoded) > max_bytes:
        raise ValidationError(_("At most %(size)d bytes."), params={"size": max_bytes})


def validate_traits(value: Any) -> None:
    """Customer traits: a JSON object within the traits limits (see :func:`validate_json_object`)."""
    validate_json_object(value)


def new_identity_secret() -> str:
    return secrets.token_hex(32)


#: ``https://shop.example.com`` or ``http://localhost:8080``: a scheme, a host, maybe a port; no path.
ORIGIN_SHAPE = re.compile(r"https?://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?")


def validate_origins(value: Any) -> None:
    """A list of at most ``EMBED_ORIGINS_MAX`` web origins, lower-case, without a path or a trailing slash."""
    from config.limits import EMBED_ORIGINS_MAX

    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Give a list of origins."), code="invalid")
    if len(value) > EMBED_ORIGINS_MAX:
        raise ValidationError(_("At most %(max)d origins."), params={"max": EMBED_ORIGINS_MAX})
    for origin in value:
        if not ORIGIN_SHAPE.fullmatch(origin):
            raise ValidationError(
                _("“%(value)s” is not an origin such as https://shop.example.com (no path, lower case)."),
                params={"value": origin[:100]},
            )


def language_choices() -> list[tuple[str, Any]]:
    return list(settings.LANGUAGES)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class WorkspaceQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace) -> Self:
        return self.filter(workspace=workspace)


class Role(models.TextChoices):
    """What a member (or a secret API key) may do in a workspace.

    Viewers and analysts read; designers and admins change journeys (and later
    surveys and rules); admins also manage members and keys. Only admins and
    designers see customer PII (email, traits).
    """

    ADMIN = "admin", _("Admin")
    DESIGNER = "designer", _("Designer")
    ANALYST = "analyst", _("Analyst")
    VIEWER = "viewer", _("Viewer")

    @classmethod
    def can_write(cls, role: str | None) -> bool:
        return role in (cls.ADMIN, cls.DESIGNER)

    @classmethod
    def can_view_pii(cls, role: str | None) -> bool:
        return role in (cls.ADMIN, cls.DESIGNER)


class Workspace(TimestampedModel):
    """A tenant: one company's journeys, customers and (later) surveys."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    default_language = models.CharField(_("default language"), max_length=8, choices=language_choices, default="en")
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC", validators=[validate_timezone])
    #: Sites allowed to frame the survey form and to ask for embedded surveys (``embed.js``).
    embed_origins = models.JSONField(_("embed origins"), default=list, blank=True, validators=[validate_origins])
    #: Key of the HMAC-SHA256 a company computes over a user id on its server (the ``userHash``
    #: of ``JourneyPulse.identify``), so nobody can read another customer's survey by guessing ids.
    identity_secret = models.CharField(_("identity secret"), max_length=64, default=new_identity_secret)
    #: Contact policy: at most one survey per customer per this many days, across every
    #: survey and channel (0: no workspace-wide limit; each rule's recontact period still holds).
    contact_policy_days = models.PositiveSmallIntegerField(
        _("contact policy (days)"), default=14, validators=[MaxValueValidator(365)]
    )
    #: Where webhook invitations are POSTed, signed with ``webhook_secret`` (HMAC-SHA256).
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    webhook_secret = models.CharField(_("webhook secret"), max_length=64, default=new_identity_secret)

    class Meta:
        ordering = ["name"]
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")
        constraints = [
            models.CheckConstraint(condition=Q(contact_policy_days__lte=365), name="workspace_contact_policy_range"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(TimestampedModel):
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("workspace")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["workspace__name"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_once_per_user"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.workspace} ({self.role})"


class ApiKey(TimestampedModel):
    """A credential for machines.

    ``write`` keys can only send events (safe to ship in a browser or app);
    ``secret`` keys are for servers and carry a :class:`Role`. Only a SHA-256 hash
    of the key is stored (the key is 32 random bytes, so a fast hash is enough),
    plus a short visible prefix to tell keys apart.
    """

    class Kind(models.TextChoices):
        WRITE = "write", _("Write (ingest only)")
        SECRET = "secret", _("Secret (server-side)")

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("workspace")
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, blank=True)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="write", role="") | Q(kind="secret", role__in=Role.values)),
                name="apikey_role_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Persona(TimestampedModel):
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="personas", verbose_name=_("workspace")
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    goals = models.TextField(_("goals"), blank=True)
    pains = models.TextField(_("pains"), blank=True)
    needs = models.TextField(_("needs"), blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("persona")
        verbose_name_plural = _("personas")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="persona_name_once"),
        ]

    def __str__(self) -> str:
        return self.name


class Journey(TimestampedModel):
    class MapType(models.TextChoices):
        CURRENT_STATE = "current_state", _("Current state")
        FUTURE_STATE = "future_state", _("Future state")
        DAY_IN_THE_LIFE = "day_in_the_life", _("Day in the life")
        SERVICE_BLUEPRINT = "service_blueprint", _("Service blueprint")

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="journeys", verbose_name=_("workspace")
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    map_type = models.CharField(_("map type"), max_length=24, choices=MapType.choices, default=MapType.CURRENT_STATE)
    personas = models.ManyToManyField(Persona, related_name="journeys", blank=True, verbose_name=_("personas"))
    is_active = models.BooleanField(_("active"), default=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="journey_name_once"),
        ]
        indexes = [models.Index(fields=["workspace", "is_active"])]

    def __str__(self) -> str:
        return self.name


class Stage(TimestampedModel):
    """A column of the journey map. ``order`` is 1-based and unique within a journey."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="stages", verbose_name=_("workspace")
    )
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stages", verbose_name=_("journey"))
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"))

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["journey_id", "order"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        constraints = [
            models.UniqueConstraint(fields=["journey", "order"], name="stage_order_once"),
            models.CheckConstraint(condition=Q(order__gte=1), name="stage_order_positive"),
        ]
        indexes = [models.Index(fields=["workspace", "journey"])]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    APP = "app", _("App")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    IN_PERSON = "in_person", _("In person")
    SOCIAL = "social", _("Social")
    OTHER = "other", _("Other")


class Touchpoint(TimestampedModel):
    """A moment where the customer meets the company, on one channel.

    The event names that mean "this touchpoint happened" live in
    :class:`TouchpointEventName`, unique per workspace, so one event name maps to
    one touchpoint.
    """

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="touchpoints", verbose_name=_("workspace")
    )
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="touchpoints", verbose_name=_("stage"))
    name = models.CharField(_("name"), max_length=120)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    customer_does = models.TextField(_("what the customer does"), blank=True)
    customer_thinks = models.TextField(_("what the customer thinks"), blank=True)
    customer_feels = models.TextField(_("what the customer feels"), blank=True)
    owner_team = models.CharField(_("owner team"), max_length=120, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["stage_id", "order", "id"]
        verbose_name = _("touchpoint")
        verbose_name_plural = _("touchpoints")
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="touchpoint_channel_valid"),
        ]
        indexes = [models.Index(fields=["workspace", "stage"])]

    def __str__(self) -> str:
        return self.name


class TouchpointEventName(TimestampedModel):
    """An event name (``checkout_completed``) that means its touchpoint happened."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    touchpoint = models.ForeignKey(Touchpoint, on_delete=models.CASCADE, related_name="event_names")
    name = models.CharField(_("event name"), max_length=200)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("event name")
        verbose_name_plural = _("event names")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="event_name_once_per_workspace"),
        ]

    def __str__(self) -> str:
        return self.name


class Customer(TimestampedModel):
    """One profile per person across every stage and journey of a workspace."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="customers", verbose_name=_("workspace")
    )
    external_id = models.CharField(_("external id"), max_length=200)
    email = models.EmailField(_("email"), blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True, validators=[validate_language_tag])
    timezone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[validate_timezone])
    traits = models.JSONField(_("traits"), default=dict, blank=True, validators=[validate_traits])
    first_seen_at = models.DateTimeField(_("first seen at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    #: The customer asked never to be surveyed again (a link in every email); never contacted after.
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at", "id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "external_id"], name="customer_external_id_once"),
        ]
        indexes = [models.Index(fields=["workspace", "last_seen_at"])]

    def __str__(self) -> str:
        return self.external_id


class EventKind(models.TextChoices):
    TRACK = "track", _("Track")
    PAGE = "page", _("Page")
    SCREEN = "screen", _("Screen")


class TouchpointEvent(models.Model):
    """Something a customer did, as the company's systems reported it.

    ``message_id`` is unique per workspace, so a retried event is stored once
    (a client that sends none gets one derived from the event's content).
    ``touchpoint`` is the touchpoint its name maps to when it arrived, or none;
    mapping a name later attributes stored events for analytics but never
    re-evaluates them. ``evaluated_at`` is set once the trigger engine has decided
    about the event; the sweep picks up events left unevaluated.
    """

    Kind = EventKind

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="events", verbose_name=_("customer")
    )
    #: Set for events of visitors not yet identified (Segment's ``anonymousId``); they trigger nothing.
    anonymous_id = models.CharField(_("anonymous id"), max_length=200, blank=True)
    touchpoint = models.ForeignKey(
        Touchpoint,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("touchpoint"),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=EventKind.choices, default=EventKind.TRACK)
    name = models.CharField(_("event name"), max_length=200)
    message_id = models.CharField(_("message id"), max_length=200)
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"))
    evaluated_at = models.DateTimeField(_("evaluated at"), null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "message_id"], name="event_message_id_once"),
        ]
        indexes = [
            models.Index(fields=["workspace", "name"]),
            models.Index(fields=["workspace", "touchpoint", "occurred_at"]),
            models.Index(fields=["workspace", "customer", "occurred_at"]),
            models.Index(fields=["received_at"], condition=Q(evaluated_at__isnull=True), name="event_unevaluated"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.message_id})"
