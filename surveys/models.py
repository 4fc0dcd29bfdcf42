"""Surveys, their questions, invitations and responses.

Survey text is data, not gettext: every survey and question keeps its texts per
language in a ``texts`` JSON object (``{"en": {...}, "pl": {...}}``), read with
fallback to the survey's default language (:mod:`surveys.texts`). One survey in
several languages keeps one set of questions, so one set of results.

A question that has answers is never corrupted: it cannot be deleted or change
type (it can be archived); its order and texts may change. Writes go through
:mod:`surveys.services`.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from touchpoints.models import (
    Customer,
    TimestampedModel,
    Touchpoint,
    TouchpointEvent,
    Workspace,
    WorkspaceQuerySet,
    validate_language_tag,
)

#: Inclusive score ranges of the scale question types.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5)}


class SurveyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    ARCHIVED = "archived", _("Archived")


class InvitationChannel(models.TextChoices):
    EMBEDDED = "embedded", _("Embedded")
    LINK = "link", _("Link")
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class InvitationStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    SENT = "sent", _("Sent")
    OPENED = "opened", _("Opened")
    ANSWERED = "answered", _("Answered")
    EXPIRED = "expired", _("Expired")
    SUPPRESSED = "suppressed", _("Suppressed")
    FAILED = "failed", _("Failed")
    DISMISSED = "dismissed", _("Dismissed")


class Survey(TimestampedModel):
    class Kind(models.TextChoices):
        NPS = "nps", _("NPS")
        CSAT = "csat", _("CSAT")
        CES = "ces", _("CES")
        CUSTOM = "custom", _("Custom")

    Status = SurveyStatus

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="surveys", verbose_name=_("workspace")
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.NPS)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    default_language = models.CharField(
        _("default language"), max_length=16, default="en", validators=[validate_language_tag]
    )
    #: Enabled languages, the default first. Texts fall back to the default language.
    languages = models.JSONField(_("languages"), default=list)
    #: ``{"en": {"title": ..., "intro": ..., "thank_you": ...}, ...}``
    texts = models.JSONField(_("texts"), default=dict, blank=True)
    invitation_expiry_days = models.PositiveSmallIntegerField(
        _("invitation expiry (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="survey_name_once"),
            models.CheckConstraint(
                condition=Q(invitation_expiry_days__gte=1, invitation_expiry_days__lte=365),
                name="survey_expiry_range",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "status"])]

    def __str__(self) -> str:
        return self.name


class QuestionType(models.TextChoices):
    NPS = "nps", _("NPS (0–10)")
    CSAT = "csat", _("CSAT (1–5)")
    CES = "ces", _("CES agreement (1–7)")
    RATING = "rating", _("Rating (1–5)")
    SINGLE_CHOICE = "single_choice", _("Single choice")
    MULTIPLE_CHOICE = "multiple_choice", _("Multiple choice")
    YES_NO = "yes_no", _("Yes / no")
    TEXT = "text", _("Open text")


class Question(TimestampedModel):
    Type = QuestionType

    class Operator(models.TextChoices):
        EQ = "eq", _("equals")
        NE = "ne", _("does not equal")
        LT = "lt", _("is less than")
        LTE = "lte", _("is at most")
        GT = "gt", _("is greater than")
        GTE = "gte", _("is at least")
        IN = "in", _("is one of")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions", verbose_name=_("survey"))
    order = models.PositiveIntegerField(_("order"))
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    is_required = models.BooleanField(_("required"), default=False)
    is_archived = models.BooleanField(_("archived"), default=False)
    #: ``{"en": {"text": ..., "low_label": ..., "high_label": ...}, ...}``
    texts = models.JSONField(_("texts"), default=dict, blank=True)
    #: For choice questions: ``[{"key": "price", "labels": {"en": "Price", "pl": "Cena"}}, ...]``
    options = models.JSONField(_("options"), default=list, blank=True)
    #: Shown only when the answer to ``condition_question`` (an earlier question) matches.
    condition_question = models.ForeignKey(
        # RESTRICT, not PROTECT: deleting the whole survey deletes both questions at once.
        "self",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="dependents",
    )
    condition_operator = models.CharField(max_length=4, choices=Operator.choices, blank=True)
    condition_value = models.JSONField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["survey_id", "order"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        constraints = [
            models.UniqueConstraint(fields=["survey", "order"], name="question_order_once"),
            models.CheckConstraint(condition=Q(order__gte=1), name="question_order_positive"),
            models.CheckConstraint(
                condition=Q(condition_question__isnull=True, condition_operator="")
                | Q(condition_question__isnull=False) & ~Q(condition_operator=""),
                name="question_condition_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}#{self.order} ({self.type})"

    @property
    def scale(self) -> tuple[int, int] | None:
        return SCALES.get(self.type)


class Invitation(TimestampedModel):
    """One customer asked to answer one survey, once, through one channel."""

    Channel = InvitationChannel

    Status = InvitationStatus

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invitations")
    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    language = models.CharField(max_length=16, blank=True, validators=[validate_language_tag])
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    #: 32 random bytes, URL-safe: the whole secret of a survey link; says nothing about who or where.
    token = models.CharField(max_length=64, unique=True, editable=False)
    send_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    suppressed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    #: The customer closed the embedded survey without answering; it is not shown again.
    dismissed_at = models.DateTimeField(null=True, blank=True)
    #: The rule and event that caused it (none for a manual send). ``(event, rule)`` is unique,
    #: so evaluating an event twice never invites twice.
    rule = models.ForeignKey(
        "TriggerRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations"
    )
    event = models.ForeignKey(
        TouchpointEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations"
    )
    #: Delivery tries so far (webhook retries with backoff; ``failed`` after the last one).
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-send_at", "id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "rule"], condition=Q(event__isnull=False), name="invitation_once_per_event_rule"
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "survey", "status"]),
            models.Index(fields=["workspace", "customer"]),
            models.Index(fields=["status", "send_at"]),
            models.Index(fields=["customer", "send_at"]),
            models.Index(fields=["rule", "created_at"]),
            models.Index(fields=["workspace", "sent_at"]),  # analytics: invitations sent per day
        ]

    def __str__(self) -> str:
        return f"{self.survey_id} → {self.customer_id} ({self.status})"


class ConditionOperator(models.TextChoices):
    EQ = "eq", _("equals")
    NE = "ne", _("does not equal")
    IN = "in", _("is one of")
    GT = "gt", _("is greater than")
    LT = "lt", _("is less than")
    EXISTS = "exists", _("exists")


class SamplingMode(models.TextChoices):
    FIXED = "fixed", _("Fixed rate")
    PRECISION = "precision", _("Target precision")


class PrecisionPeriod(models.IntegerChoices):
    """Lengths of a target-precision period, in days (UTC days; 7 and 14 are whole ISO weeks)."""

    DAY = 1, _("day")
    WEEK = 7, _("week")
    TWO_WEEKS = 14, _("two weeks")
    THIRTY_DAYS = 30, _("30 days")
    THIRTEEN_WEEKS = 91, _("13 weeks")


#: The target half-width of the NPS interval a precision rule may ask for, in NPS points.
TARGET_HALF_WIDTH_RANGE = (2.0, 50.0)


class TriggerRule(TimestampedModel):
    """When an event of ``touchpoint`` happens, invite its customer to ``survey``.

    Conditions are a list of ``{"field": "properties.total", "operator": "gt", "value": 100}``;
    a field starts with ``properties.`` (the event's) or ``traits.`` (the customer's), then a
    dotted path. All conditions must hold. ``sampling_rate`` is the share of qualifying events
    invited, decided by a hash (:mod:`surveys.triggers`), so re-evaluating decides the same.
    Quiet hours are in the customer's time zone (the workspace's when unknown); an invitation
    due inside them is postponed to their end, never dropped.

    In ``precision`` sampling mode (:mod:`surveys.precision`) the rule invites just enough
    customers per ``precision_period_days`` for the period's NPS interval to be at most
    ``±target_half_width`` points wide; ``sampling_rate`` is then the most it may invite, and
    the fixed rate its savings are measured against.
    """

    Operator = ConditionOperator
    Mode = SamplingMode

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="trigger_rules", verbose_name=_("survey"))
    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.CASCADE, related_name="trigger_rules", verbose_name=_("touchpoint")
    )
    is_active = models.BooleanField(_("active"), default=True)
    delay_minutes = models.PositiveIntegerField(
        _("delay (minutes)"), default=0, validators=[MaxValueValidator(60 * 24 * 90)]
    )
    sampling_rate = models.FloatField(
        _("sampling rate"), default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    recontact_days = models.PositiveSmallIntegerField(
        _("recontact period (days)"), default=90, validators=[MaxValueValidator(3650)]
    )
    #: Invitations this rule creates per day (the workspace's day); none: no cap.
    daily_cap = models.PositiveIntegerField(_("daily cap"), null=True, blank=True, validators=[MinValueValidator(1)])
    channel = models.CharField(_("channel"), max_length=10, choices=InvitationChannel.choices)
    #: Used when ``channel`` cannot reach the customer (no email address, no webhook URL).
    fallback_channel = models.CharField(
        _("fallback channel"), max_length=10, choices=InvitationChannel.choices, blank=True
    )
    quiet_hours_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    sampling_mode = models.CharField(
        _("sampling mode"), max_length=10, choices=SamplingMode.choices, default=SamplingMode.FIXED
    )
    #: Precision mode: the NPS interval's half-width to reach per period, in NPS points (±10 → 10).
    target_half_width = models.FloatField(
        _("target precision (± NPS points)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(TARGET_HALF_WIDTH_RANGE[0]), MaxValueValidator(TARGET_HALF_WIDTH_RANGE[1])],
    )
    precision_period_days = models.PositiveSmallIntegerField(
        _("precision period (days)"), choices=PrecisionPeriod.choices, default=PrecisionPeriod.WEEK
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["touchpoint_id", "survey_id", "id"]
        verbose_name = _("trigger rule")
        verbose_name_plural = _("trigger rules")
        constraints = [
            models.UniqueConstraint(fields=["survey", "touchpoint"], name="trigger_rule_once"),
            models.CheckConstraint(
                condition=Q(sampling_rate__gte=0, sampling_rate__lte=1), name="trigger_rule_sampling_range"
            ),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="trigger_rule_quiet_hours_complete",
            ),
            models.CheckConstraint(
                condition=Q(target_half_width__isnull=True)
                | Q(
                    target_half_width__gte=TARGET_HALF_WIDTH_RANGE[0], target_half_width__lte=TARGET_HALF_WIDTH_RANGE[1]
                ),
                name="trigger_rule_target_range",
            ),
            models.CheckConstraint(
                condition=~Q(sampling_mode=SamplingMode.PRECISION) | Q(target_half_width__isnull=False),
                name="trigger_rule_precision_has_target",
            ),
            models.CheckConstraint(
                condition=Q(precision_period_days__in=PrecisionPeriod.values),
                name="trigger_rule_precision_period",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "touchpoint", "is_active"])]

    def __str__(self) -> str:
        return f"{self.touchpoint_id} → {self.survey_id}"


class DecisionOutcome(models.TextChoices):
    INVITED = "invited", _("Invited")
    CONDITION_FALSE = "condition_false", _("Conditions not met")
    SAMPLED_OUT = "sampled_out", _("Sampled out")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    SURVEY_RECONTACT = "survey_recontact", _("Surveyed recently (this survey)")
    CONTACT_POLICY = "contact_policy", _("Contact policy (any survey)")
    DAILY_CAP = "daily_cap", _("Daily cap reached")
    NO_CHANNEL = "no_channel", _("No channel reaches the customer")
    STALE = "stale", _("Event too old")
    PRECISION_REACHED = "precision_reached", _("Target precision reached")
    PRECISION_PENDING = "precision_pending", _("Enough invitations out for the target precision")


class TriggerDecision(models.Model):
    """What the engine decided for one event and one rule, and why: the answer to
    "why did this customer not get a survey?". Unique per ``(event, rule)``."""

    Outcome = DecisionOutcome

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(TriggerRule, on_delete=models.CASCADE, related_name="decisions")
    event = models.ForeignKey(TouchpointEvent, on_delete=models.CASCADE, related_name="decisions")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="trigger_decisions")
    outcome = models.CharField(max_length=20, choices=DecisionOutcome.choices)
    decided_at = models.DateTimeField()

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-decided_at", "id"]
        verbose_name = _("trigger decision")
        verbose_name_plural = _("trigger decisions")
        constraints = [
            models.UniqueConstraint(fields=["event", "rule"], name="trigger_decision_once"),
        ]
        indexes = [
            models.Index(fields=["rule", "decided_at", "outcome"]),
            models.Index(fields=["workspace", "customer", "decided_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.rule_id}: {self.outcome}"


class Response(TimestampedModel):
    """A customer's answers to one invitation: at most one, enforced by the database."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    language = models.CharField(max_length=16, validators=[validate_language_tag])
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    is_complete = models.BooleanField(default=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "id"]
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        constraints = [
            models.CheckConstraint(
                condition=Q(is_complete=False) | Q(completed_at__isnull=False), name="response_complete_has_time"
            ),
        ]
        indexes = [models.Index(fields=["workspace", "survey", "is_complete"])]


class Answer(TimestampedModel):
    """One answer to one question: a number (scales, yes = 1 / no = 0), chosen option keys, or text."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    # RESTRICT: a question with answers cannot be deleted alone, but its survey can be.
    question = models.ForeignKey(Question, on_delete=models.RESTRICT, related_name="answers")
    number = models.SmallIntegerField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        indexes = [models.Index(fields=["workspace", "created_at"])]  # analytics: answers per day
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_once_per_question"),
            models.CheckConstraint(
                condition=Q(number__isnull=True) | Q(number__range=(0, 10)), name="answer_number_range"
            ),
        ]
