"""The demo's surveys (NPS, CSAT and CES in English, Russian, Polish and Hungarian, published)
and the trigger rules that fire them from the demo journey's touchpoints.

Idempotent like :func:`touchpoints.demo.demo_seed`: a survey that exists by name is
kept, and so is a rule that exists for its survey and touchpoint.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from surveys import rules, services
from surveys.invitations import invitations_create
from surveys.models import Invitation, Survey, TriggerRule
from touchpoints.models import Touchpoint, Workspace
from touchpoints.services import customer_upsert

#: Demo customers, one per language, so the invitations show the form in each.
DEMO_CUSTOMERS = [
    ("demo-anna", "anna@example.com", "en"),
    ("demo-olga", "olga@example.com", "ru"),
    ("demo-piotr", "piotr@example.com", "pl"),
    ("demo-reka", "reka@example.com", "hu"),
]

DEMO_SURVEYS = [
    ("transactional_nps", "Post-purchase NPS"),
    ("csat_support", "Support CSAT"),
    ("ces_onboarding", "App onboarding CES"),
]


@transaction.atomic
def demo_seed_surveys(*, workspace: Workspace) -> list[Survey]:
    existing = {survey.name: survey for survey in Survey.objects.for_workspace(workspace)}
    surveys = []
    for template, name in DEMO_SURVEYS:
        survey = existing.get(name)
        if survey is None:
            survey = services.survey_create_from_template(workspace=workspace, template=template, name=name)
            survey = services.survey_publish(workspace=workspace, survey_id=survey.pk)
        surveys.append(survey)
    return surveys


#: (survey name, touchpoint name, rule fields): short delays, so a demo shows invitations within minutes.
DEMO_RULES = [
    (
        "Post-purchase NPS",
        "Delivery",
        {
            "channel": Invitation.Channel.EMAIL,
            "fallback_channel": Invitation.Channel.EMBEDDED,
            "delay_minutes": 2,
            "quiet_hours_start": "22:00",
            "quiet_hours_end": "07:00",
        },
    ),
    ("Support CSAT", "Support call", {"channel": Invitation.Channel.LINK, "delay_minutes": 1}),
    (
        "App onboarding CES",
        "App onboarding",
        {"channel": Invitation.Channel.EMBEDDED, "sampling_rate": 0.5, "recontact_days": 30},
    ),
]


@transaction.atomic
def demo_seed_rules(*, workspace: Workspace) -> list[TriggerRule]:
    """The demo rules (see :data:`DEMO_RULES`); a rule whose survey or touchpoint is gone is skipped."""
    surveys = {survey.name: survey for survey in Survey.objects.for_workspace(workspace)}
    touchpoints = {tp.name: tp for tp in Touchpoint.objects.for_workspace(workspace).order_by("id")}
    existing = {(rule.survey_id, rule.touchpoint_id): rule for rule in TriggerRule.objects.for_workspace(workspace)}
    made = []
    for survey_name, touchpoint_name, data in DEMO_RULES:
        survey, touchpoint = surveys.get(survey_name), touchpoints.get(touchpoint_name)
        if survey is None or touchpoint is None:
            continue
        rule = existing.get((survey.pk, touchpoint.pk))
        if rule is None:
            rule = rules.rule_create(
                workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data=dict(data)
            )
        made.append(rule)
    return made


@transaction.atomic
def demo_seed_invitations(*, workspace: Workspace, survey: Survey) -> list[Invitation]:
    """Open link invitations to ``survey`` for the demo customers.

    Later runs return the ones still open; once all are answered or expired, a fresh set is made.
    """
    still_open = list(
        Invitation.objects.for_workspace(workspace)
        .filter(survey=survey, status__in=[Invitation.Status.SENT, Invitation.Status.OPENED])
        .filter(expires_at__gt=timezone.now())
        .order_by("id")
    )
    if still_open:
        return still_open
    for external_id, email, language in DEMO_CUSTOMERS:
        customer_upsert(workspace=workspace, external_id=external_id, data={"email": email, "language": language})
    return invitations_create(
        workspace=workspace,
        survey_id=survey.pk,
        customer_external_ids=[external_id for external_id, _email, _language in DEMO_CUSTOMERS],
        channel=Invitation.Channel.LINK,
    )
