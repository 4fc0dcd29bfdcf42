"""Target-precision sampling: invite just enough customers for an NPS interval of a chosen width.

A rule in ``precision`` sampling mode (:attr:`TriggerRule.sampling_mode`) does not invite a
fixed share of eligible events. For each period (``precision_period_days``) it invites just
enough customers for that period's NPS interval at the rule's touchpoint to be at most
``±target_half_width`` NPS points wide, then stops until the next period.

What is measured
----------------
The rule's own sample: answers to the first (non-archived) NPS question of the rule's survey
given through the rule's invitations (``Invitation.rule``), in the period by the answer's
``created_at``. Periods are UTC and anchored on Monday 2024-01-01 (:data:`PERIOD_ANCHOR`), so
7-day periods are exactly the ISO weeks the reports group answers by (``analytics``: an
answer belongs to the UTC day of its ``created_at``), and 1-day periods are UTC days; the
other lengths are consecutive windows from the anchor. The half-width is the one the
reports show: the adjusted Wald interval of Rocks (2016), ``z·√((p + d − (p − d)²)/n′)`` with
¾ added to promoters and to detractors and n′ = n + 3, at 95%, in NPS points. Manual sends
and other rules do not count (they are not this rule's sample).

The decision, per (rule, batch)
-------------------------------
:func:`plan` turns the rule's period counts (:class:`PeriodState`, read by
:func:`period_states` in three grouped queries per batch, whatever the number of rules) into
a :class:`Plan`:

1. **Reached**: at least :data:`MIN_ANSWERS` answers this period and a half-width at most the
   target. Every further eligible event of the period is decided ``precision_reached``.
2. **Answers needed**, ``n = (z·100/h)²·v − 3`` for ``h`` = target × :data:`PLAN_MARGIN`
   (0.98: plan about 4% more answers, so that periods end at or under the target rather
   than around it), with ``v`` the NPS variance ``p + d − (p − d)²`` of this period's
   answers (adjusted as above) blended with a prior worth :data:`PRIOR_WEIGHT` answers: the
   rule's own variance over the :data:`HISTORY` before the period when it has
   :data:`MIN_ANSWERS` answers there, else the conservative :data:`PRIOR_VARIANCE` (0.8;
   the largest possible is 1, a stage at NPS 20 answering 45/30/25 has 0.66). Never fewer
   than one more answer while the target is not reached.
3. **Invitations still needed** = ``ceil((n − answered − expected_from_pending) / in_time)``:
   the issue's ``ceil((n − answered)/rate) − pending``, with two corrections the simulation
   showed necessary. A pending invitation counts by its chance of still being answered *at
   its age*, and only for answers that land *inside the period* (``in_time`` is a new
   invitation's chance of an answer before the period ends). Counting every pending
   invitation at the overall rate believes the 80% who never answer are still coming;
   counting answers that land next week ends every period short (both ended weeks around
   ±10.3 for a ±10 target). Both chances come from a :class:`ResponseModel` measured on the
   rule's *settled* invitations (sent within :data:`RATE_LOOKBACK` before the
   :data:`RESPONSE_WINDOW`): the share answered (with a prior of
   :data:`PRIOR_RESPONSE_RATE` worth :data:`PRIOR_RESPONSE_WEIGHT` invitations, so a new
   rule starts cautious, floored at :data:`RESPONSE_RATE_FLOOR`) and the share of answers
   given within 3, 12, 24, 48 and 72 hours (prior :data:`PRIOR_ANSWERED_BY`), piecewise
   linear between. Pending means open, without a response, sent less than the window ago
   (scheduled ones included), counted in those age buckets; older invitations are given up
   (their late answers still count when they arrive). When the budget is spent (enough
   invitations out) eligible events are decided ``precision_pending`` until answers arrive or
   pending invitations age.
4. **Pacing**: the budget is spread over the rest of the period at
   ``min(ceiling, PACE · budget / expected_eligible_events_left)``, eligible events per second
   measured over the last period length (:data:`ELIGIBLE_OUTCOMES` decisions since
   ``max(rule created, now − period)``); an event is invited when its deterministic
   :func:`surveys.triggers.sample_point` is below that rate. Pacing instead of "first come"
   keeps the period's sample spread over its days (inviting the first N eligible customers
   of a week would survey Mondays only); :data:`PACE` > 1 aims to finish early enough for the
   last answers to land inside the period. The sampling probability still changes over the
   period (higher while the estimates are cautious, and up to the ceiling in the last hours
   when the period is short of answers; those late answers count for the next period), so a
   period's answers are not a perfectly uniform sample of its customers; the reports do not
   reweight them.
5. The rule's ``sampling_rate`` is the **ceiling**: precision mode never invites a larger
   share than the fixed rate it replaces. It is also the fixed rate savings are measured
   against. With too few eligible events for the target (low volume), the rule invites at
   the ceiling all period, the target is not reached, and nothing is saved; set the rate to
   100% to let it invite every eligible customer instead.

Determinism
-----------
A decision is a function of the event (its hash point), the rule's settings, the counts read
at the start of the batch and ``now``: evaluating the same events again from the same
database state decides the same. Within the period a re-evaluation after more answers
arrived may decide differently (that is the point), but the per-event hash keeps decisions
*nested*: an event invited at rate r is invited at every rate above r. Exactly-once still
comes from the ``(event, rule)`` unique constraints.

Concurrency: the engine locks a precision rule's row, like a capped rule's, before reading
its counts (same lock order: rules by id, then customers), so two evaluations of one rule
cannot both spend the same budget.

Per stage
---------
A rule's touchpoint belongs to one stage, so a rule's target is a per-touchpoint target. A
stage whose k touchpoints each have a rule at ±h gets a pooled stage interval of about
``±h/√k`` (answers add up; variances alike). To aim at ±H for the *stage*, give each of its k
rules about ``±H·√k`` (equal shares of the ``(z·100/H)²·v`` answers the stage needs); a
touchpoint that must be reported on its own needs its own ±H.

Savings
-------
:func:`precision_reports` compares, per precision rule and period, the invitations made with
``sampling_rate × eligible events`` (events that passed conditions and throttles, the ones a
fixed rate samples from): the expectation of what the same rule at its fixed rate would
have invited, before daily caps and channels. It slightly overstates a fixed rate's
invitations when customers come back within the recontact period (a fixed rate would have
invited some of them earlier and throttled them). The bench (``bench/bench_adaptive_sampling.py``)
measures the saving, the half-width reached and the interval's coverage by simulation
(:func:`simulate_precision`, :func:`simulate_fixed`), driving the same :func:`plan`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from surveys.models import (
    Answer,
    DecisionOutcome,
    Invitation,
    Question,
    SamplingMode,
    TriggerDecision,
    TriggerRule,
)

#: Two-sided 95%: the reports' interval.
Z = 1.959963984540054
#: Fewer answers than this never count as "reached" (the reports' "insufficient data" limit).
MIN_ANSWERS = 30
#: Variance of an NPS answer (−1/0/1) assumed before the rule has data of its own.
PRIOR_VARIANCE = 0.8
#: The prior variance is worth this many answers when blended with the period's.
PRIOR_WEIGHT = 30
#: Answers per invitation assumed before the rule has settled invitations, worth this many.
PRIOR_RESPONSE_RATE = 0.15
PRIOR_RESPONSE_WEIGHT = 20
RESPONSE_RATE_FLOOR = 0.02
#: An unanswered invitation younger than this may still be answered; older ones are given up.
RESPONSE_WINDOW = timedelta(days=3)
#: Ages at which the answer-delay curve is measured (the last is the window); pending invitations
#: are counted in buckets between them: [0, 3 h), [3 h, 12 h), [12 h, 24 h), [24 h, 48 h), [48 h, 72 h).
ANSWER_AGES = (timedelta(hours=3), timedelta(hours=12), timedelta(hours=24), timedelta(hours=48), RESPONSE_WINDOW)
#: The prior's share of answers given by each of those ages.
PRIOR_ANSWERED_BY = (0.35, 0.70, 0.85, 0.93, 0.97)
#: Settled invitations (older than the window) sent within this span measure the response rate.
RATE_LOOKBACK = timedelta(days=28)
#: The rule's answers over this span (at least one period) before the period give the prior variance.
HISTORY = timedelta(days=28)
#: Aim to send the budget in 1/PACE of the time left, so the last answers land in the period.
PACE = 1.5
#: Plan for a half-width this much narrower than the target (about 4% more answers): without it
#: the period ends at the target ±0.2 points, half the time just above it (simulation).
PLAN_MARGIN = 0.98
#: Pacing needs this much decision history; before, the rule invites at its ceiling.
MIN_PACING_WINDOW = timedelta(hours=1)
#: Periods are counted from this Monday, UTC: 7-day periods are ISO weeks.
PERIOD_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
PROMOTER, DETRACTOR = 9, 6
#: Decisions of events that passed conditions and throttles: what a fixed rate samples from.
ELIGIBLE_OUTCOMES = (
    DecisionOutcome.INVITED,
    DecisionOutcome.SAMPLED_OUT,
    DecisionOutcome.DAILY_CAP,
    DecisionOutcome.NO_CHANNEL,
    DecisionOutcome.PRECISION_REACHED,
    DecisionOutcome.PRECISION_PENDING,
)
_OPEN = (Invitation.Status.SCHEDULED, Invitation.Status.SENT, Invitation.Status.OPENED)
_NOT_CONTACTED = (Invitation.Status.SUPPRESSED, Invitation.Status.FAILED)


# --- Periods and the interval --------------------------------------------------------------


def period_bounds(moment: datetime, days: int) -> tuple[datetime, datetime]:
    """``[start, end)`` of the ``days``-long period holding ``moment`` (UTC, from :data:`PERIOD_ANCHOR`)."""
    length = timedelta(days=days)
    start = PERIOD_ANCHOR + length * ((moment - PERIOD_ANCHOR) // length)
    return start, start + length


@dataclass(frozen=True)
class NpsCounts:
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors

    def _adjusted(self) -> tuple[float, float, int]:
        adjusted_n = self.n + 3
        return (self.promoters + 0.75) / adjusted_n, (self.detractors + 0.75) / adjusted_n, adjusted_n

    def adjusted_variance(self) -> float:
        """``p + d − (p − d)²`` with ¾ added to promoters and detractors and 3 to n (never 0)."""
        p, d, _n = self._adjusted()
        return p + d - (p - d) ** 2

    def variance(self) -> float:
        """The plain per-answer variance (0 for n = 0)."""
        if not self.n:
            return 0.0
        p, d = self.promoters / self.n, self.detractors / self.n
        return p + d - (p - d) ** 2

    def value(self) -> float | None:
        return None if not self.n else 100 * (self.promoters - self.detractors) / self.n

    def half_width(self, z: float = Z) -> float | None:
        """The adjusted-Wald half-width in NPS points, as the reports compute it; none for n = 0."""
        if not self.n:
            return None
        _p, _d, adjusted_n = self._adjusted()
        return 100 * z * math.sqrt(self.adjusted_variance() / adjusted_n)

    def interval(self, z: float = Z) -> tuple[float, float] | None:
        """The reports' interval: adjusted centre ± half-width, clipped to ±100."""
        half = self.half_width(z)
        if half is None:
            return None
        p, d, _n = self._adjusted()
        centre = 100 * (p - d)
        return max(-100.0, centre - half), min(100.0, centre + half)


def answers_needed(variance: float, target_half_width: float, z: float = Z) -> int:
    """Answers for an adjusted-Wald half-width of ``target_half_width`` NPS points at ``variance``."""
    return max(MIN_ANSWERS, math.ceil((100 * z / target_half_width) ** 2 * variance - 3))


# --- The plan: pure ---------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodState:
    """What :func:`plan` needs to know about one rule at one moment (read by :func:`period_states`)."""

    current: NpsCounts
    history: NpsCounts
    #: Settled invitations (sent before the response window, within the lookback) that reached someone.
    settled_contacted: int
    #: Of those, how many have an NPS answer, and how many had one within each of :data:`ANSWER_AGES`.
    settled_answered: int
    settled_answered_within: tuple[int, ...]
    #: Unanswered open invitations younger than the window, by age bucket (see :data:`ANSWER_AGES`).
    pending: tuple[int, ...]
    #: Eligible decisions over the pacing window, and its length.
    eligible_recent: int
    pacing_seconds: float
    remaining_seconds: float

    def eligible_per_second(self) -> float | None:
        if self.pacing_seconds < MIN_PACING_WINDOW.total_seconds() or not self.eligible_recent:
            return None
        return self.eligible_recent / self.pacing_seconds


@dataclass(frozen=True)
class ResponseModel:
    """Who answers and when: the share of invitations answered, and the share of answers given by each age.

    Measured on the rule's settled invitations with a prior (:data:`PRIOR_RESPONSE_RATE`,
    :data:`PRIOR_ANSWERED_BY`); answers later than the window are treated as never in time.
    """

    rate: float
    #: Ages in seconds (0 first) and the share of answers given by each (0 first), piecewise linear between.
    ages: tuple[float, ...]
    answered_by: tuple[float, ...]

    def share_by(self, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        for index in range(1, len(self.ages)):
            if seconds < self.ages[index]:
                low, high = self.ages[index - 1], self.ages[index]
                before, after = self.answered_by[index - 1], self.answered_by[index]
                return before + (after - before) * (seconds - low) / (high - low)
        return self.answered_by[-1]

    def chance(self, age_seconds: float, horizon_seconds: float) -> float:
        """The chance an invitation unanswered at ``age_seconds`` is answered in the next ``horizon_seconds``."""
        given = self.rate * self.share_by(age_seconds)
        later = self.rate * (self.share_by(age_seconds + horizon_seconds) - self.share_by(age_seconds))
        return max(0.0, later / (1 - given)) if given < 1 else 0.0


def response_model(state: PeriodState) -> ResponseModel:
    prior_answers = PRIOR_RESPONSE_RATE * PRIOR_RESPONSE_WEIGHT
    answered = state.settled_answered
    contacted = max(state.settled_contacted, answered)
    rate = max(RESPONSE_RATE_FLOOR, (answered + prior_answers) / (contacted + PRIOR_RESPONSE_WEIGHT))
    shares = [0.0]
    for within, prior in zip(state.settled_answered_within, PRIOR_ANSWERED_BY, strict=True):
        shares.append(max(shares[-1], (min(within, answered) + prior_answers * prior) / (answered + prior_answers)))
    ages = (0.0, *(age.total_seconds() for age in ANSWER_AGES))
    return ResponseModel(rate, ages, tuple(shares))


@dataclass(frozen=True)
class Plan:
    is_reached: bool
    half_width: float | None
    answers_needed: int
    #: The share of invitations answered, and the answers expected in the period from pending ones.
    response_rate: float
    expected_from_pending: float
    #: Invitations still to make this period, and the sampling rate that spreads them.
    invitations_needed: int
    rate: float


#: "More than the period can use" (the chance of an answer in time is about 0 at its very end).
_UNBOUNDED = 10**9


def variance_estimate(current: NpsCounts, history: NpsCounts) -> float:
    """The period's adjusted variance blended with a prior worth :data:`PRIOR_WEIGHT` answers."""
    prior = history.variance() if history.n >= MIN_ANSWERS else PRIOR_VARIANCE
    if not current.n:
        return prior
    return (current.n * current.adjusted_variance() + PRIOR_WEIGHT * prior) / (current.n + PRIOR_WEIGHT)


def plan(state: PeriodState, *, target_half_width: float, ceiling: float) -> Plan:
    """How many more invitations this period needs, and at what rate to make them; see the module docstring."""
    half_width = state.current.half_width()
    if state.current.n >= MIN_ANSWERS and half_width is not None and half_width <= target_half_width:
        return Plan(True, half_width, state.current.n, 0.0, 0.0, 0, 0.0)
    variance = variance_estimate(state.current, state.history)
    needed = max(answers_needed(variance, target_half_width * PLAN_MARGIN), state.current.n + 1)
    model = response_model(state)
    horizon = max(0.0, state.remaining_seconds)
    edges = (0.0, *model.ages[1:-1])
    expected = sum(count * model.chance(age, horizon) for count, age in zip(state.pending, edges, strict=True))
    missing = needed - state.current.n - expected
    in_time = model.chance(0.0, horizon)  # a new invitation's chance of an answer inside the period
    if missing <= 0:
        budget = 0
    else:
        budget = min(_UNBOUNDED, math.ceil(missing / in_time - 1e-9)) if in_time > 1e-9 else _UNBOUNDED
    per_second = state.eligible_per_second()
    if not budget:
        rate = 0.0
    elif per_second is None or per_second * horizon <= budget:
        rate = ceiling
    else:
        rate = min(ceiling, PACE * budget / (per_second * horizon))
    return Plan(False, half_width, needed, model.rate, expected, budget, rate)


@dataclass
class Budget:
    """One precision rule's plan for one batch, spent as the engine invites."""

    plan: Plan
    left: int = field(init=False)

    def __post_init__(self) -> None:
        self.left = self.plan.invitations_needed

    def outcome(self, point: float) -> DecisionOutcome | None:
        """The outcome that stops this event at the sampling step, or ``None`` when it may be invited."""
        if self.plan.is_reached:
            return DecisionOutcome.PRECISION_REACHED
        if self.left <= 0:
            return DecisionOutcome.PRECISION_PENDING
        if point >= self.plan.rate:
            return DecisionOutcome.SAMPLED_OUT
        return None

    def spend(self) -> None:
        self.left -= 1


# --- Reads ------------------------------------------------------------------------------


def first_nps_question() -> Subquery:
    """For annotating rules: the id of the survey's first non-archived NPS question (what precision measures)."""
    return Subquery(
        Question.objects.filter(survey_id=OuterRef("survey_id"), type=Question.Type.NPS, is_archived=False)
        .order_by("order")
        .values("pk")[:1]
    )


def nps_question_ids(rules: Sequence[TriggerRule]) -> dict[int, int]:
    """``{rule_id: question_id}`` from the ``nps_question_id`` annotation, or one query for rules without it."""
    found: dict[int, int] = {}
    missing: list[TriggerRule] = []
    for rule in rules:
        if hasattr(rule, "nps_question_id"):
            if rule.nps_question_id:
                found[rule.pk] = rule.nps_question_id
        else:
            missing.append(rule)
    if missing:
        first: dict[int, int] = {}
        rows = (
            Question.objects.filter(
                survey_id__in={rule.survey_id for rule in missing}, type=Question.Type.NPS, is_archived=False
            )
            .order_by("survey_id", "-order")
            .values_list("survey_id", "pk")
        )
        for survey_id, question_id in rows:
            first[survey_id] = question_id  # the last written is the lowest order
        found.update({rule.pk: first[rule.survey_id] for rule in missing if rule.survey_id in first})
    return found


def _bucket(prefix: str) -> dict[str, Q]:
    return {
        f"{prefix}_promoters": Q(number__gte=PROMOTER),
        f"{prefix}_passives": Q(number__gt=DETRACTOR, number__lt=PROMOTER),
        f"{prefix}_detractors": Q(number__lte=DETRACTOR),
    }


def _counts(row: Mapping[str, int], prefix: str) -> NpsCounts:
    return NpsCounts(row[f"{prefix}_promoters"], row[f"{prefix}_passives"], row[f"{prefix}_detractors"])


def _by_rule(rows: Iterable[Any], key: str) -> dict[int, dict[str, int]]:
    """Grouped ``values()`` rows by their rule id."""
    return {int(row[key]): dict(row) for row in rows}


def _history_span(rule: TriggerRule) -> timedelta:
    return max(HISTORY, timedelta(days=rule.precision_period_days))


def period_states(rules: Iterable[TriggerRule], now: datetime) -> dict[int, PeriodState]:
    """Every precision rule's :class:`PeriodState` at ``now``, in three queries (none without such rules).

    Rules without an NPS question get none (the engine then samples them at their fixed rate).
    """
    chosen = [rule for rule in rules if rule.sampling_mode == SamplingMode.PRECISION]
    questions = nps_question_ids(chosen)
    chosen = [rule for rule in chosen if rule.pk in questions]
    if not chosen:
        return {}
    settled_from, settled_until = now - RESPONSE_WINDOW - RATE_LOOKBACK, now - RESPONSE_WINDOW
    bounds = {rule.pk: period_bounds(now, rule.precision_period_days) for rule in chosen}

    # 1. Answers: this period's and the history's by score bucket, and the settled invitations' answers.
    scope, current, history = Q(), Q(), Q()
    for rule in chosen:
        start = bounds[rule.pk][0]
        mine = Q(response__invitation__rule_id=rule.pk, question_id=questions[rule.pk])
        scope |= mine & Q(created_at__gte=min(start - _history_span(rule), settled_from))
        current |= mine & Q(created_at__gte=start)
        history |= mine & Q(created_at__gte=start - _history_span(rule), created_at__lt=start)
    settled = Q(response__invitation__send_at__gte=settled_from, response__invitation__send_at__lt=settled_until)
    send_at = F("response__invitation__send_at")
    aggregates = {
        **{name: Count("pk", filter=current & q) for name, q in _bucket("current").items()},
        **{name: Count("pk", filter=history & q) for name, q in _bucket("history").items()},
        "settled": Count("pk", filter=settled),
        **{
            f"settled_within_{index}": Count("pk", filter=settled & Q(created_at__lt=send_at + age))
            for index, age in enumerate(ANSWER_AGES)
        },
    }
    answers = _by_rule(
        Answer.objects.filter(
            scope,
            workspace_id__in={rule.workspace_id for rule in chosen},
            number__isnull=False,
            created_at__lt=now,
        )
        .values("response__invitation__rule_id")
        .annotate(**aggregates)
        .order_by(),
        "response__invitation__rule_id",
    )

    # 2. Invitations: settled ones that reached someone, and pending ones by age.
    ages = [timedelta(0), *ANSWER_AGES]
    pending = Q(status__in=_OPEN, response__isnull=True)
    invitation_aggregates = {
        "contacted": Count("pk", filter=Q(send_at__lt=settled_until) & ~Q(status__in=_NOT_CONTACTED)),
        **{
            f"pending_{index}": Count(
                "pk",
                filter=pending
                & Q(send_at__gt=now - ages[index + 1])
                & (Q(send_at__lte=now - ages[index]) if index else Q()),
            )
            for index in range(len(ANSWER_AGES))
        },
    }
    invitations = _by_rule(
        Invitation.objects.filter(rule_id__in=[rule.pk for rule in chosen], send_at__gte=settled_from)
        .values("rule_id")
        .annotate(**invitation_aggregates)
        .order_by(),
        "rule_id",
    )

    # 3. Eligible decisions over the pacing window: the eligible events to expect.
    windows = {
        rule.pk: min(now, max(rule.created_at, now - timedelta(days=rule.precision_period_days))) for rule in chosen
    }
    recent = Q()
    for rule in chosen:
        recent |= Q(rule_id=rule.pk, decided_at__gte=windows[rule.pk])
    eligible = dict(
        TriggerDecision.objects.filter(recent, decided_at__lt=now, outcome__in=ELIGIBLE_OUTCOMES)
        .values("rule_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("rule_id", "n")
    )

    states = {}
    zero_answers = dict.fromkeys(aggregates, 0)
    zero_invitations = dict.fromkeys(invitation_aggregates, 0)
    for rule in chosen:
        row = answers.get(rule.pk, zero_answers)
        invited = invitations.get(rule.pk, zero_invitations)
        states[rule.pk] = PeriodState(
            current=_counts(row, "current"),
            history=_counts(row, "history"),
            settled_contacted=invited["contacted"],
            settled_answered=row["settled"],
            settled_answered_within=tuple(row[f"settled_within_{i}"] for i in range(len(ANSWER_AGES))),
            pending=tuple(invited[f"pending_{i}"] for i in range(len(ANSWER_AGES))),
            eligible_recent=eligible.get(rule.pk, 0),
            pacing_seconds=(now - windows[rule.pk]).total_seconds(),
            remaining_seconds=(bounds[rule.pk][1] - now).total_seconds(),
        )
    return states


def budgets_for(rules: Iterable[TriggerRule], now: datetime) -> dict[int, Budget]:
    """The engine's per-batch budgets of the precision rules among ``rules`` (see :func:`period_states`)."""
    by_id = {rule.pk: rule for rule in rules}
    return {
        rule_id: Budget(
            plan(
                state,
                target_half_width=by_id[rule_id].target_half_width or 0.0,
                ceiling=by_id[rule_id].sampling_rate,
            )
        )
        for rule_id, state in period_states(by_id.values(), now).items()
    }


# --- Savings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionReport:
    """One precision rule's current period: the interval reached and the invitations it saved."""

    rule_id: int
    period_start: datetime
    period_end: datetime
    target_half_width: float
    answers: int
    nps: float | None
    half_width: float | None
    is_reached: bool
    invited: int
    eligible: int
    fixed_rate: float
    #: ``fixed_rate × eligible``, rounded: what the rule would have invited at its fixed rate.
    fixed_rate_invitations: int
    #: ``fixed_rate_invitations − invited``; negative when precision mode invited more.
    saved: int
    saved_percent: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "period_start": self.period_start,
            "period_end": self.period_end,
            "target_half_width": self.target_half_width,
            "answers": self.answers,
            "nps": None if self.nps is None else round(self.nps, 1),
            "half_width": None if self.half_width is None else round(self.half_width, 2),
            "is_reached": self.is_reached,
            "invited": self.invited,
            "eligible": self.eligible,
            "fixed_rate": self.fixed_rate,
            "fixed_rate_invitations": self.fixed_rate_invitations,
            "saved": self.saved,
            "saved_percent": None if self.saved_percent is None else round(self.saved_percent, 1),
        }


def precision_reports(*, rules: Iterable[TriggerRule], at: datetime | None = None) -> dict[int, PrecisionReport]:
    """``{rule_id: report}`` for the precision rules among ``rules``, for the period holding ``at`` (now).

    Counts run to ``at``; two queries for any number of rules (none without precision rules).
    The rules are the caller's, already scoped to a workspace.
    """
    at = at or timezone.now()
    chosen = [rule for rule in rules if rule.sampling_mode == SamplingMode.PRECISION]
    if not chosen:
        return {}
    questions = nps_question_ids(chosen)
    bounds = {rule.pk: period_bounds(at, rule.precision_period_days) for rule in chosen}
    answer_scope, decision_scope = Q(), Q()
    for rule in chosen:
        start = bounds[rule.pk][0]
        if rule.pk in questions:
            answer_scope |= Q(
                response__invitation__rule_id=rule.pk, question_id=questions[rule.pk], created_at__gte=start
            )
        decision_scope |= Q(rule_id=rule.pk, decided_at__gte=start)
    answers: dict[int, dict[str, int]] = {}
    if questions:
        answers = _by_rule(
            Answer.objects.filter(answer_scope, number__isnull=False, created_at__lt=at)
            .values("response__invitation__rule_id")
            .annotate(**{name: Count("pk", filter=q) for name, q in _bucket("current").items()})
            .order_by(),
            "response__invitation__rule_id",
        )
    outcomes: dict[int, dict[str, int]] = {}
    for rule_id, outcome, n in (
        TriggerDecision.objects.filter(decision_scope, decided_at__lt=at)
        .values("rule_id", "outcome")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("rule_id", "outcome", "n")
    ):
        outcomes.setdefault(rule_id, {})[outcome] = n
    reports = {}
    for rule in chosen:
        counts = _counts(answers[rule.pk], "current") if rule.pk in answers else NpsCounts()
        decided = outcomes.get(rule.pk, {})
        eligible = sum(decided.get(outcome, 0) for outcome in ELIGIBLE_OUTCOMES)
        invited = decided.get(DecisionOutcome.INVITED, 0)
        fixed = round(rule.sampling_rate * eligible)
        half_width = counts.half_width()
        target = rule.target_half_width or 0.0
        reports[rule.pk] = PrecisionReport(
            rule_id=rule.pk,
            period_start=bounds[rule.pk][0],
            period_end=bounds[rule.pk][1],
            target_half_width=target,
            answers=counts.n,
            nps=counts.value(),
            half_width=half_width,
            is_reached=counts.n >= MIN_ANSWERS and half_width is not None and half_width <= target,
            invited=invited,
            eligible=eligible,
            fixed_rate=rule.sampling_rate,
            fixed_rate_invitations=fixed,
            saved=fixed - invited,
            saved_percent=100 * (fixed - invited) / fixed if fixed else None,
        )
    return reports


# --- Simulation (pure numpy; bench/bench_adaptive_sampling.py and the tests) ------------------------

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scenario:
    """One touchpoint's stream: eligible events per period, who answers, how, and when."""

    events_per_period: float = 5000
    response_rate: float = 0.20
    #: Promoters, passives, detractors: 45/30/25 is NPS 20 (variance 0.66).
    composition: tuple[float, float, float] = (0.45, 0.30, 0.25)
    periods: int = 12
    period_days: int = 7
    target_half_width: float = 10.0
    #: The precision rule's ``sampling_rate``: its ceiling, and the fixed rate it is compared with.
    ceiling: float = 0.30
    #: The engine evaluates a batch this often (each ingest request wakes it; an hour is coarse).
    batch_minutes: int = 60
    #: Delay of an answer after the invitation: exponential with this mean; never after ``expiry_days``.
    answer_delay_hours: float = 12.0
    expiry_days: int = 7
    #: Per-period variation: volume × lognormal (mean 1, this sd of the log), response rate ± this.
    volume_sd: float = 0.0
    response_rate_spread: float = 0.0

    @property
    def true_nps(self) -> float:
        return 100 * (self.composition[0] - self.composition[2])


@dataclass(frozen=True)
class Stream:
    """The eligible events of a simulated run, with each customer's would-be answer (common random numbers)."""

    scenario: Scenario
    #: Decision time of each event (its batch), in seconds from the start; sorted.
    decided_at: Floats
    #: The deterministic sampling point, the answer delay in seconds (``inf``: never answers), the score bucket.
    point: Floats
    delay: Floats
    bucket: npt.NDArray[np.int64]

    @property
    def period_seconds(self) -> float:
        return self.scenario.period_days * 86400.0


@dataclass(frozen=True)
class PeriodTotals:
    """Per simulated period: invitations made, answers (by bucket), interval."""

    invitations: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]  # (periods, 3)
    eligible: npt.NDArray[np.int64]

    def half_widths(self) -> Floats:
        return np.array([NpsCounts(*map(int, row)).half_width() or math.inf for row in self.counts])

    def covered(self, true_nps: float) -> npt.NDArray[np.bool_]:
        result = []
        for row in self.counts:
            interval = NpsCounts(*map(int, row)).interval()
            result.append(interval is not None and interval[0] <= true_nps <= interval[1])
        return np.array(result)


def simulate_stream(scenario: Scenario, rng: np.random.Generator) -> Stream:
    """Events uniform over each period (Poisson count), each with its sampling point, answer and delay."""
    period = scenario.period_days * 86400.0
    batch = scenario.batch_minutes * 60.0
    times, rates = [], []
    for index in range(scenario.periods):
        factor = math.exp(rng.normal(0, scenario.volume_sd) - scenario.volume_sd**2 / 2) if scenario.volume_sd else 1
        count = int(rng.poisson(scenario.events_per_period * factor))
        times.append(np.sort(rng.uniform(index * period, (index + 1) * period, count)))
        spread = scenario.response_rate_spread
        rates.append(np.full(count, scenario.response_rate + (rng.uniform(-spread, spread) if spread else 0.0)))
    occurred = np.concatenate(times)
    response = np.concatenate(rates)
    decided = np.ceil(occurred / batch) * batch  # evaluated at the end of its batch
    answers = rng.random(occurred.size) < response
    delay = rng.exponential(scenario.answer_delay_hours * 3600, occurred.size)
    delay[~answers | (delay > scenario.expiry_days * 86400)] = np.inf
    bucket = rng.choice(3, size=occurred.size, p=np.array(scenario.composition) / sum(scenario.composition))
    return Stream(scenario, decided, rng.random(occurred.size), delay, bucket.astype(np.int64))


def _totals(stream: Stream, invited: npt.NDArray[np.bool_]) -> PeriodTotals:
    periods, length = stream.scenario.periods, stream.period_seconds
    answered_at = stream.decided_at[invited] + stream.delay[invited]
    period_of_answer = np.floor(answered_at / length)
    counts = np.zeros((periods, 3), dtype=np.int64)
    keep = np.isfinite(answered_at) & (period_of_answer < periods)
    np.add.at(counts, (period_of_answer[keep].astype(np.int64), stream.bucket[invited][keep]), 1)
    period_of_decision = np.minimum(np.floor(stream.decided_at / length).astype(np.int64), periods - 1)
    invitations = np.bincount(period_of_decision[invited], minlength=periods)
    eligible = np.bincount(period_of_decision, minlength=periods)
    return PeriodTotals(invitations.astype(np.int64), counts, eligible.astype(np.int64))


def simulate_fixed(stream: Stream, rate: float) -> PeriodTotals:
    """A fixed rate on the same stream: every event whose point is below ``rate``."""
    return _totals(stream, stream.point < rate)


def _answers_between(
    sends: Floats, answers: Floats, buckets: npt.NDArray[np.int64], low: float, high: float, expiry: float
) -> NpsCounts:
    """Answers given in ``[low, high)`` by score bucket; ``sends`` is sorted and no answer comes after ``expiry``."""
    first = int(np.searchsorted(sends, low - expiry))
    mask = (answers[first:] >= low) & (answers[first:] < high)
    counts = np.bincount(buckets[first:][mask], minlength=3)
    return NpsCounts(int(counts[0]), int(counts[1]), int(counts[2]))


def simulate_precision(stream: Stream) -> PeriodTotals:
    """Precision mode on the same stream, batch by batch, through the engine's :func:`plan`.

    The state of each batch is what :func:`period_states` would read from the database at that
    moment: answers that have arrived, settled and pending invitations, eligible decisions.
    """
    scenario = stream.scenario
    length = stream.period_seconds
    window, lookback = RESPONSE_WINDOW.total_seconds(), RATE_LOOKBACK.total_seconds()
    history_span = max(HISTORY.total_seconds(), length)
    expiry = scenario.expiry_days * 86400.0
    ages = [0.0, *(age.total_seconds() for age in ANSWER_AGES)]
    decided = stream.decided_at
    invited = np.zeros(decided.size, dtype=bool)
    sent = np.empty(decided.size)  # send time of each invitation, in order
    answered_at = np.empty(decided.size)
    bucket = np.empty(decided.size, dtype=np.int64)
    made = 0
    history_cache: dict[int, NpsCounts] = {}
    batch_times, first_index = np.unique(decided, return_index=True)
    bounds = [*first_index.tolist(), decided.size]
    for batch, now in enumerate(batch_times.tolist()):
        index = int(now // length)  # the period holding ``now``, as the engine's
        start, end = index * length, (index + 1) * length
        sends, answers, buckets = sent[:made], answered_at[:made], bucket[:made]
        if index not in history_cache:
            history_cache[index] = _answers_between(sends, answers, buckets, start - history_span, start, expiry)
        low, high = np.searchsorted(sends, [now - window - lookback, now - window])
        settled_answers = answers[low:high]
        settled_delays = settled_answers - sends[low:high]
        recent = int(np.searchsorted(sends, now - window, side="right"))
        young_sends, young_answers = sends[recent:], answers[recent:]
        unanswered = young_answers >= now
        pending = tuple(
            int(np.count_nonzero(unanswered & (young_sends > now - ages[i + 1]) & (young_sends <= now - ages[i])))
            for i in range(len(ANSWER_AGES))
        )
        pacing_from = max(0.0, now - length)
        eligible_recent = int(np.searchsorted(decided, now, side="left") - np.searchsorted(decided, pacing_from))
        state = PeriodState(
            current=_answers_between(sends, answers, buckets, start, now, expiry),
            history=history_cache[index],
            settled_contacted=int(high - low),
            settled_answered=int(np.count_nonzero(settled_answers < now)),
            settled_answered_within=tuple(int(np.count_nonzero(settled_delays < age)) for age in ages[1:]),
            pending=pending,
            eligible_recent=eligible_recent,
            pacing_seconds=now - pacing_from,
            remaining_seconds=end - now,
        )
        decision = plan(state, target_half_width=scenario.target_half_width, ceiling=scenario.ceiling)
        if decision.is_reached or not decision.invitations_needed:
            continue
        low_event, high_event = bounds[batch], bounds[batch + 1]
        chosen = low_event + np.flatnonzero(stream.point[low_event:high_event] < decision.rate)
        chosen = chosen[: decision.invitations_needed]
        invited[chosen] = True
        count = chosen.size
        sent[made : made + count] = now
        answered_at[made : made + count] = now + stream.delay[chosen]
        bucket[made : made + count] = stream.bucket[chosen]
        made += count
    return _totals(stream, invited)
