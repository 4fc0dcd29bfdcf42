"""``/api/v1/`` routes of the touchpoints app."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from touchpoints.apis.customers import CustomerViewSet
from touchpoints.apis.events import EventIngestApi
from touchpoints.apis.journeys import JourneyViewSet, PersonaViewSet, StageViewSet, TouchpointViewSet

router = SimpleRouter()
router.register("journeys", JourneyViewSet, basename="journey")
router.register("stages", StageViewSet, basename="stage")
router.register("touchpoints", TouchpointViewSet, basename="touchpoint")
router.register("personas", PersonaViewSet, basename="persona")
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = [
    re_path(r"^events/?$", EventIngestApi.as_view(), name="event-ingest"),  # with or without the slash
    *router.urls,
]
