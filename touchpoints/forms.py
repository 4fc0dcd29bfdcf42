"""Forms of the journey pages. They validate shape; services validate rules.

A service's :class:`ApplicationError` comes back onto the form with
:meth:`ServiceForm.add_application_error`, each message beside its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.utils.translation import gettext_lazy as _

from config.errors import ApplicationError
from config.limits import ID_MAX
from touchpoints.models import Channel, Journey, Persona, Workspace

T = TypeVar("T")


class ServiceForm(forms.Form):
    """A form whose errors are accessible and can come from a service.

    Fields with errors get ``aria-invalid`` and ``aria-describedby`` pointing at
    their error list (rendered by ``includes/field.html``).
    """

    #: Service field names that differ from this form's field names.
    field_aliases: dict[str, str] = {}

    def add_application_error(self, error: ApplicationError) -> None:
        if not error.fields:
            self.add_error(None, error.message)
        for name, messages in error.fields.items():
            field = self.field_aliases.get(name, name)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        self.mark_invalid_fields()

    def run_service(self, call: Callable[[], T]) -> T | None:
        """Call a service; on ``ApplicationError`` put its errors on this form and return ``None``."""
        try:
            return call()
        except ApplicationError as error:
            self.add_application_error(error)
            return None

    def is_valid(self) -> bool:
        valid = super().is_valid()
        self.mark_invalid_fields()
        return valid

    def mark_invalid_fields(self) -> None:
        """``aria-invalid`` and ``aria-describedby`` naming the errors, then the help text (still read)."""
        for name in self.errors:
            if name in self.fields:
                field = self.fields[name]
                described = [f"{self[name].auto_id}_errors"]
                if field.help_text:
                    described.append(f"{self[name].auto_id}_helptext")
                field.widget.attrs["aria-invalid"] = "true"
                field.widget.attrs["aria-describedby"] = " ".join(described)


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A model multiple choice whose values are checked as ids before any query.

    A forged value such as ``10**30`` is "not one of the available choices", not a
    database overflow.
    """

    def _check_values(self, value: Any) -> Any:
        for item in value:
            text = str(item)
            if not (text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= ID_MAX):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": text}
                )
        return super()._check_values(value)


class WorkspaceSwitchForm(forms.Form):
    workspace = forms.IntegerField(min_value=1, max_value=ID_MAX)


class JourneyForm(ServiceForm):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    map_type = forms.ChoiceField(label=_("Map type"), choices=Journey.MapType.choices)
    persona_ids = IdMultipleChoiceField(
        label=_("Personas"),
        queryset=Persona.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["persona_ids"].queryset = Persona.objects.for_workspace(workspace)

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["persona_ids"] = [persona.pk for persona in data["persona_ids"]]
        return data


class JourneyCreateForm(JourneyForm):
    START_BLANK, START_TEMPLATE = "blank", "template"
    start = forms.ChoiceField(
        label=_("Start from"),
        choices=[
            (START_TEMPLATE, _("The standard journey: nine stages from awareness to loyalty")),
            (START_BLANK, _("A blank journey")),
        ],
        initial=START_TEMPLATE,
        widget=forms.RadioSelect,
    )

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        data["from_template"] = data.pop("start") == self.START_TEMPLATE
        return data


class StageForm(ServiceForm):
    name = forms.CharField(label=_("Stage name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


def split_event_names(value: str) -> list[str]:
    """One event name per line or comma."""
    return [name.strip() for name in re.split(r"[,\n]", value) if name.strip()]


class TouchpointForm(ServiceForm):
    name = forms.CharField(label=_("Touchpoint name"), max_length=120)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    customer_does = forms.CharField(label=_("Does"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    customer_thinks = forms.CharField(label=_("Thinks"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    customer_feels = forms.CharField(label=_("Feels"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    owner_team = forms.CharField(label=_("Owner team"), max_length=120, required=False)
    event_names = forms.CharField(
        label=_("Event names"),
        required=False,
        help_text=_("The events that mean this touchpoint happened, separated by commas."),
    )

    def clean_event_names(self) -> list[str]:
        return split_event_names(self.cleaned_data["event_names"])


class EmbedSettingsForm(ServiceForm):
    field_aliases = {"embed_origins": "origins"}

    origins = forms.CharField(
        label=_("Sites that may show your surveys"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "none"}),
        max_length=4000,
        help_text=_(
            "One origin per line, such as https://shop.example.com (no path). They may frame the survey "
            "form and use embed.js."
        ),
    )

    def service_data(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["origins"].splitlines() if line.strip()]


class DeliverySettingsForm(ServiceForm):
    """The contact policy and the webhook URL (the secret is rotated by its own button)."""

    contact_policy_days = forms.IntegerField(
        label=_("Contact policy (days)"),
        min_value=0,
        max_value=365,
        help_text=_(
            "Survey each customer at most once in this many days, whatever the survey or channel. "
            "0 turns the workspace-wide limit off; each rule's recontact period still applies."
        ),
    )
    webhook_url = forms.CharField(
        label=_("Webhook URL"),
        required=False,
        max_length=500,
        widget=forms.URLInput(attrs={"spellcheck": "false", "autocapitalize": "none", "size": 60}),
        help_text=_(
            "Invitations on the “webhook” channel are POSTed here, signed, for your own system to deliver. "
            "Leave it empty to turn webhooks off."
        ),
    )


class EventNameMapForm(ServiceForm):
    """Map one received event name to a touchpoint (the events page)."""

    field_aliases = {"event_names": "touchpoint"}

    name = forms.CharField(widget=forms.HiddenInput, max_length=200)
    touchpoint = forms.TypedChoiceField(label=_("Touchpoint"), coerce=int)

    def __init__(self, *args: Any, touchpoints: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["touchpoint"].choices = [("", "—")] + [
            (t.pk, f"{t.stage.journey.name} › {t.stage.name} › {t.name}") for t in touchpoints
        ]
