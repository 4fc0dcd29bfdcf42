"""The trigger designer, the unsubscribe page and the delivery settings in Chromium.

Labels and contrast (``assert_accessible``), the rules beside their touchpoints with
what they decided, a rule made with the keyboard alone (and its error state), the
"why not?" lookup, a Polish customer unsubscribing, and the admin's delivery page.

Every decision is recorded before a page is loaded; the database is read from the
test only once the page has answered (SQLite shares one connection with the live
server, so the test must not query it while a request is being served).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from surveys import rules, services
from surveys.invitations import invitations_create
from surveys.models import DecisionOutcome, Invitation, Survey, TriggerRule
from surveys.triggers import events_evaluate
from tests.browser.a11y import assert_accessible
from tests.touchpoints.factories import (
    CustomerFactory,
    JourneyFactory,
    MembershipFactory,
    StageFactory,
    TouchpointEventNameFactory,
    UserFactory,
    WorkspaceFactory,
)
from touchpoints.models import Role, Touchpoint, Workspace
from touchpoints.services import events_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"  # noqa: S105 - UserFactory's test password


@dataclass
class Shop:
    workspace: Workspace
    username: str
    nps: Survey
    csat: Survey
    delivered: Touchpoint
    returned: Touchpoint


def make_shop(role: str = Role.ADMIN) -> Shop:
    """A journey of two stages, a touchpoint each, one rule each, and the decisions of four events.

    NPS at "Parcel delivered" (email, plan = pro): ann is invited, bob is not (conditions).
    CSAT at "Return requested" (link, after 2 hours): carl is invited, ann is not (contact policy).
    """
    workspace = WorkspaceFactory(name="Parcel shop")
    user = UserFactory(username="dana")
    MembershipFactory(workspace=workspace, user=user, role=role)
    journey = JourneyFactory(workspace=workspace, name="Delivery journey")
    delivery = StageFactory(journey=journey, name="Delivery", order=1)
    aftercare = StageFactory(journey=journey, name="Aftercare", order=2)
    delivered = TouchpointEventNameFactory(
        touchpoint__stage=delivery, touchpoint__name="Parcel delivered", name="order_delivered"
    ).touchpoint
    returned = TouchpointEventNameFactory(
        touchpoint__stage=aftercare, touchpoint__name="Return requested", name="return_requested"
    ).touchpoint
    surveys = []
    for template in ("transactional_nps", "csat_support"):
        survey = services.survey_create_from_template(workspace=workspace, template=template)
        surveys.append(services.survey_publish(workspace=workspace, survey_id=survey.pk))
    nps, csat = surveys
    rules.rule_create(
        workspace=workspace,
        survey_id=nps.pk,
        touchpoint_id=delivered.pk,
        data={"channel": "email", "conditions": [{"field": "traits.plan", "operator": "eq", "value": "pro"}]},
    )
    rules.rule_create(
        workspace=workspace,
        survey_id=csat.pk,
        touchpoint_id=returned.pk,
        data={"channel": "link", "delay_minutes": 120},
    )
    start = timezone.now() - timedelta(minutes=30)

    def event(minute: int, name: str, user_id: str, plan: str) -> dict:
        return {
            "event": name,
            "user_id": user_id,
            "message_id": f"{name}-{user_id}",
            "timestamp": (start + timedelta(minutes=minute)).isoformat(),
            "traits": {"plan": plan, "email": f"{user_id}@example.com"},
        }

    items = [
        event(0, "order_delivered", "ann", "pro"),
        event(1, "order_delivered", "bob", "free"),
        event(2, "return_requested", "carl", "pro"),
        event(3, "return_requested", "ann", "pro"),
    ]
    # Ingesting may already evaluate (eager Celery after commit); a second evaluation decides nothing new.
    events_evaluate(event_ids=events_ingest(workspace=workspace, items=items).event_ids)
    return Shop(workspace, user.username, nps, csat, delivered, returned)


def sign_in(page, live_server, shop: Shop, path: str) -> None:
    page.goto(f"{live_server.url}/login/?next={path}")
    page.get_by_label("Username").fill(shop.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(f"{live_server.url}{path}")


def tab_to(page, locator, limit: int = 80) -> None:
    """Press Tab until ``locator`` has the focus, as a keyboard user would."""
    handle = locator.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("element => document.activeElement === element", handle):
            return
    raise AssertionError(f"Tab never reached {locator}")


def test_triggers_page_shows_rules_beside_touchpoints(page, live_server):
    shop = make_shop(role=Role.VIEWER)
    sign_in(page, live_server, shop, "/triggers/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Survey triggers · Delivery journey")
    assert page.locator(".stage h2").all_inner_texts() == ["Delivery", "Aftercare"]
    assert_accessible(page)

    delivered = page.locator(f"#touchpoint-{shop.delivered.pk}")
    expect(delivered.get_by_role("heading", level=3)).to_have_text("Parcel delivered")
    expect(delivered.locator(".rule")).to_have_count(1)
    expect(delivered.locator(".rule")).to_contain_text(shop.nps.name)
    expect(delivered.locator(".rule")).to_contain_text("at once · 100% sampled")
    expect(delivered.locator(".rule")).to_contain_text("1 invited")
    returned = page.locator(f"#touchpoint-{shop.returned.pk}")
    expect(returned.get_by_role("heading", level=3)).to_have_text("Return requested")
    expect(returned.locator(".rule")).to_have_count(1)
    expect(returned.locator(".rule")).to_contain_text(shop.csat.name)
    expect(returned.locator(".rule")).to_contain_text("after 2 hours")
    expect(returned.locator(".rule")).to_contain_text("1 invited")
    # A viewer reads the rules but is offered no way to change them.
    expect(page.get_by_role("link", name="Add a rule")).to_have_count(0)

    # "Not invited, and why" opens from the keyboard and lists the reasons.
    details = delivered.locator("details")
    reasons = details.locator("ul")
    expect(reasons).to_be_hidden()
    tab_to(page, details.locator("summary"))
    page.keyboard.press("Enter")
    expect(details).to_have_attribute("open", "")
    expect(reasons).to_be_visible()
    expect(reasons).to_have_text(f"{DecisionOutcome.CONDITION_FALSE.label}: 1")
    returned_details = returned.locator("details")
    tab_to(page, returned_details.locator("summary"))
    page.keyboard.press("Space")
    expect(returned_details.locator("ul")).to_have_text(f"{DecisionOutcome.CONTACT_POLICY.label}: 1")
    assert_accessible(page)  # the opened lists' text too


def test_designer_adds_a_rule_with_the_keyboard_alone(page, live_server):
    shop = make_shop(role=Role.DESIGNER)
    sign_in(page, live_server, shop, "/triggers/")
    tab_to(page, page.get_by_role("link", name="Add a rule (Return requested)"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("New rule")
    expect(page.get_by_label("Touchpoint")).to_have_value(str(shop.returned.pk))
    assert_accessible(page)

    survey = page.get_by_label(re.compile(r"^Survey"))
    tab_to(page, survey)
    page.keyboard.type(shop.nps.name[:5])  # a closed select picks the option typed
    expect(survey).to_have_value(str(shop.nps.pk))
    tab_to(page, page.get_by_label(re.compile(r"^Channel")))
    page.keyboard.type("Link")
    expect(page.get_by_label(re.compile(r"^Channel"))).to_have_value("link")
    tab_to(page, page.get_by_label("Delay after the event"))
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    conditions = page.get_by_label("Conditions")
    tab_to(page, conditions)
    page.keyboard.type("total is big")
    submit = page.get_by_role("button", name="Create rule")
    tab_to(page, submit)
    page.keyboard.press("Enter")

    # The error state: announced, beside the field, and the field says it is invalid.
    expect(page.get_by_role("alert")).to_have_text("Please correct the errors below.")
    errors = page.locator("#id_conditions_errors")
    expect(errors).to_contain_text("Line 1: write a field, an operator and a value")
    expect(conditions).to_have_attribute("aria-invalid", "true")
    assert "id_conditions_errors" in conditions.get_attribute("aria-describedby").split()
    conditions_box = page.locator(".field", has=page.locator("#id_conditions"))
    expect(conditions_box.locator(".errorlist")).to_have_attribute("id", "id_conditions_errors")  # beside the field
    expect(conditions).to_have_value("total is big")
    expect(survey).to_have_value(str(shop.nps.pk))  # what was chosen stays chosen
    assert_accessible(page)

    tab_to(page, conditions)
    expect(conditions).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("properties.total > 100")
    tab_to(page, submit)
    page.keyboard.press("Enter")

    expect(page).to_have_url(
        f"{live_server.url}/triggers/?journey={shop.returned.stage.journey_id}#touchpoint-{shop.returned.pk}"
    )
    expect(page.get_by_role("status")).to_have_text("Rule created.")
    returned = page.locator(f"#touchpoint-{shop.returned.pk}")
    expect(returned.locator(".rule")).to_have_count(2)
    new_rule = returned.locator(".rule", has_text=shop.nps.name)
    expect(new_rule).to_contain_text("Link · after 3 hours · 100% sampled")
    expect(new_rule).to_contain_text("0 invited")
    assert_accessible(page)
    page.wait_for_load_state("load")  # the live server has answered; the database is ours again
    rule = TriggerRule.objects.get(survey=shop.nps, touchpoint=shop.returned)
    assert (rule.channel, rule.delay_minutes) == ("link", 180)
    assert rule.conditions == [{"field": "properties.total", "operator": "gt", "value": 100.0}]


def test_why_not_lookup_lists_a_customers_decisions(page, live_server):
    shop = make_shop()
    sign_in(page, live_server, shop, "/triggers/")
    field = page.get_by_label("Customer external id")
    field.fill("ann")
    field.press("Enter")
    table = page.get_by_role("table", name="Latest decisions for ann")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    cells = [row.locator("td").all_inner_texts()[1:] for row in rows.all()]
    assert sorted(cells) == sorted(
        [
            ["order_delivered", "Parcel delivered", shop.nps.name, str(DecisionOutcome.INVITED.label)],
            ["return_requested", "Return requested", shop.csat.name, str(DecisionOutcome.CONTACT_POLICY.label)],
        ]
    )
    assert_accessible(page)

    field = page.get_by_label("Customer external id")
    expect(field).to_have_value("ann")
    field.fill("bob")
    field.press("Enter")
    table = page.get_by_role("table", name="Latest decisions for bob")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr td").nth(4)).to_have_text(str(DecisionOutcome.CONDITION_FALSE.label))

    field = page.get_by_label("Customer external id")
    field.fill("nobody")
    field.press("Enter")
    expect(page.get_by_role("table", name="Latest decisions for nobody")).to_contain_text(
        "No decisions for this customer"
    )


def test_unsubscribe_in_polish(page, live_server):
    workspace = WorkspaceFactory(name="Parcel shop")
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    services.survey_publish(workspace=workspace, survey_id=survey.pk)
    customer = CustomerFactory(workspace=workspace, external_id="ola", language="pl")
    invitation = invitations_create(
        workspace=workspace,
        survey_id=survey.pk,
        customer_external_ids=["ola"],
        channel="email",
        send_at=timezone.now() + timedelta(days=1),
    )[0]
    assert invitation.status == Invitation.Status.SCHEDULED
    page.goto(f"{live_server.url}/s/{invitation.token}/unsubscribe/")
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    heading = page.get_by_role("heading", level=1)
    before = heading.inner_text()
    assert_accessible(page)
    with page.expect_response(lambda response: response.request.method == "POST") as answered:
        page.get_by_role("button").click()
    assert answered.value.status == 200
    expect(heading).not_to_have_text(before)
    expect(heading).to_be_focused()  # the answer replaced the page; the focus moved to it
    expect(page.get_by_role("button")).to_have_count(0)
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    expect(page.locator("main")).to_contain_text("Parcel shop")
    assert_accessible(page)
    page.wait_for_load_state("networkidle")  # nothing in flight: the database is ours again
    customer.refresh_from_db()
    assert customer.unsubscribed_at is not None
    # Surveys already planned for the customer will not be sent.
    assert Invitation.objects.get(pk=invitation.pk).status == Invitation.Status.SUPPRESSED


def test_delivery_settings_are_accessible_to_an_admin(page, live_server):
    shop = make_shop(role=Role.ADMIN)
    sign_in(page, live_server, shop, "/settings/delivery/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery")
    expect(page.get_by_role("link", name="Delivery")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("textbox", name="Webhook secret")).to_have_value(shop.workspace.webhook_secret)
    assert_accessible(page)
