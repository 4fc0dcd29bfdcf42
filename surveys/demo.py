"""The demo's surveys: NPS, CSAT and CES in English, Russian, Polish and Hungarian, published.

Idempotent like :func:`touchpoints.demo.demo_seed`: a survey that exists by name is kept.
"""

from __future__ import annotations

from django.db import transaction

from surveys import services
from surveys.models import Survey
from touchpoints.models import Workspace

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
