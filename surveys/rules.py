"""Every write to trigger rules, and the reads that explain their decisions.

A rule ties a survey to a touchpoint (once: ``(survey, touchpoint)`` is unique).
Conditions are validated here, so the engine (:mod:`surveys.triggers`) can trust
their shape: a field ``properties.<path>`` or ``traits.<path>``, a known operator,
and a value that fits it (a list for ``in``, a number for ``gt``/``lt``, nothing
for ``exists``, a scalar otherwise).

A rule in target-precision mode (:mod:`surveys.precision`) needs a target, a
survey with an NPS question (what the precision is measured on) and a sampling rate
above 0 (its ceiling). A fixed-rate rule keeps a target it had, unused, so switching
back and forth loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from config.errors import ApplicationError
from surveys.models import (
    ConditionOperator,
    DecisionOutcome,
    Invitation,
    Question,
    SamplingMode,
    Survey,
    TriggerDecision,
    TriggerRule,
)
from surveys.precision import first_nps_question
from touchpoints.models import Touchpoint, Workspace
from touchpoints.services.common import lock_in_workspace, model_clean, save_or_raise

#: Conditions per rule, values in one ``in`` list, characters of a text value.
CONDITIONS_MAX = 20
IN_VALUES_MAX = 100
VALUE_MAX_LENGTH = 200
CONDITION_FIELD = re.compile(r"^(properties|traits)(\.[A-Za-z0-9_$-]{1,64}){1,5}$")
#: Fields a rule update may change.
RULE_FIELDS = {
    "is_active",
    "delay_minutes",
    "sampling_rate",
    "conditions",
    "recontact_days",
    "daily_cap",
    "channel",
    "fallback_channel",
    "quiet_hours_start",
    "quiet_hours_end",
    "sampling_mode",
    "target_half_width",
    "precision_period_days",
}


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= VALUE_MAX_LENGTH and "\x00" not in value
    return value is None or isinstance(value, bool | int | float) and abs(value) < 1e15


def clean_conditions(conditions: Any) -> list[dict[str, Any]]:
    """Validate and normalise a list of conditions; errors name the condition (``conditions.2.value``)."""
    if conditions in (None, ""):
        return []
    if not isinstance(conditions, list):
        raise ApplicationError.for_field("conditions", _("Give a list of conditions."))
    if len(conditions) > CONDITIONS_MAX:
        raise ApplicationError.for_field(
            "conditions", _("At most %(max)d conditions per rule.") % {"max": CONDITIONS_MAX}
        )
    cleaned = []
    for index, condition in enumerate(conditions):
        prefix = f"conditions.{index}"
        if not isinstance(condition, Mapping):
            raise ApplicationError.for_field(prefix, _("A condition is an object with field, operator and value."))
        unknown = set(condition) - {"field", "operator", "value"}
        if unknown:
            raise ApplicationError.for_field(
                prefix, _("Unknown key “%(key)s”.") % {"key": str(sorted(unknown)[0])[:40]}
            )
        field, operator, value = condition.get("field"), condition.get("operator"), condition.get("value")
        if not isinstance(field, str) or not CONDITION_FIELD.fullmatch(field):
            raise ApplicationError.for_field(
                f"{prefix}.field",
                _("Name a field such as properties.total or traits.plan (letters, digits, _ and -)."),
            )
        if operator not in ConditionOperator.values:
            raise ApplicationError.for_field(
                f"{prefix}.operator",
                _("Choose one of: %(operators)s.") % {"operators": ", ".join(ConditionOperator.values)},
            )
        value = _clean_value(operator, value, f"{prefix}.value")
        cleaned.append({"field": field, "operator": operator, "value": value})
    return cleaned


def _clean_value(operator: str, value: Any, field: str) -> Any:
    if operator == ConditionOperator.EXISTS:
        return None
    if operator == ConditionOperator.IN:
        if not isinstance(value, list) or not value or len(value) > IN_VALUES_MAX:
            raise ApplicationError.for_field(field, _("Give a list of 1 to %(max)d values.") % {"max": IN_VALUES_MAX})
        if not all(_scalar(item) and item is not None for item in value):
            raise ApplicationError.for_field(field, _("Each value is a number, text or true/false."))
        return value
    if operator in (ConditionOperator.GT, ConditionOperator.LT):
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip()) if len(value) <= 40 else None
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, int | float) or not abs(number) < 1e15:
            raise ApplicationError.for_field(field, _("Give a number."))
        return number
    if value is None or not _scalar(value):
        raise ApplicationError.for_field(
            field, _("Give a number, a text of at most %(max)d characters, or true/false.") % {"max": VALUE_MAX_LENGTH}
        )
    return value


def _check_channels(rule: TriggerRule) -> None:
    if rule.fallback_channel and rule.fallback_channel == rule.channel:
        raise ApplicationError.for_field("fallback_channel", _("Choose a fallback other than the channel."))
    if (rule.quiet_hours_start is None) != (rule.quiet_hours_end is None):
        field = "quiet_hours_end" if rule.quiet_hours_end is None else "quiet_hours_start"
        raise ApplicationError.for_field(field, _("Give both ends of the quiet hours, or neither."))
    if rule.quiet_hours_start is not None and rule.quiet_hours_start == rule.quiet_hours_end:
        raise ApplicationError.for_field("quiet_hours_end", _("Quiet hours must end at another time than they start."))


def _check_precision(rule: TriggerRule) -> None:
    if rule.sampling_mode != SamplingMode.PRECISION:
        return
    if rule.target_half_width is None:
        raise ApplicationError.for_field(
            "target_half_width", _("Give the target precision, in NPS points (e.g. 10 for ±10).")
        )
    if not rule.sampling_rate:
        raise ApplicationError.for_field(
            "sampling_rate",
            _("In target precision mode the sampling rate is the most it may invite: give more than 0."),
        )
    has_nps = Question.objects.filter(survey_id=rule.survey_id, type=Question.Type.NPS, is_archived=False).exists()
    if not has_nps:
        raise ApplicationError.for_field(
            "sampling_mode", _("Target precision is measured on an NPS question, and this survey has none.")
        )


def _rule_taken() -> ApplicationError:
    return ApplicationError.for_field("touchpoint", _("This survey already has a rule for this touchpoint."))


def _time(value: Any, field: str) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str):
        try:
            return time.fromisoformat(value).replace(second=0, microsecond=0, tzinfo=None)
        except ValueError:
            pass
    raise ApplicationError.for_field(field, _("Give a time such as 21:00."))


def _normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(data)
    if "conditions" in values:
        values["conditions"] = clean_conditions(values["conditions"])
    for name in ("quiet_hours_start", "quiet_hours_end"):
        if name in values:
            values[name] = _time(values[name], name)
    if values.get("fallback_channel") is None and "fallback_channel" in values:
        values["fallback_channel"] = ""
    return values


@transaction.atomic
def rule_create(*, workspace: Workspace, survey_id: int, touchpoint_id: int, data: Mapping[str, Any]) -> TriggerRule:
    """A rule firing ``survey`` on events of ``touchpoint``; ``data`` holds the other fields."""
    survey = lock_in_workspace(Survey, workspace, survey_id, field="survey", unknown=_("Unknown survey."))
    if survey.status == Survey.Status.ARCHIVED:
        raise ApplicationError.for_field("survey", _("The survey is archived."))
    touchpoint = Touchpoint.objects.for_workspace(workspace).filter(pk=touchpoint_id).first()
    if touchpoint is None:
        raise ApplicationError.for_field("touchpoint", _("Unknown touchpoint."))
    values = _normalise(data)
    unknown = set(values) - RULE_FIELDS
    if unknown:
        raise ApplicationError.for_field(sorted(unknown)[0], _("This field cannot be set."))
    rule = TriggerRule(workspace=workspace, survey=survey, touchpoint=touchpoint, **values)
    model_clean(rule, exclude=["workspace", "survey", "touchpoint", "conditions"])
    _check_channels(rule)
    _check_precision(rule)
    if TriggerRule.objects.filter(survey=survey, touchpoint=touchpoint).exists():
        raise _rule_taken()
    save_or_raise(rule, _rule_taken())
    return rule


@transaction.atomic
def rule_update(*, workspace: Workspace, rule_id: int, data: Mapping[str, Any]) -> TriggerRule:
    """Change a rule; the survey and touchpoint stay (make a new rule for another pair)."""
    rule = lock_in_workspace(TriggerRule, workspace, rule_id)
    values = _normalise(data)
    unknown = set(values) - RULE_FIELDS
    if unknown:
        raise ApplicationError.for_field(sorted(unknown)[0], _("This field cannot be changed."))
    for name, value in values.items():
        setattr(rule, name, value)
    model_clean(rule, exclude=["workspace", "survey", "touchpoint", "conditions"])
    _check_channels(rule)
    _check_precision(rule)
    rule.save()
    return rule


@transaction.atomic
def rule_delete(*, workspace: Workspace, rule_id: int) -> None:
    """Delete a rule. Its invitations stay (they lose the link); its decision log goes with it."""
    rule = lock_in_workspace(TriggerRule, workspace, rule_id)
    rule.delete()


# --- Reads: why did (not) this customer get a survey? ----------------------------------


def rule_outcome_counts(
    *, workspace: Workspace, since: datetime, until: datetime, rule_ids: Sequence[int] | None = None
) -> dict[int, dict[str, int]]:
    """``{rule_id: {outcome: n}}`` of the decisions made in ``[since, until)``, every outcome present."""
    rows = TriggerDecision.objects.for_workspace(workspace).filter(decided_at__gte=since, decided_at__lt=until)
    if rule_ids is not None:
        rows = rows.filter(rule_id__in=list(rule_ids))
    counts: dict[int, dict[str, int]] = {}
    for row in rows.values("rule_id", "outcome").annotate(n=Count("id")).order_by():
        counts.setdefault(row["rule_id"], dict.fromkeys(DecisionOutcome.values, 0))[row["outcome"]] = row["n"]
    for rule_id in rule_ids or ():
        counts.setdefault(rule_id, dict.fromkeys(DecisionOutcome.values, 0))
    return counts


def decisions_for(*, workspace: Workspace) -> QuerySet[TriggerDecision]:
    """Decisions with what a list shows about them, newest first."""
    return (
        TriggerDecision.objects.for_workspace(workspace)
        .select_related("customer", "event", "rule__survey", "rule__touchpoint")
        .order_by("-decided_at", "-id")
    )


def rules_for(*, workspace: Workspace) -> QuerySet[TriggerRule]:
    """Rules with their survey and stage, and ``nps_question_id`` (what a precision rule measures)."""
    return (
        TriggerRule.objects.for_workspace(workspace)
        .select_related("survey", "touchpoint__stage")
        .annotate(nps_question_id=first_nps_question())
    )


def channel_summary(rule: TriggerRule) -> str:
    """``Email, else embedded`` for lists."""
    channel = Invitation.Channel(rule.channel).label
    if rule.fallback_channel:
        return _("%(channel)s, else %(fallback)s") % {
            "channel": channel,
            "fallback": str(Invitation.Channel(rule.fallback_channel).label).lower(),
        }
    return str(channel)
