"""The trigger engine: which events invite which customers to which survey, set-based.

:func:`events_evaluate` takes a batch of event ids (one ingest request's, or the
sweep's) and decides every ``(event, rule)`` pair of it in one transaction and a
fixed number of queries, whatever the batch size:

1. lock the batch's unevaluated events (``skip_locked``: an event another
   evaluation holds is that evaluation's business, never decided twice);
2. load the active rules of their touchpoints (of active surveys);
3. lock the rules that have a daily cap or sample for a target precision, then the
   customers involved, in a fixed order (``workspace, external_id``, the order
   ingestion locks them in), so two evaluations touching one customer run one after
   the other and cannot both pass a throttle, two evaluations of one capped or
   precision rule cannot both spend its cap or budget, and neither deadlocks with an
   ingest;
4. read every throttle at once: the last invitation per customer and survey,
   today's invitations per capped rule, and the period counts of the precision rules
   (three grouped queries, :func:`surveys.precision.period_states`);
5. decide each pair in event order, updating the throttles in memory as it goes,
   so two events of one customer in one batch give one invitation;
6. bulk-insert the decisions and invitations (each unique per ``(event, rule)``,
   so a second evaluation of the same event creates nothing) and mark the events
   evaluated.

Checks, in order; the first that fails is the decision's recorded outcome:
conditions, unsubscribed, stale (due more than :data:`STALE_AFTER` ago: a
backfill of old events must not survey anyone), survey recontact period,
workspace contact policy, sampling, daily cap, channel. Sampling comes after the
throttles, so a rule's rate is the share of *eligible* events invited, and it is a
hash of rule, customer and event, so re-evaluating decides the same.

A rule in target-precision mode (:mod:`surveys.precision`) samples with the same hash
against a rate planned per batch from its period's counts, and its sampling step has
two more outcomes: ``precision_reached`` (this period's NPS interval is already as
narrow as the target) and ``precision_pending`` (enough invitations are out to reach
it). Given the same database state and ``now`` it decides the same; see that module.

Nothing here sends anything: invitations are created ``scheduled`` with their
``send_at`` (delay, then quiet hours) and the dispatcher (:mod:`surveys.dispatch`)
delivers them when due; link and embedded invitations due now are ``sent`` at once.
"""

from __future__ import annotations

import hashlib
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from surveys import precision
from surveys.invitations import IMMEDIATE_CHANNELS, new_token
from surveys.models import (
    DecisionOutcome,
    Invitation,
    SamplingMode,
    Survey,
    TriggerDecision,
    TriggerRule,
)
from touchpoints.models import Customer, TouchpointEvent, Workspace

logger = logging.getLogger(__name__)

#: An event whose invitation would have been due longer ago than this is not surveyed.
STALE_AFTER = timedelta(days=2)
#: Invitations that did not reach anyone do not count against throttles.
NOT_CONTACTED = (Invitation.Status.SUPPRESSED, Invitation.Status.FAILED)
_MISSING = object()


@dataclass(frozen=True)
class EvaluationResult:
    events: int
    decisions: int
    invitations: int


# --- Pure parts: conditions, sampling, quiet hours, channel ------------------------------


def field_value(field: str, properties: Mapping[str, Any], traits: Mapping[str, Any]) -> Any:
    """The value at ``properties.a.b`` or ``traits.a.b``, or ``_MISSING``."""
    source, _dot, path = field.partition(".")
    value: Any = properties if source == "properties" else traits if source == "traits" else _MISSING
    for part in path.split(".") if path else ():
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and len(value) <= 40:
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _equal(actual: Any, expected: Any) -> bool:
    """Equality that forgives ``"100"`` against ``100`` (form inputs are text) but not ``True`` against ``1``."""
    if isinstance(actual, bool) and isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, bool) or isinstance(expected, bool):  # True against "true" (a form's text)
        flag, text = (actual, expected) if isinstance(actual, bool) else (expected, actual)
        return isinstance(text, str) and text.strip().lower() == str(flag).lower()
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return actual == expected


def condition_holds(condition: Mapping[str, Any], properties: Mapping[str, Any], traits: Mapping[str, Any]) -> bool:
    """One ``{"field", "operator", "value"}`` condition. A missing field fails every operator but ``ne``."""
    actual = field_value(condition["field"], properties, traits)
    operator, expected = condition["operator"], condition.get("value")
    if operator == "exists":
        return actual is not _MISSING and actual is not None
    if operator == "ne":
        return actual is _MISSING or not _equal(actual, expected)
    if actual is _MISSING:
        return False
    if operator == "eq":
        return _equal(actual, expected)
    if operator == "in":
        return any(_equal(actual, item) for item in expected or ())
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        return False
    return left > right if operator == "gt" else left < right if operator == "lt" else False


def sample_point(rule_id: int, customer_id: int, event_id: int) -> float:
    """A number in [0, 1) fixed by rule, customer and event: the same decision on every evaluation."""
    digest = hashlib.sha256(f"{rule_id}:{customer_id}:{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def after_quiet_hours(moment: datetime, tz: zoneinfo.ZoneInfo, start: time | None, end: time | None) -> datetime:
    """``moment``, or the end of the quiet hours it falls in (local time of ``tz``; hours may span midnight)."""
    if start is None or end is None or start == end:
        return moment
    local = moment.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    day: date = local.date()
    if start < end:
        if not start <= clock < end:
            return moment
    elif clock >= start:  # e.g. 21:00-08:00 and it is 22:30: quiet until tomorrow 08:00
        day += timedelta(days=1)
    elif clock >= end:
        return moment
    return datetime.combine(day, end, tzinfo=tz)


def reachable_channel(rule: TriggerRule, customer: Customer, workspace: Workspace) -> str | None:
    """The rule's channel, else its fallback, that can reach this customer; none if neither can."""
    for channel in (rule.channel, rule.fallback_channel):
        if not channel:
            continue
        if channel == Invitation.Channel.EMAIL and not customer.email:
            continue
        if channel == Invitation.Channel.WEBHOOK and not workspace.webhook_url:
            continue
        return channel
    return None


def invitation_language(customer: Customer, survey: Survey) -> str:
    """The customer's language if the survey is written in it (``pl-PL`` matches ``pl``), else blank."""
    language = customer.language
    if not language:
        return ""
    if language in survey.languages:
        return language
    base = language.split("-")[0].lower()
    return base if base in survey.languages else ""


def _zone(name: str, fallback: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or fallback)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# --- The batch ------------------------------------------------------------------------


class _Throttles:
    """Every throttle of the batch's customers, read in two queries and kept current in memory."""

    def __init__(
        self,
        customer_ids: Iterable[int],
        rules: Sequence[TriggerRule],
        workspaces: Mapping[int, Workspace],
        now: datetime,
    ) -> None:
        customer_ids = list(customer_ids)
        longest = max(
            [rule.recontact_days for rule in rules] + [ws.contact_policy_days for ws in workspaces.values()] + [0]
        )
        #: Latest ``send_at`` per (customer, survey); future (scheduled) invitations count too.
        self.last_by_survey: dict[tuple[int, int], datetime] = {}
        #: Latest ``send_at`` per customer, any survey.
        self.last_any: dict[int, datetime] = {}
        self.invited_in_batch: set[tuple[int, int]] = set()
        rows = (
            Invitation.objects.filter(customer_id__in=customer_ids, send_at__gte=now - timedelta(days=longest + 1))
            .exclude(status__in=NOT_CONTACTED)
            .values("customer_id", "survey_id")
            .annotate(last=Max("send_at"))
            .order_by()
        )
        for row in rows:
            self._remember(row["customer_id"], row["survey_id"], row["last"])
        #: Invitations created today (the workspace's day) per capped rule.
        self.today: dict[int, int] = defaultdict(int)
        capped = [rule for rule in rules if rule.daily_cap]
        if capped:
            by_day = Q()
            for rule in capped:
                start = _day_start(now, workspaces[rule.workspace_id])
                by_day |= Q(rule_id=rule.pk, created_at__gte=start)
            counts = Invitation.objects.filter(by_day).values("rule_id").annotate(n=Count("id")).order_by()
            for count in counts:
                self.today[count["rule_id"]] = count["n"]

    def _remember(self, customer_id: int, survey_id: int, send_at: datetime) -> None:
        key = (customer_id, survey_id)
        if key not in self.last_by_survey or self.last_by_survey[key] < send_at:
            self.last_by_survey[key] = send_at
        if customer_id not in self.last_any or self.last_any[customer_id] < send_at:
            self.last_any[customer_id] = send_at

    def note(self, customer_id: int, survey_id: int, send_at: datetime) -> None:
        """An invitation made in this batch: it throttles the rest of the batch."""
        self._remember(customer_id, survey_id, send_at)
        self.invited_in_batch.add((customer_id, survey_id))

    def survey_recent(self, customer_id: int, survey_id: int, send_at: datetime, days: int) -> bool:
        if (customer_id, survey_id) in self.invited_in_batch:
            return True
        last = self.last_by_survey.get((customer_id, survey_id))
        return last is not None and last > send_at - timedelta(days=days)

    def contacted_recently(self, customer_id: int, send_at: datetime, days: int) -> bool:
        last = self.last_any.get(customer_id)
        return days > 0 and last is not None and last > send_at - timedelta(days=days)


def _day_start(now: datetime, workspace: Workspace) -> datetime:
    local = now.astimezone(_zone(workspace.timezone, "UTC"))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def events_evaluate(*, event_ids: Sequence[int], now: datetime | None = None) -> EvaluationResult:
    """Decide every rule for these events, once; see the module docstring. Safe to call again."""
    now = now or timezone.now()
    with transaction.atomic():
        events = list(
            TouchpointEvent.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(event_ids), evaluated_at__isnull=True)
            .order_by("occurred_at", "pk")
        )
        if not events:
            return EvaluationResult(0, 0, 0)
        decisions, invitations = _decide(events, now)
        TriggerDecision.objects.bulk_create(decisions, ignore_conflicts=True)
        Invitation.objects.bulk_create(invitations, ignore_conflicts=True)
        TouchpointEvent.objects.filter(pk__in=[event.pk for event in events]).update(evaluated_at=now)
    return EvaluationResult(len(events), len(decisions), len(invitations))


def _decide(events: list[TouchpointEvent], now: datetime) -> tuple[list[TriggerDecision], list[Invitation]]:
    touchpoint_ids = {event.touchpoint_id for event in events if event.touchpoint_id and event.customer_id}
    if not touchpoint_ids:
        return [], []
    rules: list[TriggerRule] = list(
        TriggerRule.objects.filter(
            touchpoint_id__in=touchpoint_ids,
            workspace_id__in={event.workspace_id for event in events},
            is_active=True,
            survey__status=Survey.Status.ACTIVE,
        )
        .select_related("survey")
        .annotate(nps_question_id=precision.first_nps_question())
        .order_by("pk")
    )
    if not rules:
        return [], []
    rules_by_touchpoint: dict[int, list[TriggerRule]] = defaultdict(list)
    for rule in rules:
        rules_by_touchpoint[rule.touchpoint_id].append(rule)
    candidates = [
        (event, rule)
        for event in events
        for rule in rules_by_touchpoint.get(event.touchpoint_id or 0, ())
        if event.customer_id and rule.workspace_id == event.workspace_id
    ]
    if not candidates:
        return [], []
    workspaces = Workspace.objects.in_bulk({rule.workspace_id for rule in rules})
    # Locks, always in this order: capped and precision rules, then customers (the order ingestion uses).
    budgeted_ids = sorted(rule.pk for rule in rules if rule.daily_cap or rule.sampling_mode == SamplingMode.PRECISION)
    if budgeted_ids:
        list(TriggerRule.objects.select_for_update().filter(pk__in=budgeted_ids).order_by("pk").values_list("pk"))
    customers = {
        customer.pk: customer
        for customer in Customer.objects.select_for_update(no_key=True)  # event inserts (FK checks) need not wait
        .filter(pk__in={event.customer_id for event, _rule in candidates})
        .order_by("workspace_id", "external_id")
    }
    throttles = _Throttles(customers, rules, workspaces, now)
    budgets = precision.budgets_for(rules, now)

    decisions: list[TriggerDecision] = []
    invitations: list[Invitation] = []
    for event, rule in candidates:
        customer = customers.get(event.customer_id or 0)
        if customer is None:  # deleted meanwhile
            continue
        workspace = workspaces[rule.workspace_id]
        due = event.occurred_at + timedelta(minutes=rule.delay_minutes)
        send_at = max(due, now)
        channel = reachable_channel(rule, customer, workspace)
        if channel and channel != Invitation.Channel.EMBEDDED:  # embedded shows only while they visit anyway
            zone = _zone(customer.timezone, workspace.timezone)
            send_at = after_quiet_hours(send_at, zone, rule.quiet_hours_start, rule.quiet_hours_end)

        if not all(condition_holds(c, event.properties, customer.traits) for c in rule.conditions):
            outcome = DecisionOutcome.CONDITION_FALSE
        elif customer.unsubscribed_at is not None:
            outcome = DecisionOutcome.UNSUBSCRIBED
        elif due < now - STALE_AFTER:
            outcome = DecisionOutcome.STALE
        elif throttles.survey_recent(customer.pk, rule.survey_id, send_at, rule.recontact_days):
            outcome = DecisionOutcome.SURVEY_RECONTACT
        elif throttles.contacted_recently(customer.pk, send_at, workspace.contact_policy_days):
            outcome = DecisionOutcome.CONTACT_POLICY
        elif (sampled := _sampling_outcome(rule, budgets.get(rule.pk), customer.pk, event.pk)) is not None:
            outcome = sampled
        elif rule.daily_cap and throttles.today[rule.pk] >= rule.daily_cap:
            outcome = DecisionOutcome.DAILY_CAP
        elif channel is None:
            outcome = DecisionOutcome.NO_CHANNEL
        else:
            outcome = DecisionOutcome.INVITED
            throttles.note(customer.pk, rule.survey_id, send_at)
            throttles.today[rule.pk] += 1
            if rule.pk in budgets:
                budgets[rule.pk].spend()
            invitations.append(_invitation(event, rule, customer, channel, send_at, now))
        decisions.append(
            TriggerDecision(
                workspace_id=rule.workspace_id,
                rule=rule,
                event=event,
                customer=customer,
                outcome=outcome,
                decided_at=now,
            )
        )
    return decisions, invitations


def _sampling_outcome(
    rule: TriggerRule, budget: precision.Budget | None, customer_id: int, event_id: int
) -> DecisionOutcome | None:
    """What stops this event at the sampling step: the fixed rate, or a precision rule's budget (none: go on).

    A precision rule without a plan (its survey lost its NPS question) samples at its fixed rate.
    """
    point = sample_point(rule.pk, customer_id, event_id)
    if budget is not None:
        return budget.outcome(point)
    return DecisionOutcome.SAMPLED_OUT if point >= rule.sampling_rate else None


def _invitation(
    event: TouchpointEvent, rule: TriggerRule, customer: Customer, channel: str, send_at: datetime, now: datetime
) -> Invitation:
    is_immediate = channel in IMMEDIATE_CHANNELS and send_at <= now
    return Invitation(
        workspace_id=rule.workspace_id,
        survey=rule.survey,
        customer=customer,
        touchpoint_id=rule.touchpoint_id,
        rule=rule,
        event=event,
        channel=channel,
        language=invitation_language(customer, rule.survey),
        status=Invitation.Status.SENT if is_immediate else Invitation.Status.SCHEDULED,
        sent_at=now if is_immediate else None,
        token=new_token(),
        send_at=send_at,
        expires_at=send_at + timedelta(days=rule.survey.invitation_expiry_days),
    )


def unevaluated_event_ids(*, older_than: timedelta, limit: int, now: datetime | None = None) -> list[int]:
    """Events no evaluation has decided yet, oldest first: a lost wake-up leaves these behind."""
    now = now or timezone.now()
    return list(
        TouchpointEvent.objects.filter(evaluated_at__isnull=True, received_at__lte=now - older_than)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
