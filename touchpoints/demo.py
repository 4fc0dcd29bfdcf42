"""The demo workspace: an online shop's journey, three personas and an admin user.

The demo user is a superuser with a published password, so the command refuses
to run unless ``DEBUG`` is on or ``--force`` is given, and never resets the
password of a user that already exists.

:func:`demo_seed` is idempotent: a second run finds what the first one made and
creates nothing twice (API keys excepted: each ``--json`` run mints a fresh pair,
because a raw key cannot be shown again). Later issues add surveys, rules, events
and answers here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from touchpoints import services
from touchpoints.models import ApiKey, Channel, Journey, Persona, Role, Workspace

DEMO_SLUG = "demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "journeypulse-demo"  # noqa: S105 - a published demo login, local only
DEMO_JOURNEY = "Online shop"

PERSONAS = [
    {
        "name": "Bargain-hunting Bella",
        "description": "Student who compares prices everywhere before she buys.",
        "goals": "The best price; free delivery.",
        "pains": "Hidden costs at checkout; slow refunds.",
        "needs": "Clear prices and delivery dates up front.",
    },
    {
        "name": "Busy professional Piotr",
        "description": "Orders on his phone between meetings.",
        "goals": "Buy in under two minutes; reliable delivery.",
        "pains": "Long forms; having to call support.",
        "needs": "Saved details, one-tap reorder, proactive updates.",
    },
    {
        "name": "Loyal regular Réka",
        "description": "Has ordered monthly for three years and recommends the shop to friends.",
        "goals": "Feel recognised; get rewards for loyalty.",
        "pains": "Being treated like a stranger by support.",
        "needs": "A loyalty programme that is easy to use.",
    },
]

# Stage position (1-based, standard template) -> touchpoints on it.
TOUCHPOINTS: dict[int, list[dict[str, object]]] = {
    1: [
        {
            "name": "Social media ad",
            "channel": Channel.SOCIAL,
            "owner_team": "Marketing",
            "customer_does": "Clicks an ad in the feed.",
            "customer_thinks": "Is this a good deal?",
            "customer_feels": "Curious",
            "event_names": ["ad_clicked"],
        },
        {
            "name": "Search result",
            "channel": Channel.WEB,
            "owner_team": "Marketing",
            "customer_does": "Lands from a search engine.",
            "customer_thinks": "Does this shop have it?",
            "customer_feels": "Hopeful",
            "event_names": ["search_landing"],
        },
    ],
    2: [
        {
            "name": "Product comparison",
            "channel": Channel.WEB,
            "owner_team": "E-commerce",
            "customer_does": "Compares three models side by side.",
            "customer_thinks": "Which one is worth it?",
            "customer_feels": "Overwhelmed",
            "event_names": ["comparison_viewed"],
        },
        {
            "name": "Customer reviews",
            "channel": Channel.WEB,
            "owner_team": "E-commerce",
            "customer_does": "Reads reviews and ratings.",
            "customer_thinks": "Can I trust this shop?",
            "customer_feels": "Cautious",
            "event_names": ["reviews_viewed"],
        },
    ],
    3: [
        {
            "name": "Product page",
            "channel": Channel.WEB,
            "owner_team": "E-commerce",
            "customer_does": "Looks at photos, sizes and delivery date.",
            "customer_thinks": "Will it arrive in time?",
            "customer_feels": "Interested",
            "event_names": ["product_viewed"],
        },
        {
            "name": "Newsletter sign-up",
            "channel": Channel.EMAIL,
            "owner_team": "CRM",
            "customer_does": "Leaves an email for a discount code.",
            "customer_thinks": "Will they spam me?",
            "customer_feels": "Hesitant",
            "event_names": ["newsletter_subscribed"],
        },
    ],
    4: [
        {
            "name": "Add to cart",
            "channel": Channel.WEB,
            "owner_team": "E-commerce",
            "customer_does": "Adds the product to the cart.",
            "customer_thinks": "What will it cost in total?",
            "customer_feels": "Excited",
            "event_names": ["cart_item_added"],
        },
        {
            "name": "Pre-sale chat",
            "channel": Channel.CHAT,
            "owner_team": "Customer service",
            "customer_does": "Asks whether the size runs small.",
            "customer_thinks": "I want a quick answer.",
            "customer_feels": "Impatient",
            "event_names": ["presale_chat_closed"],
        },
    ],
    5: [
        {
            "name": "Checkout",
            "channel": Channel.WEB,
            "owner_team": "Payments",
            "customer_does": "Pays by card or BLIK.",
            "customer_thinks": "Why so many fields?",
            "customer_feels": "Tense",
            "event_names": ["checkout_completed"],
        },
        {
            "name": "Order confirmation email",
            "channel": Channel.EMAIL,
            "owner_team": "CRM",
            "customer_does": "Reads the confirmation.",
            "customer_thinks": "Good, it worked.",
            "customer_feels": "Relieved",
            "event_names": ["order_confirmation_sent"],
        },
    ],
    6: [
        {
            "name": "Delivery",
            "channel": Channel.IN_PERSON,
            "owner_team": "Logistics",
            "customer_does": "Receives the parcel from the courier.",
            "customer_thinks": "Finally!",
            "customer_feels": "Happy, or annoyed when late",
            "event_names": ["order_delivered"],
        },
        {
            "name": "Support call",
            "channel": Channel.PHONE,
            "owner_team": "Customer service",
            "customer_does": "Calls about a missing item.",
            "customer_thinks": "Will they sort it out?",
            "customer_feels": "Frustrated",
            "event_names": ["support_call_ended"],
        },
        {
            "name": "App onboarding",
            "channel": Channel.APP,
            "owner_team": "Mobile",
            "customer_does": "Installs the app to track orders.",
            "customer_thinks": "Is this useful?",
            "customer_feels": "Neutral",
            "event_names": ["app_onboarding_completed"],
        },
    ],
    7: [
        {
            "name": "Repeat order",
            "channel": Channel.APP,
            "owner_team": "Mobile",
            "customer_does": "Reorders with one tap.",
            "customer_thinks": "That was easy.",
            "customer_feels": "Satisfied",
            "event_names": ["repeat_order_placed"],
        },
    ],
    8: [
        {
            "name": "Review request",
            "channel": Channel.EMAIL,
            "owner_team": "CRM",
            "customer_does": "Rates the product a week later.",
            "customer_thinks": "Happy to help others.",
            "customer_feels": "Generous",
            "event_names": ["review_requested"],
        },
        {
            "name": "Referral programme",
            "channel": Channel.WEB,
            "owner_team": "Marketing",
            "customer_does": "Sends a friend a referral link.",
            "customer_thinks": "We both get a discount.",
            "customer_feels": "Proud",
            "event_names": ["referral_sent"],
        },
    ],
    9: [
        {
            "name": "Loyalty renewal",
            "channel": Channel.EMAIL,
            "owner_team": "CRM",
            "customer_does": "Renews the yearly loyalty membership.",
            "customer_thinks": "Still worth it.",
            "customer_feels": "Valued",
            "event_names": ["loyalty_renewed"],
        },
    ],
}


@dataclass
class DemoResult:
    workspace: Workspace
    username: str
    password: str | None
    write_key: str | None = None
    secret_key: str | None = None


@transaction.atomic
def demo_seed(*, create_keys: bool = False) -> DemoResult:
    """Create (or find) the demo workspace, user, personas and journey."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com", "is_staff": True, "is_superuser": True}
    )
    if created:  # never reset the password of a user who already exists
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])

    workspace = Workspace.objects.filter(slug=DEMO_SLUG).first() or services.workspace_create(
        name="Demo shop", slug=DEMO_SLUG, default_language="en", timezone_name="Europe/Warsaw"
    )
    services.membership_set(workspace=workspace, user=user, role=Role.ADMIN)

    existing_personas = {p.name: p for p in Persona.objects.for_workspace(workspace)}
    personas = [
        existing_personas.get(str(data["name"])) or services.persona_create(workspace=workspace, **data)
        for data in PERSONAS
    ]

    if not Journey.objects.for_workspace(workspace).filter(name=DEMO_JOURNEY).exists():
        journey = services.journey_create(
            workspace=workspace,
            name=DEMO_JOURNEY,
            description="From the first ad to a loyal, recommending customer.",
            persona_ids=[persona.pk for persona in personas],
            from_template=True,
        )
        stages = {stage.order: stage for stage in journey.stages.all()}
        for position, touchpoints in TOUCHPOINTS.items():
            for data in touchpoints:
                services.touchpoint_create(workspace=workspace, stage_id=stages[position].pk, **data)

    # Tell the password only while it is still the demo one.
    password = DEMO_PASSWORD if created or user.check_password(DEMO_PASSWORD) else None
    result = DemoResult(workspace=workspace, username=DEMO_USERNAME, password=password)
    if create_keys:
        _key, result.write_key = services.apikey_create(
            workspace=workspace, name="Demo write key", kind=ApiKey.Kind.WRITE, created_by=user
        )
        _key, result.secret_key = services.apikey_create(
            workspace=workspace, name="Demo secret key", kind=ApiKey.Kind.SECRET, role=Role.ADMIN, created_by=user
        )
    return result
