"""``/api/v1/`` routes of the touchpoints app."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from touchpoints.apis.customers import CustomerViewSet
from touchpoints.apis.events import EventIngestApi, EventNameListApi
from touchpoints.apis.journeys import JourneyViewSet, PersonaViewSet, StageViewSet, TouchpointViewSet

router = SimpleRouter()
router.register("journeys", JourneyViewSet, basename="journey")
router.register("stages", StageViewSet, basename="stage")
router.register("touchpoints", TouchpointViewSet, basename="touchpoint")
router.register("personas", PersonaViewSet, basename="persona")
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = [
    re_path(r"^events/?$", EventIngestApi.as_view(), name="event-ingest"),  # with or without the slash
    path("event-names/", EventNameListApi.as_view(), name="event-name-list"),
    *router.urls,
]
