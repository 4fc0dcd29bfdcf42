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

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-send_at", "id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [
            models.Index(fields=["workspace", "survey", "status"]),
            models.Index(fields=["workspace", "customer"]),
            models.Index(fields=["status", "send_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id} → {self.customer_id} ({self.status})"


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
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_once_per_question"),
            models.CheckConstraint(
                condition=Q(number__isnull=True) | Q(number__range=(0, 10)), name="answer_number_range"
            ),
        ]
