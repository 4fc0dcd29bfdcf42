"""Daily rollups of survey answers and invitations, and how far they are complete.

Reports read these narrow tables for complete days plus the raw rows of the days
not rolled up yet (:mod:`analytics.aggregation`); :mod:`analytics.rollups` fills
them with one ``INSERT … SELECT … GROUP BY`` per table and run.

Design notes:

* **Days are UTC days.** An answer's day is the UTC date of ``Answer.created_at``;
  an invitation's is the UTC date of ``Invitation.sent_at``.
* **Only the touchpoint is stored, not its stage and journey.** A touchpoint can
  move to another stage (even of another journey) and its history follows it, as
  its events do. Reports resolve stage and journey through the current touchpoint
  (two tiny tables), so rolled-up days and today's raw rows always agree and a
  move never leaves stale copies behind. It also keeps the rows narrow.
* **Foreign keys without database constraints, ``on_delete=CASCADE``.** Rows are
  derived data: deleting a touchpoint, survey or workspace through the ORM deletes
  their rollup rows (Django's collector, one ``DELETE … WHERE … IN``), while the bulk
  ``INSERT … SELECT`` pays no per-row foreign-key check and a touchpoint deleted
  while a refresh runs cannot make it fail at commit. A row orphaned by such a
  race is never read (reports join the live touchpoint) and goes at the next
  recompute of its day.
* **Three levels for answers.** :class:`AnswerRollup` has every dimension;
  :class:`AnswerSegmentRollup` drops the language (channel and persona stay: the
  drivers of a flagged stage and the channel and persona filters read it);
  :class:`AnswerTouchpointRollup` drops channel, language and persona, which
  multiply the rows most, and serves the common unfiltered stage report.
* **The unique key starts with ``(workspace, day)``**: it is the index of the
  refresh's ``DELETE`` of a day range and of a report's scan of a period; a
  second index ``(touchpoint, day)`` serves reports of one journey (its
  touchpoints) and cascading deletes.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from surveys.models import Response, Survey
from touchpoints.models import Customer, Journey, Stage, TimestampedModel, Touchpoint, Workspace, WorkspaceQuerySet

#: The dimensions an invitation rollup row is unique on (an answer rollup adds question type and score).
INVITATION_DIMENSIONS = ("workspace", "day", "touchpoint", "survey", "channel", "language", "persona")
ANSWER_DIMENSIONS = (*INVITATION_DIMENSIONS, "question_type", "score")
TOUCHPOINT_ANSWER_DIMENSIONS = ("workspace", "day", "touchpoint", "survey", "question_type", "score")
SEGMENT_ANSWER_DIMENSIONS = (
    "workspace",
    "day",
    "touchpoint",
    "survey",
    "channel",
    "persona",
    "question_type",
    "score",
)


def _derived_fk(model: type[models.Model], *, db_index: bool = False) -> models.ForeignKey:
    return models.ForeignKey(model, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=db_index)


class AnswerRollup(models.Model):
    """How many answers gave ``score`` to a ``question_type`` question, per day and dimension.

    Only scale questions (NPS 0–10, CSAT 1–5, CES 1–7) of invitations with a
    touchpoint are counted, from complete and partial responses alike.
    ``persona`` is the name of the workspace's persona the customer's ``persona``
    trait names (case-insensitively), or ``""`` for unknown; ``language`` is the
    response's language, else the invitation's.
    """

    workspace = _derived_fk(Workspace)  # the unique key starts with it
    day = models.DateField()
    touchpoint = _derived_fk(Touchpoint)  # the (touchpoint, day) index starts with it
    survey = _derived_fk(Survey, db_index=True)  # deleting a survey deletes its rows
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=16, blank=True)
    persona = models.CharField(max_length=120, blank=True)
    question_type = models.CharField(max_length=16)
    score = models.SmallIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("answer rollup")
        verbose_name_plural = _("answer rollups")
        constraints = [
            models.UniqueConstraint(fields=ANSWER_DIMENSIONS, name="answer_rollup_once"),
        ]
        indexes = [models.Index(fields=["touchpoint", "day"], name="answer_rollup_touchpoint_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.touchpoint_id} {self.question_type}={self.score}: {self.n}"


class AnswerTouchpointRollup(models.Model):
    """:class:`AnswerRollup` summed over channel, language and persona.

    What a report neither filtered nor grouped by those three reads: per day,
    touchpoint, survey and score only, so several times fewer rows to scan (on
    uniform test data 168,000 instead of 1,280,000 for 3.3 million answers). The
    survey stays, so deleting a survey still deletes its rows. Refreshed from
    :class:`AnswerRollup` in the same transaction.
    """

    workspace = _derived_fk(Workspace)
    day = models.DateField()
    touchpoint = _derived_fk(Touchpoint)
    survey = _derived_fk(Survey, db_index=True)
    question_type = models.CharField(max_length=16)
    score = models.SmallIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("answer rollup by touchpoint")
        verbose_name_plural = _("answer rollups by touchpoint")
        constraints = [
            models.UniqueConstraint(fields=TOUCHPOINT_ANSWER_DIMENSIONS, name="answer_tp_rollup_once"),
        ]
        indexes = [models.Index(fields=["touchpoint", "day"], name="answer_tp_rollup_tp_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.touchpoint_id} {self.question_type}={self.score}: {self.n}"


class AnswerSegmentRollup(models.Model):
    """:class:`AnswerRollup` summed over the language: per day, touchpoint, survey, channel, persona and score.

    What a report that splits or filters by channel or persona, but not by
    language, reads (the drivers of a flagged stage, the channel and persona
    breakdowns and filters): in the 10M-answer bench it was a quarter of the full
    table's rows. Refreshed from :class:`AnswerRollup` in the same transaction.
    """

    workspace = _derived_fk(Workspace)
    day = models.DateField()
    touchpoint = _derived_fk(Touchpoint)
    survey = _derived_fk(Survey, db_index=True)
    channel = models.CharField(max_length=10)
    persona = models.CharField(max_length=120, blank=True)
    question_type = models.CharField(max_length=16)
    score = models.SmallIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("answer rollup by channel and persona")
        verbose_name_plural = _("answer rollups by channel and persona")
        constraints = [
            models.UniqueConstraint(fields=SEGMENT_ANSWER_DIMENSIONS, name="answer_segment_rollup_once"),
        ]
        indexes = [models.Index(fields=["touchpoint", "day"], name="answer_seg_rollup_tp_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.touchpoint_id} {self.channel}/{self.persona} {self.question_type}={self.score}"


class InvitationRollup(models.Model):
    """Invitations sent per UTC day of ``sent_at`` and dimension, and how many of them were answered.

    Sent: the invitation reached the customer (``sent_at`` set, status past
    scheduled and not suppressed or failed). Answered: it has a response with at
    least one answer. The dimensions mean what they mean in :class:`AnswerRollup`.
    """

    workspace = _derived_fk(Workspace)
    day = models.DateField()
    touchpoint = _derived_fk(Touchpoint)
    survey = _derived_fk(Survey, db_index=True)
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=16, blank=True)
    persona = models.CharField(max_length=120, blank=True)
    sent = models.PositiveIntegerField()
    answered = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("invitation rollup")
        verbose_name_plural = _("invitation rollups")
        constraints = [
            models.UniqueConstraint(fields=INVITATION_DIMENSIONS, name="invitation_rollup_once"),
        ]
        indexes = [models.Index(fields=["touchpoint", "day"], name="inv_rollup_touchpoint_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.touchpoint_id}: {self.answered}/{self.sent}"


class RollupState(models.Model):
    """How far a workspace's rollups are complete: every UTC day before ``complete_until``.

    Reports read rollups for those days and raw rows from ``complete_until`` on;
    without a state (never refreshed) they read raw rows only.
    """

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+", verbose_name=_("workspace")
    )
    #: Exclusive: days before it are rolled up. ``None``: nothing is.
    complete_until = models.DateField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")

    def __str__(self) -> str:
        return f"{self.workspace_id}: complete until {self.complete_until}"


# --- Closed loop: friction flags, follow-up cases, digests (issue 6) ---------------------------


class FrictionFlagRecord(TimestampedModel):
    """A friction flag of a stage or touchpoint (:mod:`analytics.friction`), kept while it lasts.

    :mod:`analytics.alerts` refreshes the records of every active journey every hour
    over a rolling window: a flag the report shows is **open** (``resolved_at`` empty)
    and at most one open record exists per ``(journey, level, unit_id, kind)``; each
    refresh that still shows it moves ``last_seen_at`` and takes the latest severity,
    reason, evidence and window. A refresh that no longer shows it sets
    ``resolved_at``. If it comes back within ``FLAG_REOPEN_DAYS`` (7) of being
    resolved, the same record reopens (no new alert, no new case; a closed case
    gets a note that the flag is back), so a borderline flag re-tested every hour
    does not alert again and again. A return after that is a **new** record with a
    new alert and a new case (the old one stays as history).

    ``reason`` is written in the workspace's default language at the time of the
    refresh (the report words it; the numbers are in ``evidence``). ``stage`` is the
    flagged stage, or the flagged touchpoint's stage.

    Alerting is tracked per record: ``alerted_at`` is set once every configured
    channel (email to admins and designers, the workspace webhook) has taken the
    alert; ``alert_emailed_at`` and ``alert_webhook_at`` say which channel already
    did, so a retry (at the next refresh, after ``alert_claimed_at`` + a lease, at
    most ``ALERT_MAX_ATTEMPTS`` tries) repeats only what failed.
    """

    class Level(models.TextChoices):
        STAGE = "stage", _("Stage")
        TOUCHPOINT = "touchpoint", _("Touchpoint")

    # Indexed by (workspace, first_seen_at).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="friction_flags", db_index=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="friction_flags")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    touchpoint = models.ForeignKey(Touchpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    #: The stage's or the touchpoint's id (as the report names the unit).
    unit_id = models.BigIntegerField()
    kind = models.CharField(_("kind"), max_length=24)
    severity = models.CharField(_("severity"), max_length=8)
    reason = models.TextField(_("reason"))
    evidence = models.JSONField(_("evidence"), default=dict)
    #: The report period (UTC days, both included) of the latest refresh that saw it.
    window_since = models.DateField()
    window_until = models.DateField()
    first_seen_at = models.DateTimeField(_("first seen at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    alerted_at = models.DateTimeField(_("alerted at"), null=True, blank=True)
    alert_claimed_at = models.DateTimeField(null=True, blank=True)
    alert_attempts = models.PositiveSmallIntegerField(default=0)
    alert_emailed_at = models.DateTimeField(null=True, blank=True)
    alert_webhook_at = models.DateTimeField(null=True, blank=True)
    alert_error = models.CharField(max_length=500, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        verbose_name = _("friction flag")
        verbose_name_plural = _("friction flags")
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "level", "unit_id", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="friction_flag_open_once",
            ),
            models.CheckConstraint(condition=Q(level__in=["stage", "touchpoint"]), name="friction_flag_level_valid"),
        ]
        indexes = [
            models.Index(fields=["workspace", "first_seen_at"], name="friction_flag_ws_first_seen"),
            models.Index(fields=["workspace"], condition=Q(alerted_at__isnull=True), name="friction_flag_unalerted"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.level} {self.unit_id} ({self.severity})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class CaseSource(models.TextChoices):
    DETRACTOR = "detractor", _("Detractor answer")
    FLAG = "flag", _("Friction flag")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    CLOSED = "closed", _("Closed")


class FollowUpCase(TimestampedModel):
    """Someone has to follow up: a detractor answered, or a friction flag appeared.

    Opened by :mod:`analytics.cases` (detractors, one case per response: the unique
    ``response``) and :mod:`analytics.alerts` (flags, one case per flag record).
    ``owner_team`` is copied from the touchpoint when the case opens (for a stage
    flag: the most common owner team of the stage's touchpoints), so renaming a team
    later does not move open work. ``journey``, ``stage`` and ``touchpoint`` are where
    it happened; deleting them keeps the case. ``question_type`` and ``score`` are
    the detractor answer that opened it.

    Times: ``opened_at`` (the case was created), ``followed_up_at`` (the first
    note, or the first status change away from open, by a person or a key),
    ``closed_at`` (set while closed; reopening clears it), ``due_at`` (by default
    a few business days after opening, see :mod:`analytics.cases`).

    Erasing a customer erases their cases with their responses (notes may describe them).
    """

    Source = CaseSource
    Status = CaseStatus

    # Indexed by (workspace, status, due_at); ``response`` and ``flag`` by their partial unique indexes.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="follow_up_cases", db_index=False)
    source = models.CharField(_("source"), max_length=10, choices=CaseSource.choices)
    status = models.CharField(_("status"), max_length=12, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, null=True, blank=True, related_name="follow_up_cases", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="follow_up_cases"
    )
    question_type = models.CharField(_("question type"), max_length=16, blank=True)
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    #: When the detractor answer was given.
    feedback_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    flag = models.ForeignKey(
        FrictionFlagRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases", db_index=False
    )
    journey = models.ForeignKey(Journey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    stage = models.ForeignKey(Stage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    touchpoint = models.ForeignKey(Touchpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    owner_team = models.CharField(_("owner team"), max_length=120, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_follow_up_cases",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due"))
    opened_at = models.DateTimeField(_("opened at"))
    followed_up_at = models.DateTimeField(_("followed up at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("follow-up case")
        verbose_name_plural = _("follow-up cases")
        constraints = [
            models.UniqueConstraint(
                fields=["response"], condition=Q(response__isnull=False), name="case_once_per_response"
            ),
            models.UniqueConstraint(fields=["flag"], condition=Q(flag__isnull=False), name="case_once_per_flag"),
            models.CheckConstraint(condition=Q(source__in=CaseSource.values), name="case_source_valid"),
            models.CheckConstraint(condition=Q(status__in=CaseStatus.values), name="case_status_valid"),
            models.CheckConstraint(
                condition=Q(status=CaseStatus.CLOSED, closed_at__isnull=False)
                | (~Q(status=CaseStatus.CLOSED) & Q(closed_at__isnull=True)),
                name="case_closed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(source=CaseSource.DETRACTOR) | Q(response__isnull=False),
                name="case_detractor_has_response",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "due_at"], name="case_ws_status_due"),
            models.Index(fields=["workspace", "opened_at"], name="case_ws_opened"),
            models.Index(fields=["workspace", "owner_team", "status"], name="case_ws_team_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.source} ({self.status})"


class CaseNoteKind(models.TextChoices):
    NOTE = "note", _("Note")
    CHANGE = "change", _("Change")


class CaseNote(models.Model):
    """A note on a case, or a recorded change (``kind`` ``change``: status, assignee, due date).

    ``changes`` maps a field to ``[old, new]`` (status values, user names, ISO
    times), so the history is shown in the reader's language. ``author_label`` is the
    user's name, or the API key's prefix, at the time of writing.
    """

    Kind = CaseNoteKind

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(FollowUpCase, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=8, choices=CaseNoteKind.choices, default=CaseNoteKind.NOTE)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=150, blank=True)
    text = models.TextField(_("note"), blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("case note")
        verbose_name_plural = _("case notes")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.kind}"


class DetractorSweep(models.Model):
    """Where the detractor sweep (:func:`analytics.cases.detractor_cases_open`) stands; one row (``pk`` 1).

    Every answer with an id up to ``swept_through_id`` has been looked at.
    ``checkpoint_id`` is the highest answer id seen at ``checkpoint_at``; once the
    checkpoint is older than the commit lag, every answer up to it has committed, so
    the sweep may move ``swept_through_id`` up to it.
    """

    swept_through_id = models.BigIntegerField(default=0)
    checkpoint_id = models.BigIntegerField(default=0)
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("detractor sweep")
        verbose_name_plural = _("detractor sweeps")

    def __str__(self) -> str:
        return f"swept through answer {self.swept_through_id}"


class DigestDelivery(models.Model):
    """The weekly digest of a workspace was handled for the ISO week starting ``week_start``.

    Claimed before sending (unique per workspace and week), so a redelivered or
    repeated task never sends a week's digest twice. When no message could be
    sent, the claim is removed and the next hourly run tries again; when some
    were, ``recipients`` is how many. An empty digest (no data, no flags) records
    its week with ``recipients = 0``. A crash between the claim and the send
    loses that week's digest (at most once).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    week_start = models.DateField()
    sent_at = models.DateTimeField()
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-week_start"]
        verbose_name = _("digest delivery")
        verbose_name_plural = _("digest deliveries")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "week_start"], name="digest_once_per_week"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: week of {self.week_start}"


class ReportSettings(TimestampedModel):
    """A workspace's friction thresholds (:class:`analytics.friction.FrictionSettings`).

    At most one row per workspace; without one, the defaults apply (the issue's:
    CES 5 on 1–7, response rate 10%). Read by every report, flag refresh and digest
    through :func:`analytics.report_settings.friction_settings`.
    """

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="report_settings")
    #: A stage whose CES interval lies entirely below this is flagged "high effort" (1–7, 7 = easiest).
    ces_threshold = models.DecimalField(_("CES threshold"), max_digits=2, decimal_places=1, default=Decimal("5.0"))
    #: A response rate whose interval lies entirely below this share (in %) is flagged "low response".
    low_response_percent = models.PositiveSmallIntegerField(_("low response threshold (%)"), default=10)

    class Meta:
        verbose_name = _("report settings")
        verbose_name_plural = _("report settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(ces_threshold__gte=1) & Q(ces_threshold__lte=7), name="report_settings_ces_range"
            ),
            models.CheckConstraint(
                condition=Q(low_response_percent__gte=1) & Q(low_response_percent__lte=99),
                name="report_settings_response_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: CES {self.ces_threshold}, response {self.low_response_percent}%"
