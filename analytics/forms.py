"""The report pages' filter form: period, channel, persona, survey and language.

The rules are those of the report API: after the form has parsed its fields, it
hands the values to :func:`analytics.reports.report_filters_build`, so the period's
bounds, order and length and the survey's workspace are checked in one place, and
each error comes back beside its field.

Parameters the form does not know are ignored (a page URL may carry others); the
API is strict about them, the pages are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics.aggregation import ReportFilters
from analytics.reports import default_period, report_filters_build
from config.errors import ApplicationError
from surveys.models import Invitation
from touchpoints.forms import ServiceForm
from touchpoints.models import Workspace, validate_language_tag

#: The persona choice for customers without a known persona (the API's ``persona=``).
NO_PERSONA = "-"
FIELDS = ("since", "until", "channel", "persona", "survey", "language")


class ReportFilterForm(ServiceForm):
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("First day (UTC)."),
    )
    until = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Last day (UTC), included."),
    )
    channel = forms.ChoiceField(label=_("Channel"), required=False)
    persona = forms.ChoiceField(label=_("Persona"), required=False)
    survey = forms.TypedChoiceField(label=_("Survey"), required=False, coerce=int, empty_value=None)
    language = forms.CharField(
        label=_("Language"),
        required=False,
        max_length=16,
        validators=[validate_language_tag],
        help_text=_("A language code such as en or pl-PL; empty for all."),
        widget=forms.TextInput(attrs={"list": "report-languages", "autocomplete": "off", "size": "8"}),
    )

    def __init__(
        self,
        data: Any = None,
        *,
        workspace: Workspace,
        personas: Sequence[str],
        surveys: Sequence[tuple[int, str]],
        today: date,
    ) -> None:
        self.workspace = workspace
        self.today = today
        self.survey_names = dict(surveys)
        since, until = default_period(today)
        super().__init__(data, initial={"since": since, "until": until})
        self.choice_field("channel").choices = [("", _("All channels")), *Invitation.Channel.choices]
        self.choice_field("persona").choices = [
            ("", _("All personas")),
            (NO_PERSONA, _("Without a persona")),
            *[(name, name) for name in personas],
        ]
        self.choice_field("survey").choices = [("", _("All surveys")), *[(str(pk), name) for pk, name in surveys]]
        self._filters: ReportFilters | None = None

    def choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 - the fields above
        return field

    def clean(self) -> dict[str, Any]:
        """Check what parsed with the report's rules; a date that did not parse leaves the period alone."""
        cleaned = super().clean() or {}
        usable = {name: value for name, value in cleaned.items() if name not in self.errors}
        if "since" in self.errors or "until" in self.errors:
            usable.pop("since", None)
            usable.pop("until", None)
        persona = usable.get("persona") or None
        try:
            filters = report_filters_build(
                workspace=self.workspace,
                since=usable.get("since"),
                until=usable.get("until"),
                channel=usable.get("channel") or None,
                persona="" if persona == NO_PERSONA else persona,
                survey_id=usable.get("survey"),
                language=usable.get("language") or None,
                today=self.today,
            )
        except ApplicationError as error:
            for name, messages in error.fields.items():
                if name not in self.errors:
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
            return cleaned
        if not self.errors:
            self._filters = filters
        return cleaned

    def filters(self) -> ReportFilters:
        """The validated filters (the defaults when the form is unbound)."""
        if not self.is_bound:
            initial = self.initial
            return ReportFilters(since=initial["since"], until=initial["until"])
        if self._filters is None:
            raise ValueError("filters() needs a valid form")
        return self._filters

    def query(self) -> dict[str, str]:
        """The filters as the pages' query parameters (only those given)."""
        if not self.is_bound:
            return {}
        return {name: str(self.data[name]) for name in FIELDS if self.data.get(name)}


def api_query(filters: ReportFilters) -> dict[str, str]:
    """The filters as the report API's query parameters (``persona=`` means "without a persona")."""
    query = {"since": filters.since.isoformat(), "until": filters.until.isoformat()}
    if filters.channel is not None:
        query["channel"] = filters.channel
    if filters.persona is not None:
        query["persona"] = filters.persona
    if filters.survey_id is not None:
        query["survey"] = str(filters.survey_id)
    if filters.language is not None:
        query["language"] = filters.language
    return query


class ReportSettingsForm(ServiceForm):
    """The workspace's friction thresholds (admins); :func:`analytics.report_settings.report_settings_update`."""

    ces_threshold = forms.DecimalField(
        label=_("CES threshold"),
        min_value=1,
        max_value=7,
        max_digits=3,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text=_(
            "Customer effort on 1 to 7 (7 = easiest). A stage or touchpoint whose interval lies entirely "
            "below this is flagged as high effort."
        ),
    )
    low_response_percent = forms.IntegerField(
        label=_("Low response threshold (%)"),
        min_value=1,
        max_value=99,
        help_text=_(
            "A stage or touchpoint whose response rate interval lies entirely below this share is flagged: "
            "its score may be biased."
        ),
    )
