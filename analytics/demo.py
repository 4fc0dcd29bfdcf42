"""Ninety days of history for the demo workspace, so its first report has real scores and flags.

:func:`demo_seed_history` walks simulated customers through the demo journey
(:mod:`touchpoints.demo`) and writes what they left behind: touchpoint events,
invitations to the demo surveys (:mod:`surveys.demo`, on the channels of the demo
rules), responses and answers, open-text comments in en, ru, pl and hu. Then it
rebuilds the workspace's rollups, so reports are fast from the first page.

The story the first report tells (default period, the last 90 days):

* **Purchase is clearly worse**: its NPS is about 25 points below the rest of the
  journey (about 3 against 28-30, on some 900 answers), because of Checkout (NPS
  about -20: too many fields, failed payments, hidden costs). Both are flagged
  ``below_journey``; the order confirmation email beside it is not.
* **Delivery is declining**: its NPS holds at 45 until eight weeks ago and then
  falls to 5 (late couriers, damaged parcels), on about 70 answers a week. The
  report's weekly trends are per stage, and Delivery is the only touchpoint of
  Post-purchase asked the NPS question, so the Post-purchase stage is flagged
  ``declining`` (now and then ``detractor_spike`` for its last week too), while
  its 90-day NPS (about 30) stays in line with the rest.
* The other stages sit at NPS 25-35. Customers continue to the next stage three
  times in four, except after Intent (cart abandonment: 40% leave) and after
  Purchase (paid orders are delivered), so Intent is flagged ``drop_off``.
* Detractors write about their stage's trouble in their language (checkout and
  payment words at Purchase, the courier at Post-purchase), so the stages' key
  terms find those words in en, ru, pl and hu.

**Deterministic.** Everything is drawn from ``random.Random(seed)`` at offsets
from midnight UTC of the period's first day; only what would happen after ``now``
is cut. The flags above hold for any weekday and time of day (and for other
seeds, checked by hand). **Idempotent.** History customers have external ids
starting with :data:`HISTORY_PREFIX`; when one exists, nothing is written.
**Fast.** About 80,000 rows for the default 90 days, written by :func:`_insert`
(``executemany``, a few seconds on SQLite, where ``bulk_create`` took four times
as long), with their simulated creation times. Like the test factories, and
unlike the rest of the application, this demo-only code writes the touchpoints
and surveys tables directly: no service takes history in bulk, and its events
must never reach the trigger engine (they are stored as evaluated) nor its
invitations the dispatcher (only invitations already sent are written).
"""

from __future__ import annotations

import functools
import logging
import random
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import DateTimeField, Field, JSONField, Model
from django.utils import timezone

from analytics.rollups import rollups_rebuild
from surveys.demo import DEMO_SURVEYS
from surveys.invitations import new_token
from surveys.models import Answer, Invitation, Question, Response, Survey, TriggerRule
from surveys.triggers import after_quiet_hours
from touchpoints.demo import DEMO_JOURNEY, PERSONAS
from touchpoints.models import Customer, Journey, Touchpoint, TouchpointEvent, TouchpointEventName, Workspace

logger = logging.getLogger(__name__)

#: External ids of history customers start with this: their presence means "history is there".
HISTORY_PREFIX = "demo-history-"
DEFAULT_DAYS = 90
DEFAULT_SEED = 20261206
#: New customers a day (each enters the journey at its first stage).
CUSTOMERS_PER_DAY = 100

_NPS, _CSAT, _CES = (name for _template, name in DEMO_SURVEYS)


@dataclass(frozen=True)
class TouchpointPlan:
    """How a touchpoint behaves: the chance that a customer in its stage fires it, and its survey.

    ``invite_share`` of its events lead to an invitation to ``survey``, answered
    ``answer_rate`` of the time. ``channel`` is used when no demo rule links the
    survey and the touchpoint (the rule's channel wins). ``nps`` and ``topic``
    override the stage's.
    """

    name: str
    chance: float
    survey: str | None = None
    invite_share: float = 0.0
    answer_rate: float = 0.35
    channel: str = Invitation.Channel.EMAIL
    nps: float | None = None
    topic: str | None = None


@dataclass(frozen=True)
class StagePlan:
    order: int
    touchpoints: tuple[TouchpointPlan, ...]
    #: NPS (points) of the stage's touchpoints over the period.
    nps: float
    #: Comment topic of the stage's detractors (see :data:`COMMENTS`).
    topic: str = "general"
    #: Chance that a customer who reached the stage reaches the next one.
    continues: float = 0.75
    #: Hours from the previous stage's last event to this stage's first.
    gap_hours: tuple[float, float] = (0.5, 36.0)


def _nps(name: str, chance: float, share: float, rate: float = 0.35, **overrides: Any) -> TouchpointPlan:
    return TouchpointPlan(name, chance, _NPS, share, rate, **overrides)


#: The demo journey (stage order -> plan). Touchpoints are those of :data:`touchpoints.demo.TOUCHPOINTS`.
STAGES: tuple[StagePlan, ...] = (
    StagePlan(1, (_nps("Social media ad", 0.6, 0.16), _nps("Search result", 0.6, 0.16)), nps=30),
    StagePlan(2, (_nps("Product comparison", 0.6, 0.22), _nps("Customer reviews", 0.6, 0.22)), nps=27),
    StagePlan(3, (_nps("Product page", 0.95, 0.3), _nps("Newsletter sign-up", 0.2, 0.3)), nps=32),
    StagePlan(4, (_nps("Add to cart", 0.95, 0.4), _nps("Pre-sale chat", 0.2, 0.4)), nps=28, continues=0.6),
    StagePlan(
        5,
        (_nps("Checkout", 1.0, 0.6, nps=-20, topic="purchase"), _nps("Order confirmation email", 1.0, 0.6)),
        nps=26,
        continues=0.95,
        gap_hours=(0.05, 2.0),
    ),
    StagePlan(
        6,
        (
            _nps("Delivery", 1.0, 1.0, rate=0.45),
            TouchpointPlan("Support call", 0.15, _CSAT, 1.0, 0.4, Invitation.Channel.LINK),
            TouchpointPlan("App onboarding", 0.35, _CES, 0.5, 0.4, Invitation.Channel.EMBEDDED),
        ),
        nps=30,  # Delivery overrides it over time, see DECLINE
        topic="delivery",
        gap_hours=(18.0, 72.0),
    ),
    StagePlan(7, (_nps("Repeat order", 1.0, 0.9),), nps=34, gap_hours=(48.0, 120.0)),
    StagePlan(8, (_nps("Review request", 0.8, 0.9), _nps("Referral programme", 0.35, 0.9)), nps=31),
    StagePlan(9, (_nps("Loyalty renewal", 1.0, 1.0),), nps=26, continues=0.0),
)


@dataclass(frozen=True)
class Decline:
    """A touchpoint whose NPS holds at ``start`` until ``days`` days ago, then falls linearly to ``end`` now."""

    touchpoint: str
    start: float
    end: float
    days: float

    def nps(self, days_ago: float) -> float:
        if days_ago >= self.days:
            return self.start
        return self.end + (self.start - self.end) * max(days_ago, 0.0) / self.days


DECLINE = Decline("Delivery", start=45.0, end=5.0, days=56.0)
#: Shares of customers by language; invitations and comments use the customer's language.
LANGUAGES = (
    ("en", 0.34, "Europe/London"),
    ("ru", 0.22, "Europe/Moscow"),
    ("pl", 0.22, "Europe/Warsaw"),
    ("hu", 0.22, "Europe/Budapest"),
)
#: Persona trait shares (the demo personas, and customers without one).
PERSONA_SHARES = ((str(PERSONAS[0]["name"]), 0.4), (str(PERSONAS[1]["name"]), 0.3), (str(PERSONAS[2]["name"]), 0.15))
#: Passives' share of NPS answers; promoters and detractors split the rest to give the NPS.
PASSIVES = 0.30
#: Chance of an open-text comment by NPS group; CSAT and CES ask only low scorers, who mostly answer.
COMMENT_CHANCE = {"detractor": 0.9, "passive": 0.35, "promoter": 0.45, "low": 0.8}
CSAT_SHARES = (0.06, 0.08, 0.16, 0.38, 0.32)  # 1..5: 70% satisfied
CES_SHARES = (0.03, 0.04, 0.06, 0.10, 0.20, 0.30, 0.27)  # 1..7: mean 5.4, above the effort threshold
#: Minutes from the event to the invitation when no rule says.
DEFAULT_DELAY_MINUTES = 30
#: Rows per ``executemany``.
INSERT_BATCH = 5000

#: Comments by (topic, group) and language; one or two sentences are picked per comment.
COMMENTS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("purchase", "detractor"): {  # the complaint words recur, so the stage's key terms find them
        "en": (
            "Checkout asked for far too many fields.",
            "The payment failed twice at checkout.",
            "Hidden delivery costs appeared only at checkout.",
            "Card payment kept failing, I nearly gave up.",
            "Why do I need an account just to pay at checkout?",
        ),
        "ru": (
            "Слишком много полей при оплате.",
            "Оплата дважды не прошла.",
            "Скрытая стоимость доставки появилась только при оплате.",
            "Оплата картой не проходила, я почти сдался.",
            "Зачем регистрация, чтобы просто пройти оплату?",
        ),
        "pl": (
            "Za dużo pól przy płatności.",
            "Płatność dwa razy się nie udała.",
            "Ukryte koszty dostawy pojawiły się dopiero przy płatności.",
            "Płatność BLIK nie działała, prawie zrezygnowałem.",
            "Po co zakładać konto, żeby dokonać płatności?",
        ),
        "hu": (
            "Túl sok mezőt kellett kitölteni a fizetésnél.",
            "A fizetés kétszer is sikertelen volt.",
            "A rejtett szállítási költség csak a fizetésnél derült ki.",
            "A kártyás fizetés nem működött, majdnem feladtam.",
            "Miért kell regisztrálni egy fizetéshez?",
        ),
    },
    ("delivery", "detractor"): {
        "en": (
            "The courier was three days late.",
            "The courier left my parcel damaged at the door.",
            "The courier was late and nobody told me.",
            "The courier never rang, the parcel went back to the depot.",
            "Late courier again, and the tracking was wrong.",
        ),
        "ru": (
            "Курьер опоздал на три дня.",
            "Курьер привёз посылку повреждённой.",
            "Курьер опоздал, и никто не предупредил.",
            "Курьер не позвонил, посылку вернули на склад.",
            "Опять курьер опоздал, а отслеживание показывало неправду.",
        ),
        "pl": (
            "Kurier spóźnił się trzy dni.",
            "Paczka od kuriera przyszła uszkodzona.",
            "Kurier się spóźnił i nikt mnie nie poinformował.",
            "Kurier nie zadzwonił, paczka wróciła do magazynu.",
            "Znowu spóźniony kurier, a śledzenie przesyłki nie działało.",
        ),
        "hu": (
            "A futár három napot késett.",
            "A futár sérült csomagot hozott.",
            "A futár késett, és senki nem szólt.",
            "A futár nem csengetett, a csomag visszament a raktárba.",
            "Megint késett a futár, és a nyomkövetés is hibás volt.",
        ),
    },
    ("general", "detractor"): {
        "en": (
            "Prices are higher than elsewhere.",
            "The website is slow on my phone.",
            "Hard to find the right size.",
            "Too many emails afterwards.",
        ),
        "ru": (
            "Цены выше, чем в других магазинах.",
            "Сайт медленно работает на телефоне.",
            "Трудно подобрать нужный размер.",
            "Потом слишком много писем.",
        ),
        "pl": (
            "Ceny są wyższe niż gdzie indziej.",
            "Strona działa wolno na telefonie.",
            "Trudno znaleźć właściwy rozmiar.",
            "Potem za dużo maili.",
        ),
        "hu": (
            "Az árak magasabbak, mint máshol.",
            "A weboldal lassú a telefonomon.",
            "Nehéz megtalálni a megfelelő méretet.",
            "Utána túl sok e-mailt kaptam.",
        ),
    },
    ("any", "passive"): {
        "en": ("It was fine.", "Okay, nothing special.", "Good, but it could be faster."),
        "ru": ("В целом нормально.", "Неплохо, ничего особенного.", "Хорошо, но можно быстрее."),
        "pl": ("Było w porządku.", "Może być, nic specjalnego.", "Dobrze, ale mogłoby być szybciej."),
        "hu": ("Rendben volt.", "Elfogadható, semmi különös.", "Jó, de lehetne gyorsabb."),
    },
    ("any", "promoter"): {
        "en": (
            "Great prices and friendly service.",
            "Easy to find what I needed.",
            "Everything was quick and simple.",
            "Lovely shop, I will be back.",
        ),
        "ru": (
            "Отличные цены и приветливый сервис.",
            "Легко нашёл то, что нужно.",
            "Всё быстро и просто.",
            "Прекрасный магазин, вернусь ещё.",
        ),
        "pl": (
            "Świetne ceny i miła obsługa.",
            "Łatwo znalazłem to, czego szukałem.",
            "Wszystko szybko i prosto.",
            "Super sklep, jeszcze tu wrócę.",
        ),
        "hu": (
            "Remek árak és kedves kiszolgálás.",
            "Könnyen megtaláltam, amit kerestem.",
            "Minden gyors és egyszerű volt.",
            "Nagyon jó bolt, még visszajövök.",
        ),
    },
    ("support", "low"): {
        "en": ("I waited forty minutes on hold.", "The agent could not answer my question."),
        "ru": ("Я ждал на линии сорок минут.", "Оператор не смог ответить на мой вопрос."),
        "pl": ("Czekałem na połączenie czterdzieści minut.", "Konsultant nie umiał odpowiedzieć na pytanie."),
        "hu": ("Negyven percet vártam a vonalban.", "Az ügyintéző nem tudott válaszolni a kérdésemre."),
    },
    ("onboarding", "low"): {
        "en": ("The app kept logging me out.", "I could not find my order in the app."),
        "ru": ("Приложение постоянно меня разлогинивало.", "Не смог найти свой заказ в приложении."),
        "pl": ("Aplikacja ciągle mnie wylogowywała.", "Nie mogłem znaleźć zamówienia w aplikacji."),
        "hu": ("Az alkalmazás folyton kiléptetett.", "Nem találtam a rendelésemet az alkalmazásban."),
    },
}


@dataclass
class HistorySummary:
    """What :func:`demo_seed_history` wrote (all zero when history was there already, ``created`` false)."""

    created: bool
    days: int = 0
    customers: int = 0
    events: int = 0
    invitations: int = 0
    responses: int = 0
    answers: int = 0
    rollup_days: int = 0


# --- The plan: pure Python, seeded -------------------------------------------------------------


@dataclass
class _Customer:
    external_id: str
    language: str
    zone: str
    persona: str | None
    #: ``(touchpoint name, occurred_at)`` in time order.
    events: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass(frozen=True)
class _Event:
    customer: _Customer
    touchpoint: str
    message_id: str
    occurred_at: datetime


@dataclass
class _Invitation:
    event: _Event
    survey: str
    channel: str
    token: str
    sent_at: datetime
    expires_at: datetime
    status: str
    answered_at: datetime | None = None
    #: Answers by question type (``nps``, ``csat``, ``ces``: a score; ``text``: a comment).
    answers: dict[str, int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Surveying:
    """A touchpoint's survey as the demo set it up: channel, delay and quiet hours (from its rule, if any)."""

    kind: str
    channel: str
    delay_minutes: int
    expiry_days: int
    quiet_hours: tuple[time | None, time | None] = (None, None)


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str | None:
    """A value of ``(value, weight)`` pairs; ``None`` for the weight left to 1."""
    point = rng.random()
    for value, weight in weighted:
        if point < weight:
            return value
        point -= weight
    return None


def _walk(rng: random.Random, customer: _Customer, start: datetime, now: datetime) -> None:
    """The customer's events through the stages until they drop off; those after ``now`` are left out.

    The whole walk is drawn whatever ``now`` is: the customer's stream (and the
    answers of each event, drawn from a stream per event) depends on the day only,
    not on the hour the demo is seeded.
    """
    moment = start
    for position, stage in enumerate(STAGES):
        if position:
            moment += timedelta(hours=rng.uniform(*stage.gap_hours))
        fired = [plan for plan in stage.touchpoints if rng.random() < plan.chance] or [stage.touchpoints[0]]
        for index, plan in enumerate(fired):
            if index:
                moment += timedelta(minutes=rng.uniform(1.0, 40.0))
            if moment <= now:
                customer.events.append((plan.name, moment))
        if rng.random() >= stage.continues:
            return


def _nps_score(rng: random.Random, nps: float) -> int:
    target = nps / 100.0
    promoters = (1 - PASSIVES + target) / 2
    point = rng.random()
    if point < promoters:
        return rng.choice((9, 10, 10))
    if point < promoters + PASSIVES:
        return rng.choice((7, 8, 8))
    return rng.choices(range(7), weights=(2, 1, 2, 3, 5, 8, 12))[0]


def _comment(rng: random.Random, topic: str, group: str, language: str) -> str:
    sentences = COMMENTS[(topic, group)][language]
    return " ".join(rng.sample(sentences, 2 if rng.random() < 0.3 else 1))


def _answers(
    rng: random.Random, kind: str, stage: StagePlan, plan: TouchpointPlan, language: str, days_ago: float
) -> dict[str, int | str]:
    """A response's answers by question type: the score and, sometimes, a comment."""
    values: dict[str, int | str] = {}
    if kind in ("csat", "ces"):
        shares = CSAT_SHARES if kind == "csat" else CES_SHARES
        score = rng.choices(range(1, len(shares) + 1), weights=shares)[0]
        values[kind] = score
        if score <= (3 if kind == "csat" else 4) and rng.random() < COMMENT_CHANCE["low"]:  # the templates' follow-ups
            values["text"] = _comment(rng, "support" if kind == "csat" else "onboarding", "low", language)
        return values
    nps = stage.nps if plan.nps is None else plan.nps
    score = _nps_score(rng, DECLINE.nps(days_ago) if plan.name == DECLINE.touchpoint else nps)
    group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    values["nps"] = score
    if rng.random() < COMMENT_CHANCE[group]:
        topic = (plan.topic or stage.topic) if group == "detractor" else "any"
        values["text"] = _comment(rng, topic, group, language)
    return values


def _period_start(now: datetime, days: int) -> datetime:
    """Midnight UTC of the first of the ``days`` days that end today (the reports' default period)."""
    today = now.astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)


def history_plan(
    *, days: int, seed: int, now: datetime, surveying: dict[str, Surveying]
) -> tuple[list[_Customer], list[_Event], list[_Invitation]]:
    """Customers, their events and invitations (with answers) for ``days`` days up to ``now``; no database.

    ``surveying`` maps a touchpoint name to how its survey is sent; touchpoints
    without an entry get no invitations.
    """
    rng = random.Random(f"journeypulse-demo-history:{seed}")  # noqa: S311 - reproducible demo data, not secret
    start = _period_start(now, days)
    languages = [(code, share) for code, share, _zone in LANGUAGES]
    zones = {code: zone for code, _share, zone in LANGUAGES}
    customers: list[_Customer] = []
    for number in range(1, CUSTOMERS_PER_DAY * days + 1):
        language = _pick(rng, languages) or LANGUAGES[0][0]
        customer = _Customer(f"{HISTORY_PREFIX}{number:05d}", language, zones[language], _pick(rng, PERSONA_SHARES))
        # Each customer's walk and answers draw from a stream of their own, so cutting at ``now`` (the
        # hour the demo is seeded) leaves out their latest steps but changes nobody else's data.
        own = random.Random(f"journeypulse-demo-history:{seed}:{customer.external_id}")  # noqa: S311 - demo data
        _walk(own, customer, start + timedelta(seconds=rng.uniform(0, days * 86400.0)), now)
        if customer.events:
            customers.append(customer)

    plans = {plan.name: (stage, plan) for stage in STAGES for plan in stage.touchpoints}
    events: list[_Event] = []
    invitations: list[_Invitation] = []
    for customer in customers:
        for index, (name, moment) in enumerate(customer.events):
            rng = random.Random(f"journeypulse-demo-history:{seed}:{customer.external_id}:{index}")  # noqa: S311
            event = _Event(customer, name, f"{customer.external_id}-{index + 1}", moment)
            events.append(event)
            stage, plan = plans[name]
            how = surveying.get(name)
            if how is None or rng.random() >= plan.invite_share:
                continue
            sent_at = moment + timedelta(minutes=how.delay_minutes)
            if how.channel != Invitation.Channel.EMBEDDED:  # as the trigger engine does
                sent_at = after_quiet_hours(sent_at, zoneinfo.ZoneInfo(customer.zone), *how.quiet_hours)
            if sent_at > now:
                continue  # not sent yet: left out, so the dispatcher never sends history
            expires_at = sent_at + timedelta(days=how.expiry_days)
            answered_at = sent_at + timedelta(minutes=3 + rng.expovariate(1 / 360))
            invitation = _Invitation(
                event, str(plan.survey), how.channel, new_token(), sent_at, expires_at, Invitation.Status.SENT
            )
            if rng.random() < plan.answer_rate and answered_at <= min(now, expires_at):
                invitation.status, invitation.answered_at = Invitation.Status.ANSWERED, answered_at
                days_ago = (now - answered_at).total_seconds() / 86400
                invitation.answers = _answers(rng, how.kind, stage, plan, customer.language, days_ago)
            elif expires_at <= now:
                invitation.status = Invitation.Status.EXPIRED
            invitations.append(invitation)
    return customers, events, invitations


# --- Writing ------------------------------------------------------------------------------------


def _insert(model: type[Model], rows: Sequence[dict[str, Any]], *, now: datetime) -> None:
    """``INSERT`` ``rows`` (values by attribute name) in a few ``executemany`` calls.

    Much faster than ``bulk_create`` (no model instances, no per-value field
    dispatch), and it can set ``auto_now_add`` times. Every field not in the rows
    gets its default (``now`` for automatic times), so a field added later with a
    default needs no change here.
    """
    if not rows:
        return
    given = list(rows[0])
    fields = [item for item in model._meta.concrete_fields if not item.primary_key]
    explicit = [item for item in fields if item.attname in given]
    defaults = []
    for item in fields:
        if item.attname in given:
            continue
        value = now if getattr(item, "auto_now", False) or getattr(item, "auto_now_add", False) else item.get_default()
        if value is None and not item.null:
            raise ValueError(f"{model.__name__}.{item.name} needs a value")
        defaults.append((item, item.get_db_prep_save(value, connection)))

    def converter(item: Field) -> Callable[[Any], Any]:
        if isinstance(item, DateTimeField):  # several columns of a row often share a moment: adapt it once
            return functools.lru_cache(maxsize=4096)(connection.ops.adapt_datetimefield_value)
        if isinstance(item, JSONField):
            return lambda value: item.get_db_prep_save(value, connection)
        return lambda value: value

    converters = [(item.attname, converter(item)) for item in explicit]
    constants = tuple(value for _item, value in defaults)
    columns = ", ".join(
        connection.ops.quote_name(item.column or "") for item in [*explicit, *(i for i, _v in defaults)]
    )
    placeholders = ", ".join(["%s"] * (len(explicit) + len(defaults)))
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608 - names from the models
    with connection.cursor() as cursor:
        for first in range(0, len(rows), INSERT_BATCH):
            cursor.executemany(
                sql,
                [
                    (*(convert(row[name]) for name, convert in converters), *constants)
                    for row in rows[first : first + INSERT_BATCH]
                ],
            )


@transaction.atomic
def demo_seed_history(
    *, workspace: Workspace, days: int = DEFAULT_DAYS, seed: int = DEFAULT_SEED, now: datetime | None = None
) -> HistorySummary:
    """Write ``days`` days of demo history up to ``now`` once (see the module docstring), then rebuild rollups.

    Needs the demo journey, surveys and rules (``seed_demo`` makes them first);
    without the journey it writes nothing. Touchpoints or surveys the user has
    removed or renamed are left out.
    """
    now = now or timezone.now()
    history = Customer.objects.for_workspace(workspace).filter(external_id__startswith=HISTORY_PREFIX)
    journey = Journey.objects.for_workspace(workspace).filter(name=DEMO_JOURNEY).first()
    if history.exists() or journey is None or days < 1:
        return HistorySummary(created=False)

    touchpoints = {tp.name: tp for tp in Touchpoint.objects.for_workspace(workspace).filter(stage__journey=journey)}
    event_names = dict(
        TouchpointEventName.objects.for_workspace(workspace).order_by("-pk").values_list("touchpoint_id", "name")
    )
    surveys = {survey.name: survey for survey in Survey.objects.for_workspace(workspace).filter(status="active")}
    questions = {
        (question.survey_id, question.type): question.pk
        for question in Question.objects.filter(survey__in=list(surveys.values()), is_archived=False).order_by("-order")
    }
    rules = {(rule.survey_id, rule.touchpoint_id): rule for rule in TriggerRule.objects.for_workspace(workspace)}
    surveying = {}
    for stage in STAGES:
        for plan in stage.touchpoints:
            survey, touchpoint = surveys.get(plan.survey or ""), touchpoints.get(plan.name)
            if survey is None or touchpoint is None:
                continue
            rule = rules.get((survey.pk, touchpoint.pk))
            surveying[plan.name] = Surveying(
                kind=survey.kind,
                channel=rule.channel if rule else plan.channel,
                delay_minutes=rule.delay_minutes if rule else DEFAULT_DELAY_MINUTES,
                expiry_days=survey.invitation_expiry_days,
                quiet_hours=(rule.quiet_hours_start, rule.quiet_hours_end) if rule else (None, None),
            )
    customers, events, invitations = history_plan(days=days, seed=seed, now=now, surveying=surveying)
    events = [event for event in events if event.touchpoint in touchpoints]

    _insert(
        Customer,
        [
            {
                "workspace_id": workspace.pk,
                "external_id": customer.external_id,
                "email": f"{customer.external_id.removeprefix(HISTORY_PREFIX)}@example.com",
                "language": customer.language,
                "timezone": customer.zone,
                "traits": {"persona": customer.persona} if customer.persona else {},
                "first_seen_at": customer.events[0][1],
                "last_seen_at": customer.events[-1][1],
                "created_at": customer.events[0][1],
                "updated_at": customer.events[-1][1],
            }
            for customer in customers
        ],
        now=now,
    )
    customer_ids = dict(history.values_list("external_id", "pk"))
    _insert(
        TouchpointEvent,
        [
            {
                "workspace_id": workspace.pk,
                "customer_id": customer_ids[event.customer.external_id],
                "touchpoint_id": touchpoints[event.touchpoint].pk,
                "name": event_names.get(touchpoints[event.touchpoint].pk, event.touchpoint),
                "message_id": event.message_id,
                "occurred_at": event.occurred_at,
                "received_at": event.occurred_at,
                "evaluated_at": event.occurred_at,  # history: never for the trigger engine
            }
            for event in events
        ],
        now=now,
    )
    event_ids = dict(
        TouchpointEvent.objects.for_workspace(workspace)
        .filter(message_id__startswith=HISTORY_PREFIX)
        .values_list("message_id", "pk")
    )
    _insert(
        Invitation,
        [
            {
                "workspace_id": workspace.pk,
                "survey_id": surveys[invitation.survey].pk,
                "customer_id": customer_ids[invitation.event.customer.external_id],
                "touchpoint_id": touchpoints[invitation.event.touchpoint].pk,
                "channel": invitation.channel,
                "language": invitation.event.customer.language,
                "status": invitation.status,
                "token": invitation.token,
                "send_at": invitation.sent_at,
                "sent_at": invitation.sent_at,
                "expires_at": invitation.expires_at,
                "opened_at": invitation.answered_at and invitation.answered_at - timedelta(minutes=1),
                "answered_at": invitation.answered_at,
                "expired_at": invitation.expires_at if invitation.status == Invitation.Status.EXPIRED else None,
                "rule_id": _rule_id(rules, surveys[invitation.survey], touchpoints[invitation.event.touchpoint]),
                "event_id": event_ids[invitation.event.message_id],
                "created_at": invitation.sent_at,
                "updated_at": invitation.answered_at or invitation.sent_at,
            }
            for invitation in invitations
        ],
        now=now,
    )
    answered = [invitation for invitation in invitations if invitation.answered_at is not None]
    invitation_ids = dict(
        Invitation.objects.for_workspace(workspace)
        .filter(customer__external_id__startswith=HISTORY_PREFIX)
        .values_list("token", "pk")
    )
    _insert(
        Response,
        [
            {
                "workspace_id": workspace.pk,
                "survey_id": surveys[invitation.survey].pk,
                "invitation_id": invitation_ids[invitation.token],
                "language": invitation.event.customer.language,
                "started_at": invitation.answered_at - timedelta(seconds=40),
                "completed_at": invitation.answered_at,
                "is_complete": True,
                "created_at": invitation.answered_at,
                "updated_at": invitation.answered_at,
            }
            for invitation in answered
            if invitation.answered_at is not None
        ],
        now=now,
    )
    response_ids = dict(
        Response.objects.for_workspace(workspace)
        .filter(invitation__customer__external_id__startswith=HISTORY_PREFIX)
        .values_list("invitation__token", "pk")
    )
    answers: list[dict[str, Any]] = [
        {
            "workspace_id": workspace.pk,
            "response_id": response_ids[invitation.token],
            "question_id": questions[(surveys[invitation.survey].pk, kind)],
            "number": value if isinstance(value, int) else None,
            "choices": [],
            "text": value if isinstance(value, str) else "",
            "created_at": invitation.answered_at,
            "updated_at": invitation.answered_at,
        }
        for invitation in answered
        for kind, value in invitation.answers.items()
        if (surveys[invitation.survey].pk, kind) in questions
    ]
    _insert(Answer, answers, now=now)

    summary = HistorySummary(
        created=True,
        days=days,
        customers=len(customers),
        events=len(events),
        invitations=len(invitations),
        responses=len(answered),
        answers=len(answers),
    )
    summary.rollup_days = rollups_rebuild(workspace=workspace, now=now)
    logger.debug("Demo history for workspace %s: %s", workspace.pk, summary)
    return summary


def _rule_id(rules: dict[tuple[int, int], TriggerRule], survey: Survey, touchpoint: Touchpoint) -> int | None:
    rule = rules.get((survey.pk, touchpoint.pk))
    return rule.pk if rule else None
