"""Who the simulated customers are: languages with their names and locales, plans, and the customer.

Everything here is fixed data; :meth:`touchpoints.simulation.walk.Simulation.walk`
draws from it with a generator seeded by the seed and the customer's number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Locale:
    tag: str
    timezone: str
    currency: str
    #: Units of ``currency`` per euro, roughly; prices are made in euros.
    per_euro: float
    carriers: tuple[str, ...]
    payment_methods: tuple[str, ...]


#: Per language: weight, locales, and (display name, ASCII name for the email address).
LANGUAGES: dict[str, tuple[int, tuple[Locale, ...], tuple[tuple[str, str], ...]]] = {
    "en": (
        4,
        (
            Locale("en-GB", "Europe/London", "GBP", 0.86, ("Royal Mail", "DPD"), ("card", "paypal", "apple_pay")),
            Locale("en-US", "America/New_York", "USD", 1.08, ("UPS", "USPS"), ("card", "paypal", "apple_pay")),
        ),
        (
            ("Olivia Smith", "olivia.smith"),
            ("James Brown", "james.brown"),
            ("Amelia Jones", "amelia.jones"),
            ("Noah Williams", "noah.williams"),
            ("Emily Taylor", "emily.taylor"),
            ("Oliver Davies", "oliver.davies"),
            ("Grace Wilson", "grace.wilson"),
            ("Jack Evans", "jack.evans"),
        ),
    ),
    "ru": (
        2,
        (Locale("ru-RU", "Europe/Moscow", "RUB", 98.0, ("СДЭК", "Почта России"), ("card", "sbp")),),
        (
            ("Анна Смирнова", "anna.smirnova"),
            ("Дмитрий Иванов", "dmitry.ivanov"),
            ("Мария Кузнецова", "maria.kuznetsova"),
            ("Алексей Попов", "alexey.popov"),
            ("Екатерина Соколова", "ekaterina.sokolova"),
            ("Иван Лебедев", "ivan.lebedev"),
            ("Ольга Новикова", "olga.novikova"),
            ("Сергей Морозов", "sergey.morozov"),
        ),
    ),
    "pl": (
        2,
        (Locale("pl-PL", "Europe/Warsaw", "PLN", 4.3, ("InPost", "DPD"), ("blik", "card", "przelewy24")),),
        (
            ("Anna Kowalska", "anna.kowalska"),
            ("Piotr Nowak", "piotr.nowak"),
            ("Katarzyna Wiśniewska", "katarzyna.wisniewska"),
            ("Tomasz Wójcik", "tomasz.wojcik"),
            ("Magdalena Kamińska", "magdalena.kaminska"),
            ("Michał Lewandowski", "michal.lewandowski"),
            ("Agnieszka Zielińska", "agnieszka.zielinska"),
            ("Krzysztof Szymański", "krzysztof.szymanski"),
        ),
    ),
    "hu": (
        2,
        (Locale("hu-HU", "Europe/Budapest", "HUF", 395.0, ("MPL", "GLS"), ("card", "simplepay")),),
        (  # Hungarian names put the family name first
            ("Nagy Réka", "reka.nagy"),
            ("Kovács Bence", "bence.kovacs"),
            ("Tóth Eszter", "eszter.toth"),
            ("Szabó Máté", "mate.szabo"),
            ("Horváth Anna", "anna.horvath"),
            ("Varga Dániel", "daniel.varga"),
            ("Kiss Zsófia", "zsofia.kiss"),
            ("Molnár Péter", "peter.molnar"),
        ),
    ),
}


@dataclass(frozen=True)
class Plan:
    name: str
    weight: int
    #: Multiplies the drop-off probability: premium customers stay longer.
    drop_off_factor: float
    #: Order totals, in euros.
    spend_euros: tuple[float, float]


PLANS = (
    Plan("free", 50, 1.25, (15.0, 80.0)),
    Plan("plus", 35, 1.0, (30.0, 150.0)),
    Plan("premium", 15, 0.6, (60.0, 400.0)),
)


@dataclass(frozen=True)
class SimulatedCustomer:
    number: int
    user_id: str
    name: str
    email: str
    language: str
    locale: Locale
    plan: Plan
    persona: str

    def traits(self) -> dict[str, Any]:
        """What the first event carries: ``email``, ``language`` and ``timezone`` go to the profile."""
        traits: dict[str, Any] = {
            "name": self.name,
            "email": self.email,
            "language": self.language,
            "timezone": self.locale.timezone,
            "plan": self.plan.name,
            "simulated": True,
        }
        if self.persona:
            traits["persona"] = self.persona
        return traits
