"""The properties an event carries, guessed from its name, and what a customer buys.

:func:`event_properties` gives ``checkout_completed`` an order total in the
customer's currency, a delivery a carrier, a support call a duration, and so on;
:class:`Shopping` keeps one customer's order consistent across their events.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from touchpoints.simulation.people import Locale, SimulatedCustomer

#: (sku, name, category)
PRODUCTS = (
    ("SKU-1042", "Running shoes", "shoes"),
    ("SKU-2210", "Rain jacket", "outerwear"),
    ("SKU-3307", "Backpack 30 l", "bags"),
    ("SKU-4415", "Wool socks, 3 pairs", "accessories"),
    ("SKU-5120", "Trail headlamp", "equipment"),
    ("SKU-6031", "Water bottle", "accessories"),
)


def _money(euros: float, locale: Locale) -> float:
    amount = euros * locale.per_euro
    return float(round(amount)) if locale.per_euro >= 50 else round(amount, 2)


@dataclass
class Shopping:
    """What one customer buys, so checkout, confirmation and delivery tell one story."""

    order_id: str
    product: tuple[str, str, str]
    items: int
    total_euros: float
    orders: int = 1


def event_properties(name: str, customer: SimulatedCustomer, shopping: Shopping, rng: random.Random) -> dict[str, Any]:
    """Plausible properties for an event, guessed from its name (``checkout_completed`` gets a total)."""
    lowered = name.lower()
    words = set(re.split(r"[^a-z0-9]+", lowered))
    locale = customer.locale
    sku, product_name, category = shopping.product
    properties: dict[str, Any] = {}

    def has(*stems: str) -> bool:
        return any(stem in lowered for stem in stems)

    if has("repeat", "reorder"):
        shopping.orders += 1
        shopping.total_euros = round(rng.uniform(*customer.plan.spend_euros), 2)
    order_id = shopping.order_id if shopping.orders == 1 else f"{shopping.order_id}-{shopping.orders}"
    if has("checkout", "purchase", "payment", "paid", "order"):
        properties.update(
            order_id=order_id,
            total=_money(shopping.total_euros, locale),
            currency=locale.currency,
            items=shopping.items,
        )
    if has("checkout", "purchase", "payment", "paid"):
        properties["payment_method"] = rng.choice(locale.payment_methods)
    if has("deliver", "shipped", "shipping", "parcel"):
        on_time = rng.random() < 0.85
        properties.update(order_id=order_id, carrier=rng.choice(locale.carriers), on_time=on_time)
        if not on_time:
            properties["days_late"] = rng.randint(1, 5)
    if has("cart", "basket"):
        price = shopping.total_euros / shopping.items
        properties.update(product_id=sku, price=_money(price, locale), currency=locale.currency, quantity=1)
    if has("product"):
        properties.update(product_id=sku, product_name=product_name, category=category)
    if has("search"):
        properties.update(engine=rng.choice(("google", "bing", "duckduckgo")), query=category)
    if has("compar"):
        properties["products_compared"] = rng.randint(2, 4)
    if "ad" in words or "ads" in words or has("campaign"):
        properties.update(
            campaign=rng.choice(("spring_sale", "new_collection", "free_delivery")),
            source=rng.choice(("instagram", "facebook", "tiktok")),
        )
    if has("chat", "call", "support", "ticket"):
        longest = 600 if has("chat") else 1500
        resolved_share = 0.9 if customer.plan.name == "premium" else 0.78
        properties.update(duration_seconds=rng.randint(45, longest), resolved=rng.random() < resolved_share)
    if has("referral", "refer"):
        properties["referral_code"] = f"REF-{customer.user_id.upper()}"
    if has("newsletter", "subscribe"):
        properties.update(list="newsletter", discount_code="WELCOME10")
    if has("loyalty", "renew", "membership"):
        properties.update(tier=customer.plan.name, years=rng.randint(1, 3))
    if has("onboard", "install") or "app" in words:
        properties["platform"] = rng.choice(("ios", "android"))
    return properties
