from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys")

    def ready(self) -> None:
        from surveys.receivers import enqueue_evaluation
        from touchpoints.signals import events_ingested

        events_ingested.connect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
