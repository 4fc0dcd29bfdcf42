"""``/api/v1/`` routes of the touchpoints app."""

from rest_framework.routers import SimpleRouter

from touchpoints.apis.customers import CustomerViewSet
from touchpoints.apis.journeys import JourneyViewSet, PersonaViewSet, StageViewSet, TouchpointViewSet

router = SimpleRouter()
router.register("journeys", JourneyViewSet, basename="journey")
router.register("stages", StageViewSet, basename="stage")
router.register("touchpoints", TouchpointViewSet, basename="touchpoint")
router.register("personas", PersonaViewSet, basename="persona")
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = router.urls
