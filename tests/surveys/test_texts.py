"""Text fallback and missing-text detection (pure functions, no database)."""

from __future__ import annotations

from types import SimpleNamespace

from surveys.texts import missing_texts, option_label, text_for

TEXTS = {"en": {"text": "How likely?", "low_label": "Not at all"}, "pl": {"text": "Jak bardzo?"}}


def test_text_in_the_asked_language():
    assert text_for(TEXTS, "text", "pl", "en") == "Jak bardzo?"


def test_missing_text_falls_back_to_the_default_language():
    assert text_for(TEXTS, "low_label", "pl", "en") == "Not at all"
    assert text_for(TEXTS, "text", "hu", "en") == "How likely?"


def test_missing_everywhere_is_empty():
    assert text_for(TEXTS, "high_label", "pl", "en") == ""


def test_option_label_falls_back_to_default_then_key():
    option = {"key": "price", "labels": {"en": "Price"}}
    assert option_label(option, "pl", "en") == "Price"
    assert option_label({"key": "price", "labels": {}}, "pl", "en") == "price"


def test_missing_texts_lists_what_each_language_lacks():
    questions = [
        SimpleNamespace(order=1, type="nps", texts=TEXTS, options=[]),
        SimpleNamespace(
            order=2,
            type="single_choice",
            texts={"en": {"text": "Why?"}, "pl": {"text": "Dlaczego?"}},
            options=[
                {"key": "price", "labels": {"en": "Price", "pl": "Cena"}},
                {"key": "speed", "labels": {"en": "Speed"}},
            ],
        ),
    ]
    missing = missing_texts(languages=["en", "pl"], survey_texts={"en": {"title": "T"}}, questions=questions)
    assert missing["en"] == ["q1.high_label"]
    assert missing["pl"] == ["title", "q1.low_label", "q1.high_label", "q2.option.speed"]
