"""Ready surveys with the standard wording in English, Russian, Polish and Hungarian.

Each template is a survey kind, survey texts per language and its questions; a
question's ``condition`` refers to an earlier question by its 1-based order.
``{company}`` is replaced by the workspace name when a survey is created.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

LANGUAGES = ("en", "ru", "pl", "hu")

SURVEY_TEXTS = {
    "en": {
        "intro": "We'd love your feedback. It takes less than a minute.",
        "thank_you": "Thank you for your feedback!",
    },
    "ru": {"intro": "Нам важно ваше мнение. Это займёт меньше минуты.", "thank_you": "Спасибо за ваш отзыв!"},
    "pl": {
        "intro": "Twoja opinia jest dla nas ważna. Zajmie to mniej niż minutę.",
        "thank_you": "Dziękujemy za opinię!",
    },
    "hu": {
        "intro": "Fontos számunkra a véleménye. Kevesebb mint egy percet vesz igénybe.",
        "thank_you": "Köszönjük a visszajelzését!",
    },
}

NPS_LABELS = {
    "en": ("Not at all likely", "Extremely likely"),
    "ru": ("Совсем маловероятно", "Очень вероятно"),
    "pl": ("Zupełnie nieprawdopodobne", "Bardzo prawdopodobne"),
    "hu": ("Egyáltalán nem valószínű", "Nagyon valószínű"),
}
CSAT_LABELS = {
    "en": ("Very dissatisfied", "Very satisfied"),
    "ru": ("Очень недоволен", "Очень доволен"),
    "pl": ("Bardzo niezadowolony", "Bardzo zadowolony"),
    "hu": ("Nagyon elégedetlen", "Nagyon elégedett"),
}
CES_LABELS = {
    "en": ("Strongly disagree", "Strongly agree"),
    "ru": ("Полностью не согласен", "Полностью согласен"),
    "pl": ("Zdecydowanie się nie zgadzam", "Zdecydowanie się zgadzam"),
    "hu": ("Egyáltalán nem értek egyet", "Teljes mértékben egyetértek"),
}
CES_DIFFICULTY = {
    "en": "What made it difficult?",
    "ru": "Что вызвало трудности?",
    "pl": "Co sprawiło trudność?",
    "hu": "Mi okozott nehézséget?",
}
NPS_REASON = {
    "en": "What is the main reason for your score?",
    "ru": "Какова основная причина вашей оценки?",
    "pl": "Jaki jest główny powód Twojej oceny?",
    "hu": "Mi a fő oka az értékelésének?",
}


def _scale(question: dict[str, str], labels: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {
        code: {"text": question[code], "low_label": labels[code][0], "high_label": labels[code][1]}
        for code in LANGUAGES
    }


def _text(question: dict[str, str]) -> dict[str, dict[str, str]]:
    return {code: {"text": question[code]} for code in LANGUAGES}


def _titles(title: dict[str, str]) -> dict[str, dict[str, str]]:
    return {code: {"title": title[code], **SURVEY_TEXTS[code]} for code in LANGUAGES}


TEMPLATES: dict[str, dict[str, Any]] = {
    "relationship_nps": {
        "label": _("Relationship NPS"),
        "kind": "nps",
        "texts": _titles(
            {
                "en": "Your opinion of {company}",
                "ru": "Ваше мнение о {company}",
                "pl": "Twoja opinia o {company}",
                "hu": "Az Ön véleménye: {company}",
            }
        ),
        "questions": [
            {
                "type": "nps",
                "is_required": True,
                "texts": _scale(
                    {
                        "en": "How likely are you to recommend {company} to a friend or colleague?",
                        "ru": "Насколько вероятно, что вы порекомендуете {company} другу или коллеге?",
                        "pl": "Jak prawdopodobne jest, że polecisz {company} znajomemu lub współpracownikowi?",
                        "hu": "Mennyire valószínű, hogy ajánlaná a(z) {company} céget "
                        "egy barátjának vagy kollégájának?",
                    },
                    NPS_LABELS,
                ),
            },
            {"type": "text", "texts": _text(NPS_REASON)},
        ],
    },
    "transactional_nps": {
        "label": _("Transactional NPS"),
        "kind": "nps",
        "texts": _titles(
            {
                "en": "Your recent experience",
                "ru": "Ваш недавний опыт",
                "pl": "Twoje ostatnie doświadczenie",
                "hu": "Legutóbbi tapasztalata",
            }
        ),
        "questions": [
            {
                "type": "nps",
                "is_required": True,
                "texts": _scale(
                    {
                        "en": "Based on your recent experience, how likely are you to recommend {company} "
                        "to a friend or colleague?",
                        "ru": "Исходя из вашего недавнего опыта, насколько вероятно, что вы порекомендуете {company} "
                        "другу или коллеге?",
                        "pl": "Biorąc pod uwagę Twoje ostatnie doświadczenie, jak prawdopodobne jest, że polecisz "
                        "{company} znajomemu lub współpracownikowi?",
                        "hu": "Legutóbbi tapasztalata alapján mennyire valószínű, hogy ajánlaná a(z) {company} céget "
                        "egy barátjának vagy kollégájának?",
                    },
                    NPS_LABELS,
                ),
            },
            {"type": "text", "texts": _text(NPS_REASON)},
        ],
    },
    "csat_support": {
        "label": _("CSAT after a support contact"),
        "kind": "csat",
        "texts": _titles(
            {
                "en": "Your support experience",
                "ru": "Ваш опыт обращения в поддержку",
                "pl": "Twoje doświadczenie z obsługą klienta",
                "hu": "Ügyfélszolgálati tapasztalata",
            }
        ),
        "questions": [
            {
                "type": "csat",
                "is_required": True,
                "texts": _scale(
                    {
                        "en": "How satisfied were you with the support you received?",
                        "ru": "Насколько вы довольны полученной поддержкой?",
                        "pl": "Jak bardzo jesteś zadowolony z otrzymanej pomocy?",
                        "hu": "Mennyire elégedett a kapott ügyfélszolgálati segítséggel?",
                    },
                    CSAT_LABELS,
                ),
            },
            {
                "type": "text",
                "condition": (1, "lte", 3),
                "texts": _text(
                    {
                        "en": "What could we have done better?",
                        "ru": "Что мы могли бы сделать лучше?",
                        "pl": "Co mogliśmy zrobić lepiej?",
                        "hu": "Mit csinálhattunk volna jobban?",
                    }
                ),
            },
        ],
    },
    "ces_support": {
        "label": _("CES after a support contact"),
        "kind": "ces",
        "texts": _titles(
            {
                "en": "How easy was it?",
                "ru": "Насколько это было легко?",
                "pl": "Jak łatwo było?",
                "hu": "Mennyire volt könnyű?",
            }
        ),
        "questions": [
            {
                "type": "ces",
                "is_required": True,
                "texts": _scale(
                    {
                        "en": "{company} made it easy for me to handle my issue.",
                        "ru": "Мне было легко решить свой вопрос с {company}.",
                        "pl": "Załatwienie mojej sprawy w {company} było łatwe.",
                        "hu": "A(z) {company} segítségével könnyen megoldottam a problémámat.",
                    },
                    CES_LABELS,
                ),
            },
            {
                "type": "text",
                "condition": (1, "lte", 4),
                "texts": _text(CES_DIFFICULTY),
            },
        ],
    },
    "ces_onboarding": {
        "label": _("CES after onboarding"),
        "kind": "ces",
        "texts": _titles(
            {"en": "Getting started", "ru": "Начало работы", "pl": "Pierwsze kroki", "hu": "Első lépések"}
        ),
        "questions": [
            {
                "type": "ces",
                "is_required": True,
                "texts": _scale(
                    {
                        "en": "{company} made it easy for me to get started.",
                        "ru": "Мне было легко начать работу с {company}.",
                        "pl": "Rozpoczęcie korzystania z {company} było łatwe.",
                        "hu": "Könnyen el tudtam kezdeni a(z) {company} használatát.",
                    },
                    CES_LABELS,
                ),
            },
            {
                "type": "text",
                "condition": (1, "lte", 4),
                "texts": _text(CES_DIFFICULTY),
            },
        ],
    },
}
