"""``/api/v1/`` routes of the surveys app."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from surveys.apis import (
    InvitationViewSet,
    QuestionViewSet,
    ResponseViewSet,
    SurveyTemplateListApi,
    SurveyViewSet,
)
from surveys.embed_apis import EmbedDismissApi, EmbedIdentifyApi
from surveys.rule_apis import TriggerDecisionViewSet, TriggerRuleViewSet

router = SimpleRouter()
router.register("surveys", SurveyViewSet, basename="survey")
router.register("questions", QuestionViewSet, basename="question")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("responses", ResponseViewSet, basename="response")
router.register("trigger-rules", TriggerRuleViewSet, basename="trigger-rule")
router.register("trigger-decisions", TriggerDecisionViewSet, basename="trigger-decision")

urlpatterns = [
    path("embed/identify/", EmbedIdentifyApi.as_view(), name="embed-identify"),
    path("embed/dismiss/", EmbedDismissApi.as_view(), name="embed-dismiss"),
    path("survey-templates/", SurveyTemplateListApi.as_view(), name="survey-template-list"),
    *router.urls,
]
