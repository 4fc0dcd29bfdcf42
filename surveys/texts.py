"""Survey text in many languages: reading with fallback, and finding what is missing.

Texts are stored per language (``{"en": {"text": ...}, "pl": {...}}``). A reader
asks for a language and gets that language's text, or the survey default
language's when it is missing, so a half-translated survey still shows every
question. The designer uses :func:`missing_texts` to show what is left to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SURVEY_TEXT_FIELDS = ("title", "intro", "thank_you")
QUESTION_TEXT_FIELDS = ("text", "low_label", "high_label")
#: Texts that must exist in every enabled language for the survey to be complete.
REQUIRED_SURVEY_TEXTS = ("title",)
SCALE_TYPES = ("nps", "csat", "ces", "rating")
CHOICE_TYPES = ("single_choice", "multiple_choice")


def text_for(texts: Mapping[str, Any], field: str, language: str, default_language: str) -> str:
    """``texts[language][field]``, else the default language's, else ``""``."""
    for code in (language, default_language):
        value = (texts.get(code) or {}).get(field)
        if value:
            return str(value)
    return ""


def option_label(option: Mapping[str, Any], language: str, default_language: str) -> str:
    labels = option.get("labels") or {}
    return str(labels.get(language) or labels.get(default_language) or option.get("key", ""))


def question_required_texts(question_type: str) -> tuple[str, ...]:
    """The texts a question of this type needs in every language."""
    return ("text", "low_label", "high_label") if question_type in SCALE_TYPES else ("text",)


def missing_texts(
    *,
    languages: Iterable[str],
    survey_texts: Mapping[str, Any],
    questions: Iterable[Any],
) -> dict[str, list[str]]:
    """Per language, the texts that are not written yet (``"title"``, ``"q2.text"``, ``"q3.option.price"``).

    ``questions`` are objects with ``order``, ``type``, ``texts`` and ``options``;
    archived questions should be left out by the caller.
    """
    questions = list(questions)
    missing: dict[str, list[str]] = {}
    for language in languages:
        gaps = [name for name in REQUIRED_SURVEY_TEXTS if not (survey_texts.get(language) or {}).get(name)]
        for question in questions:
            texts = question.texts.get(language) or {}
            gaps += [
                f"q{question.order}.{name}" for name in question_required_texts(question.type) if not texts.get(name)
            ]
            if question.type in CHOICE_TYPES:
                gaps += [
                    f"q{question.order}.option.{option['key']}"
                    for option in question.options
                    if not (option.get("labels") or {}).get(language)
                ]
        missing[language] = gaps
    return missing
