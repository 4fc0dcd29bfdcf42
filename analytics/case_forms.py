"""Forms of the follow-up pages. They check shape and choices; :mod:`analytics.cases` checks the rules.

Dates and times are read and shown in the workspace's time zone (the views
activate it), so "due 17:00" means 17:00 where the team works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics.cases import NOTE_MAX_LENGTH
from analytics.models import CaseSource, CaseStatus
from touchpoints.forms import ServiceForm

#: The assignee filter's special values.
ASSIGNEE_ME, ASSIGNEE_NONE = "me", "none"


def _choose(form: forms.Form, name: str, choices: list[tuple[str, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)  # noqa: S101 - a programming error, not input
    field.choices = choices


def _user_choices(users: Any) -> list[tuple[str, str]]:
    return [(str(user.pk), user.get_full_name() or user.get_username()) for user in users]


class CaseFilterForm(ServiceForm):
    """``/follow-up/?status=open&owner_team=Support&assignee=me&overdue=on``: every field optional."""

    status = forms.ChoiceField(label=_("Status"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    owner_team = forms.ChoiceField(label=_("Owner team"), required=False)
    journey = forms.ChoiceField(label=_("Journey"), required=False)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def __init__(self, *args: Any, teams: list[str], journeys: Any, assignees: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "status", [("", _("Any status")), *CaseStatus.choices])
        _choose(self, "source", [("", _("Any source")), *CaseSource.choices])
        _choose(self, "owner_team", [("", _("Any team")), *((team, team) for team in teams)])
        _choose(self, "journey", [("", _("Any journey")), *((str(j.pk), j.name) for j in journeys)])
        _choose(
            self,
            "assignee",
            [("", _("Anyone")), (ASSIGNEE_ME, _("Me")), (ASSIGNEE_NONE, _("Unassigned")), *_user_choices(assignees)],
        )


class CaseUpdateForm(ServiceForm):
    status = forms.ChoiceField(label=_("Status"), choices=CaseStatus.choices)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    due_at = forms.DateTimeField(
        label=_("Due"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def __init__(self, *args: Any, assignees: Any, zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "assignee", [("", _("Unassigned")), *_user_choices(assignees)])
        self.fields["due_at"].help_text = _("Date and time in %(zone)s.") % {"zone": zone}

    def service_data(self, *, current_due_at: datetime) -> dict[str, Any]:
        """The changes for :func:`analytics.cases.case_update`; a due date the form shows unchanged (it has
        minutes only) is left out, so an overdue case can change its status without a new due date."""
        data = self.cleaned_data
        changes = {
            "status": data["status"],
            "assignee_id": int(data["assignee"]) if data["assignee"] else None,
        }
        if data["due_at"] != current_due_at.replace(second=0, microsecond=0):
            changes["due_at"] = data["due_at"]
        return changes


class CaseNoteForm(ServiceForm):
    text = forms.CharField(
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What was done or agreed, e.g. “Called the customer, refund issued.”"),
    )
