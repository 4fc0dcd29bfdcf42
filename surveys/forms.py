"""Forms of the survey designer. They validate shape; :mod:`surveys.services` validates rules."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from config.errors import ApplicationError
from surveys.models import (
    SCALES,
    TARGET_HALF_WIDTH_RANGE,
    Invitation,
    PrecisionPeriod,
    Question,
    SamplingMode,
    Survey,
)
from surveys.survey_templates import TEMPLATES
from surveys.texts import CHOICE_TYPES, QUESTION_TEXT_FIELDS, SURVEY_TEXT_FIELDS, option_label, text_for
from touchpoints.forms import ServiceForm

BLANK = ""


class SurveyCreateForm(ServiceForm):
    template = forms.ChoiceField(
        label=_("Start from"),
        choices=[(BLANK, _("A blank survey"))] + [(key, spec["label"]) for key, spec in TEMPLATES.items()],
        required=False,
        initial="relationship_nps",
    )
    name = forms.CharField(label=_("Name"), max_length=120, required=False, help_text=_("Optional with a template."))
    kind = forms.ChoiceField(label=_("Kind"), choices=Survey.Kind.choices, initial=Survey.Kind.NPS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("template") and not cleaned.get("name"):
            self.add_error("name", _("Name a blank survey."))
        return cleaned


class QuestionAddForm(ServiceForm):
    type = forms.ChoiceField(label=_("Question type"), choices=Question.Type.choices)
    text = forms.CharField(label=_("Question"), max_length=2000)
    low_label = forms.CharField(label=_("Label of the lowest score"), max_length=2000, required=False)
    high_label = forms.CharField(label=_("Label of the highest score"), max_length=2000, required=False)
    options = forms.CharField(
        label=_("Options"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Choice questions: one option per line."),
    )
    is_required = forms.BooleanField(label=_("Required"), required=False)
    condition_question = forms.TypedChoiceField(
        label=_("Show only when the answer to"), coerce=int, required=False, empty_value=None
    )
    condition_operator = forms.ChoiceField(
        label=_("is"), choices=[("", "—"), *Question.Operator.choices], required=False
    )
    condition_value = forms.CharField(
        label=_("Value"), required=False, max_length=200, help_text=_("A score, or option keys separated by commas.")
    )
    field_aliases = {"texts": "text", "condition_question_id": "condition_question"}

    def __init__(self, *args: Any, survey: Survey, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.survey = survey
        earlier = survey.questions.filter(is_archived=False).exclude(type=Question.Type.TEXT).order_by("order")
        self.fields["condition_question"].choices = [("", "—")] + [
            (q.pk, f"{q.order}. {text_for(q.texts, 'text', survey.default_language, survey.default_language)[:60]}")
            for q in earlier
        ]

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        language = self.survey.default_language
        texts = {name: data[name] for name in ("text", "low_label", "high_label") if data.get(name)}
        options = [
            {"key": _option_key(label, index), "labels": {language: label.strip()}}
            for index, label in enumerate(line for line in data["options"].splitlines() if line.strip())
        ]
        value: Any = None
        raw = data.get("condition_value", "").strip()
        if data.get("condition_question"):
            parts = [part.strip() for part in raw.split(",") if part.strip()]
            parsed = [int(part) if part.lstrip("-").isdigit() else part for part in parts]
            value = parsed if data.get("condition_operator") == "in" else (parsed[0] if parsed else None)
        return {
            "type": data["type"],
            "texts": {language: texts},
            "options": options,
            "is_required": data["is_required"],
            "condition_question_id": data.get("condition_question"),
            "condition_operator": data.get("condition_operator") or "",
            "condition_value": value,
        }


class QuestionEditForm(QuestionAddForm):
    """Change a question's type, default-language texts, options, required flag and condition.

    Other languages' texts are kept (they are edited on the translations page). An
    option whose label is unchanged keeps its key and translations, so answers
    already given still point at it. A question with answers keeps its type.
    """

    def __init__(self, *args: Any, question: Question, has_answers: bool, **kwargs: Any) -> None:
        survey = question.survey
        default = survey.default_language
        texts = question.texts.get(default) or {}
        value = question.condition_value
        initial = {
            "type": question.type,
            "text": texts.get("text", ""),
            "low_label": texts.get("low_label", ""),
            "high_label": texts.get("high_label", ""),
            "options": "\n".join(option_label(option, default, default) for option in question.options),
            "is_required": question.is_required,
            "condition_question": question.condition_question_id,
            "condition_operator": question.condition_operator,
            "condition_value": ", ".join(map(str, value))
            if isinstance(value, list)
            else ("" if value is None else value),
        }
        super().__init__(*args, survey=survey, initial=initial, **kwargs)
        self.question = question
        earlier = _earlier_ids(question)  # one query, not one per choice
        self.fields["condition_question"].choices = [
            (pk, label) for pk, label in self.fields["condition_question"].choices if pk == "" or pk in earlier
        ]
        if has_answers:
            self.fields["type"].disabled = True
            self.fields["type"].help_text = _("The question has answers, so its type is fixed.")

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        question, default = self.question, self.survey.default_language
        data["texts"] = {**question.texts, default: data["texts"][default]}
        by_label = {option_label(option, default, default): option for option in question.options}
        kept = [by_label.get(option["labels"][default]) for option in data["options"]]
        used = {option["key"] for option in kept if option}
        options = []
        for new, old in zip(data["options"], kept, strict=True):
            if old is not None:
                options.append({"key": old["key"], "labels": {**old.get("labels", {}), **new["labels"]}})
                continue
            key = new["key"]
            while key in used:
                key += "_"
            used.add(key)
            options.append(new)
            options[-1]["key"] = key
        data["options"] = options
        return data


def _earlier_ids(question: Question) -> set[int]:
    return set(
        question.survey.questions.filter(order__lt=question.order, is_archived=False).values_list("pk", flat=True)
    )


class InvitationSendForm(ServiceForm):
    """A manual send: one invitation per listed customer."""

    field_aliases = {"survey": "customers"}

    customers = forms.CharField(
        label=_("Customers"),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "none"}),
        max_length=100_000,
        help_text=_("External ids, one per line or separated by commas; at most 1,000."),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=Invitation.Channel.choices, initial=Invitation.Channel.LINK)
    language = forms.ChoiceField(label=_("Language"), required=False)
    touchpoint = forms.TypedChoiceField(label=_("Touchpoint"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, survey: Survey, touchpoints: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("The customer's language"))] + [
            (code, code.upper()) for code in survey.languages
        ]
        self.fields["touchpoint"].choices = [("", "—")] + [
            (t.pk, f"{t.stage.journey.name} › {t.stage.name} › {t.name}") for t in touchpoints
        ]

    def external_ids(self) -> list[str]:
        raw = self.cleaned_data["customers"].replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]


def _option_key(label: str, index: int) -> str:

    return slugify(label).replace("-", "_")[:40] or f"option_{index + 1}"


class TranslationForm(forms.Form):
    """Every text of a survey in one language, beside the default language's (shown by the template)."""

    def __init__(self, *args: Any, survey: Survey, questions: list[Question], language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.survey, self.questions, self.language = survey, questions, language
        default = survey.default_language
        self.rows: list[tuple[str, str, str]] = []  # (field name, label, default-language text)
        for name in SURVEY_TEXT_FIELDS:
            self._add(f"survey__{name}", _survey_label(name), survey.texts, name, default)
        for question in questions:
            names = QUESTION_TEXT_FIELDS if question.type in SCALES else ("text",)
            for name in names:
                label = f"{question.order}. {_question_label(name)}"
                self._add(f"q{question.pk}__{name}", label, question.texts, name, default)
            if question.type in CHOICE_TYPES:
                for index, option in enumerate(question.options):
                    option_name = _("Option %(number)d") % {"number": index + 1}
                    label = f"{question.order}. {option_name}"
                    self._add(f"q{question.pk}__option__{index}", label, option.get("labels") or {}, None, default)

    def _add(self, field_name: str, label: str, texts: dict, name: str | None, default: str) -> None:
        """One text field; ``name=None`` when ``texts`` maps languages straight to strings (option labels)."""

        def pick(language: str) -> str:
            value = texts.get(language) if name is None else (texts.get(language) or {}).get(name)
            return value if isinstance(value, str) else ""

        self.fields[field_name] = forms.CharField(
            label=label,
            required=False,
            max_length=2000,
            initial=pick(self.language),
            widget=forms.Textarea(attrs={"rows": 2, "lang": self.language}),
        )
        self.rows.append((field_name, label, pick(default)))

    def survey_texts(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"survey__{name}"] for name in SURVEY_TEXT_FIELDS}

    def question_texts(self, question: Question) -> dict[str, str]:
        prefix = f"q{question.pk}__"
        return {
            key[len(prefix) :]: value
            for key, value in self.cleaned_data.items()
            if key.startswith(prefix) and "__option__" not in key
        }

    def question_options(self, question: Question) -> list[dict[str, Any]] | None:
        """The question's options with this language's labels as typed (a blank one removes it); None if no options."""
        if question.type not in CHOICE_TYPES:
            return None
        options = []
        for index, option in enumerate(question.options):
            labels = {**(option.get("labels") or {})}
            typed = self.cleaned_data.get(f"q{question.pk}__option__{index}", "").strip()
            if typed:
                labels[self.language] = typed
            else:
                labels.pop(self.language, None)
            options.append({**option, "labels": labels})
        return options


def _survey_label(name: str) -> str:
    return {"title": _("Title"), "intro": _("Introduction"), "thank_you": _("Thank-you message")}[name]


def _question_label(name: str) -> str:
    return {"text": _("Question"), "low_label": _("Lowest score label"), "high_label": _("Highest score label")}[name]


# --- Trigger rules ----------------------------------------------------------------------

#: ``properties.total > 100``: a field, an operator, a value (none for ``exists``).
CONDITION_LINE = re.compile(r"^\s*(?P<field>\S+)\s+(?P<op>==|=|!=|>|<|eq|ne|gt|lt|in|exists)(?:\s+(?P<value>.*?))?\s*$")
OPERATOR_WORDS = {"=": "eq", "==": "eq", "!=": "ne", ">": "gt", "<": "lt"}
OPERATOR_SYMBOLS = {"eq": "=", "ne": "!=", "gt": ">", "lt": "<", "in": "in", "exists": "exists"}


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_conditions(text: str) -> list[dict[str, Any]]:
    """One condition per line (``traits.plan in pro, team``); raises ``ValidationError`` naming the line."""
    conditions = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = CONDITION_LINE.match(line)
        if match is None or (match["op"] != "exists" and not match["value"]):
            raise forms.ValidationError(
                _("Line %(number)d: write a field, an operator and a value, e.g. properties.total > 100.")
                % {"number": number}
            )
        operator = OPERATOR_WORDS.get(match["op"], match["op"])
        value: Any = None
        if operator == "in":
            value = [_unquote(item) for item in match["value"].split(",") if item.strip()]
        elif operator != "exists":
            value = _unquote(match["value"])
        conditions.append({"field": match["field"], "operator": operator, "value": value})
    return conditions


def format_conditions(conditions: list[dict[str, Any]]) -> str:
    """The text :func:`parse_conditions` reads back."""
    lines = []
    for condition in conditions:
        operator, value = condition["operator"], condition.get("value")
        if operator == "exists":
            lines.append(f"{condition['field']} exists")
            continue
        if operator == "in":
            shown = ", ".join(str(item) for item in value or ())
        elif isinstance(value, float) and value.is_integer():
            shown = str(int(value))
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"{condition['field']} {OPERATOR_SYMBOLS[operator]} {shown}")
    return "\n".join(lines)


class TriggerRuleForm(ServiceForm):
    """A rule, in the words of a CX team: delays in minutes/hours/days, sampling in percent."""

    UNITS = {"minutes": 1, "hours": 60, "days": 60 * 24}

    survey = forms.TypedChoiceField(label=_("Survey"), coerce=int)
    touchpoint = forms.TypedChoiceField(label=_("Touchpoint"), coerce=int)
    channel = forms.ChoiceField(label=_("Channel"), choices=Invitation.Channel.choices)
    fallback_channel = forms.ChoiceField(
        label=_("Fallback channel"),
        choices=[(BLANK, _("None"))] + list(Invitation.Channel.choices),
        required=False,
        help_text=_("Used when the channel cannot reach the customer (no email address, no webhook URL)."),
    )
    delay = forms.IntegerField(label=_("Delay after the event"), min_value=0, max_value=129_600, initial=0)
    delay_unit = forms.ChoiceField(
        label=_("Delay unit"),
        choices=[("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days"))],
        initial="hours",
    )
    sampling_mode = forms.ChoiceField(
        label=_("Sampling mode"),
        choices=SamplingMode.choices,
        initial=SamplingMode.FIXED,
        required=False,  # absent: fixed rate
        widget=forms.RadioSelect,
        help_text=_(
            "Fixed rate: invite this share of eligible events. Target precision: invite just enough customers "
            "for each period's NPS interval to reach the target below, then stop until the next period."
        ),
    )
    sampling_percent = forms.DecimalField(
        label=_("Sampling (percent of eligible events)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial=100,
        help_text=_("With target precision: the most it may invite, and the fixed rate its savings are compared with."),
    )
    target_half_width = forms.DecimalField(
        label=_("Target precision (± NPS points)"),
        min_value=TARGET_HALF_WIDTH_RANGE[0],
        max_value=TARGET_HALF_WIDTH_RANGE[1],
        decimal_places=1,
        required=False,
        help_text=_(
            "Target precision only: e.g. 10 for an NPS known within ±10 points (95 percent interval). "
            "Halving it needs about four times the answers."
        ),
    )
    precision_period_days = forms.TypedChoiceField(
        label=_("Precision period"),
        choices=PrecisionPeriod.choices,
        coerce=int,
        initial=PrecisionPeriod.WEEK,
        required=False,  # absent: a week
        help_text=_("Target precision only: the target holds for each period (UTC; a week is Monday to Sunday)."),
    )
    conditions = forms.CharField(
        label=_("Conditions"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "none"}),
        max_length=10_000,
        help_text=_(
            "One per line, all must hold: properties.total > 100 · traits.plan in pro, team · "
            "traits.country != PL · properties.coupon exists"
        ),
    )
    recontact_days = forms.IntegerField(
        label=_("Recontact period (days)"),
        min_value=0,
        max_value=3650,
        initial=90,
        help_text=_("No second invitation to this survey within this many days."),
    )
    daily_cap = forms.IntegerField(
        label=_("Daily cap"), min_value=1, max_value=10_000_000, required=False, help_text=_("Blank: no cap.")
    )
    quiet_hours_start = forms.TimeField(
        label=_("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_hours_end = forms.TimeField(
        label=_("Quiet hours until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=_("In the customer's time zone; invitations due then wait until the end."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    field_aliases = {"delay_minutes": "delay", "sampling_rate": "sampling_percent"}

    def __init__(self, *args: Any, surveys: list[Survey], touchpoints: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survey"].choices = [(survey.pk, survey.name) for survey in surveys]
        self.fields["touchpoint"].choices = [(t.pk, f"{t.stage.name} › {t.name}") for t in touchpoints]

    @classmethod
    def initial_for(cls, rule: Any) -> dict[str, Any]:
        delay, unit = rule.delay_minutes, "minutes"
        for name in ("days", "hours"):
            if delay and delay % cls.UNITS[name] == 0:
                delay, unit = delay // cls.UNITS[name], name
                break
        return {
            "survey": rule.survey_id,
            "touchpoint": rule.touchpoint_id,
            "channel": rule.channel,
            "fallback_channel": rule.fallback_channel,
            "delay": delay,
            "delay_unit": unit,
            "sampling_mode": rule.sampling_mode,
            "sampling_percent": round(rule.sampling_rate * 100, 2),
            "target_half_width": rule.target_half_width,
            "precision_period_days": rule.precision_period_days,
            "conditions": format_conditions(rule.conditions),
            "recontact_days": rule.recontact_days,
            "daily_cap": rule.daily_cap,
            "quiet_hours_start": rule.quiet_hours_start,
            "quiet_hours_end": rule.quiet_hours_end,
            "is_active": rule.is_active,
        }

    def clean_conditions(self) -> list[dict[str, Any]]:
        return parse_conditions(self.cleaned_data["conditions"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        precise = cleaned.get("sampling_mode") == SamplingMode.PRECISION
        if precise and "target_half_width" not in self.errors and cleaned.get("target_half_width") is None:
            self.add_error("target_half_width", _("Give the target precision, in NPS points (e.g. 10 for ±10)."))
        return cleaned

    def add_application_error(self, error: ApplicationError) -> None:
        """``conditions.2.value`` from the service becomes "Line 3: …" on the conditions field."""
        fields: dict[str, list[str]] = {}
        for name, messages in error.fields.items():
            parts = name.split(".")
            if parts[0] == "conditions" and len(parts) > 1 and parts[1].isdigit():
                number = int(parts[1]) + 1
                messages = [_("Line %(number)d: %(message)s") % {"number": number, "message": m} for m in messages]
                name = "conditions"
            fields.setdefault(name, []).extend(messages)
        super().add_application_error(ApplicationError(error.message, code=error.code, fields=fields))

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "channel": data["channel"],
            "fallback_channel": data["fallback_channel"],
            "delay_minutes": data["delay"] * self.UNITS[data["delay_unit"]],
            "sampling_rate": float(data["sampling_percent"]) / 100,
            "sampling_mode": data["sampling_mode"] or SamplingMode.FIXED,
            "target_half_width": None if data["target_half_width"] is None else float(data["target_half_width"]),
            "precision_period_days": data["precision_period_days"] or PrecisionPeriod.WEEK,
            "conditions": data["conditions"],
            "recontact_days": data["recontact_days"],
            "daily_cap": data["daily_cap"],
            "quiet_hours_start": data["quiet_hours_start"],
            "quiet_hours_end": data["quiet_hours_end"],
            "is_active": data["is_active"],
        }


class DecisionLookupForm(forms.Form):
    customer = forms.CharField(label=_("Customer external id"), max_length=200)
