"""Open-text analysis: normalisation per language and the log-odds terms of detractors against promoters."""

from __future__ import annotations

import math
import random
import re
import unicodedata
from dataclasses import dataclass

import pytest
import stopwordsiso
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import text
from analytics.text import Term, distinguishing_terms, distinguishing_terms_by_language, normalise

LANGUAGES = ("en", "ru", "pl", "hu")


# --- normalise -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "sentence", "lemmas"),
    [
        (
            "en",
            "The delivery was very late and the package arrived broken; support never answered my emails.",
            ["delivery", "late", "package", "arrive", "break", "support", "answer", "email"],
        ),
        (
            "ru",
            "Курьер опоздал на два часа, посылка пришла сломанная, деньги не вернули.",
            ["курьер", "опоздать", "час", "посылка", "прийти", "сломанная", "деньги", "вернуть"],
        ),
        (
            "pl",
            "Dostawa była bardzo opóźniona, paczka przyszła uszkodzona",
            ["dostawa", "opóźnić", "paczka", "przyjść", "uszkodzony"],
        ),
        (
            "hu",
            "A szállítás nagyon késett, a csomag sérült volt, és az ügyfélszolgálat nem válaszolt.",
            ["szállítás", "késik", "csomag", "sérül", "ügyfélszolgálat", "válaszol"],
        ),
    ],
)
def test_normalise_gives_the_content_lemmas_of_real_sentences(language, sentence, lemmas):
    assert normalise(sentence, language) == lemmas


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en", "It is what it is, and that was all of it."),
        ("ru", "Это было то, что они и так знали."),
        ("pl", "Ale to jest tak, jak było."),
        ("hu", "Ez az volt, ami nekem is."),
    ],
)
def test_stop_words_are_removed(language, sentence):
    assert normalise(sentence, language) == []


@pytest.mark.parametrize(
    ("language", "sentence", "kept"),
    [
        ("en", "Good app, but the problem is it stopped working.", {"good", "problem", "work"}),
        ("ru", "Деньги вернули, но ждать пришлось долго, работа хорошая.", {"деньги", "ждать", "долго", "работа"}),
        ("pl", "Wszystko działa dobrze i natychmiast.", {"dobrze", "natychmiast"}),
        ("hu", "Későn jött, és rosszul csomagolták, de jó.", {"késő", "rossz", "jó"}),
    ],
)
def test_words_that_carry_feedback_survive_the_stop_word_lists(language, sentence, kept):
    # stopwords-iso lists these as stop words; KEEP takes them back.
    assert kept <= set(normalise(sentence, language))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kept_word_is_an_exception_to_the_stop_word_list_and_survives(language):
    stop_words = stopwordsiso.stopwords(language)
    for word in text.KEEP[language]:
        assert word in stop_words, word
        assert normalise(word, language), word


@pytest.mark.parametrize("language", LANGUAGES)
def test_negation_words_are_stop_words_and_never_terms_of_their_own(language):
    for word in text.NEGATIONS[language]:
        assert normalise(word, language) == []


def test_numbers_urls_emails_and_single_letters_are_dropped():
    sentence = (
        "Order 12345 cost 99.90 EUR, see https://shop.example.com/orders?id=7 or www.example.org, "
        "write to help.desk@example.com; 3x 10pcs x y z refund_requested"
    )
    assert normalise(sentence, "en") == ["order", "cost", "eur", "write"]


def test_tokens_are_casefolded_and_unicode_normalised():
    decomposed = unicodedata.normalize("NFD", "PACZKA USZKODZONA, Opóźniona")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert normalise(decomposed, "pl") == ["paczka", "uszkodzony", "opóźnić"]
    assert normalise("ДОСТАВКА Сломана", "ru") == normalise("доставка сломана", "ru")


def test_english_contractions_and_possessives():
    # "didn't" is a negation (no unigram); "come" is an English stop word.
    assert normalise("The courier's van didn't come; we've waited, it's broken.", "en") == [
        "courier",
        "van",
        "wait",
        "break",
    ]


@pytest.mark.parametrize("code", ["pl-PL", "PL", "pl_pl", " pl "])
def test_regional_language_codes_use_the_base_language(code):
    assert normalise("Paczka przyszła uszkodzona", code) == ["paczka", "przyjść", "uszkodzony"]


@pytest.mark.parametrize("code", ["xx", "", "de-AT", "und"])
def test_other_languages_are_tokenised_without_lemmas(code):
    # No lemmas (Lieferungen stays as written); German still loses its stop words from stopwords-iso.
    lemmas = normalise("Die Lieferungen kamen 3 Tage zu spät!", code)
    assert "lieferungen" in lemmas
    assert "spät" in lemmas
    assert "3" not in lemmas


def test_text_is_capped_before_analysis():
    # The complaint after the cap is not read, whatever the length of what precedes it.
    padding = "parcel " * (text.MAX_TEXT_CHARS // len("parcel ") + 1)
    assert "zebra" not in normalise(padding + "zebra", "en")
    assert "zebra" in normalise(padding[: text.MAX_TEXT_CHARS - 10] + " zebra", "en")
    huge = "broken " * 200_000  # 1.4 MB
    # The cut does not leave a fragment ("br") of the word it falls in.
    assert normalise(huge, "en") == ["break"] * (text.MAX_TEXT_CHARS // len("broken "))
    assert normalise("x" * 1_000_000, "en") == []


def test_overlong_tokens_are_dropped():
    assert normalise("a" * (text.MAX_TOKEN_CHARS + 1) + " broken", "en") == ["break"]


@settings(max_examples=150, deadline=None)
@given(sentence=st.text(max_size=300), language=st.sampled_from([*LANGUAGES, "pl-PL", "xx", ""]))
def test_normalise_never_raises_and_gives_casefolded_words(sentence, language):
    lemmas = normalise(sentence, language)
    for lemma in lemmas:
        assert lemma.isalpha()
        assert lemma == lemma.casefold()
        assert len(lemma) >= text.MIN_TOKEN_CHARS


# --- distinguishing_terms: a planted-word corpus per language ------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    neutral: str  # in both groups alike, space-separated
    complaints: tuple[str, ...]  # planted in detractor answers
    praise: tuple[str, ...]  # planted in promoter answers
    filler: tuple[str, ...]  # stop words


VOCABULARIES = {
    "en": Vocabulary(
        neutral="delivery order package product price app store customer courier website payment",
        complaints=("late", "broken"),
        praise=("excellent", "friendly"),
        filler=("the", "was", "and", "very"),
    ),
    "ru": Vocabulary(
        neutral="доставка заказ посылка товар цена приложение магазин клиент курьер сайт оплата",
        complaints=("опоздание", "сломан"),
        praise=("отличный", "вежливый"),
        filler=("и", "был", "очень", "это"),
    ),
    "pl": Vocabulary(
        neutral="dostawa paczka produkt cena aplikacja sklep klient kurier strona płatność konto",
        complaints=("opóźniona", "uszkodzona"),
        praise=("świetny", "uprzejmy"),
        filler=("i", "było", "bardzo", "to"),
    ),
    "hu": Vocabulary(
        neutral="szállítás rendelés csomag termék ár alkalmazás bolt vásárló futár weboldal fizetés",
        complaints=("késés", "sérült"),
        praise=("kedves", "gyors"),
        filler=("a", "az", "és", "nagyon"),
    ),
}


def answers(language: str, count: int, *, seed: int, complaint_share: float, praise_share: float) -> list[str]:
    """``count`` answers of 3-6 neutral words and 2 stop words, each planted word with its share."""
    vocabulary = VOCABULARIES[language]
    rng = random.Random(seed)  # noqa: S311 - test data
    result = []
    for _ in range(count):
        words = rng.sample(vocabulary.neutral.split(), rng.randint(3, 6)) + rng.sample(vocabulary.filler, 2)
        words += [word for word in vocabulary.complaints if rng.random() < complaint_share]
        words += [word for word in vocabulary.praise if rng.random() < praise_share]
        rng.shuffle(words)
        result.append(" ".join(words))
    return result


def detractors(language: str, count: int = 200, seed: int = 1) -> list[str]:
    return answers(language, count, seed=seed, complaint_share=0.3, praise_share=0.03)


def promoters(language: str, count: int = 200, seed: int = 2) -> list[str]:
    return answers(language, count, seed=seed, complaint_share=0.03, praise_share=0.3)


def containing(texts: list[str], word: str) -> int:
    return sum(1 for answer in texts if word in answer.split())


@pytest.mark.parametrize("language", LANGUAGES)
def test_planted_complaints_come_out_on_top_and_nothing_else(language):
    vocabulary = VOCABULARIES[language]
    group_a, group_b = detractors(language), promoters(language)

    terms = distinguishing_terms(group_a, group_b, language)

    assert {term.label for term in terms} == set(vocabulary.complaints)
    assert [term.z for term in terms] == sorted((term.z for term in terms), reverse=True)
    for term in terms:
        assert term.z > 3
        assert term.term == normalise(term.label, language)[0]
        assert term.count_a == containing(group_a, term.label)
        assert term.count_b == containing(group_b, term.label)
        assert term.count_a > 3 * term.count_b


@pytest.mark.parametrize("language", LANGUAGES)
def test_promoters_words_are_never_detractor_terms_and_show_up_the_other_way_round(language):
    vocabulary = VOCABULARIES[language]
    group_a, group_b = detractors(language), promoters(language)
    praise_lemmas = {normalise(word, language)[0] for word in vocabulary.praise}
    neutral_lemmas = set(normalise(vocabulary.neutral, language))

    for term in distinguishing_terms(group_a, group_b, language, fdr=1.0, top=1000):
        assert not praise_lemmas & set(term.term.split())

    reverse = distinguishing_terms(group_b, group_a, language)
    assert {term.label for term in reverse} == set(vocabulary.praise)
    assert not any(set(term.term.split()) & neutral_lemmas for term in reverse)


@pytest.mark.parametrize("language", LANGUAGES)
def test_examples_are_up_to_three_distinct_answers_containing_the_term(language):
    group_a, group_b = detractors(language), promoters(language)

    for term in distinguishing_terms(group_a, group_b, language):
        assert len(term.examples) == text.EXAMPLES_PER_TERM
        assert len(set(term.examples)) == len(term.examples)
        for index in term.examples:
            assert term.label in group_a[index].split()


def test_examples_prefer_informative_then_short_answers_and_skip_duplicates():
    group_a = [
        "broken",  # 0: one content word
        "Broken parcel, rude courier, no refund at all, what a disappointing order this was",  # 1: long
        "broken parcel rude courier",  # 2: short and informative
        "BROKEN  parcel rude courier",  # 3: the same answer again
        "broken box, rude staff",  # 4: shortest informative
        "broken broken",  # 5: one content word
    ]
    group_b = ["parcel fine", "courier fine", "box fine"]

    [term] = distinguishing_terms(group_a, group_b, "en", min_count=1, fdr=1.0, top=1)

    assert term.term == "break"
    assert term.examples == (4, 2, 1)


def test_negated_words_become_terms_of_their_own():
    group_a = ["the app doesn't work", "app does not work at all", "it never works on my phone"] * 10
    group_b = ["the app works great", "works well on my phone", "app works fine"] * 10

    terms = distinguishing_terms(group_a, group_b, "en")

    assert terms[0].term == "not work"
    assert terms[0].count_a == 30
    assert terms[0].count_b == 0
    assert "work" not in {term.term for term in terms}


@pytest.mark.parametrize(
    ("language", "complaint", "praise", "expected"),
    [
        ("ru", "приложение не работает", "приложение работает отлично", "не работать"),
        ("pl", "aplikacja nie działa", "aplikacja działa świetnie", "nie działać"),
        ("hu", "az alkalmazás nem működik", "az alkalmazás jól működik", "nem működik"),
    ],
)
def test_negation_in_each_language(language, complaint, praise, expected):
    terms = distinguishing_terms([complaint] * 20, [praise] * 20, language)
    assert terms[0].term == expected


def test_a_word_is_shown_once_even_when_its_bigrams_also_stand_out():
    group_a = detractors("en", count=2000)
    group_b = promoters("en", count=2000)

    terms = distinguishing_terms(group_a, group_b, "en")

    # Without the rule, "late order", "day late", "package broken"... would fill the list. (A chance
    # bigram of two neutral words may pass the 5% false discovery rate beside them: "website app" does
    # here, with Fisher's p = 0.0006.)
    found = {term.term for term in terms}
    assert {"late", "break"} <= found
    assert not [term for term in found - {"late", "break"} if {"late", "break"} & set(term.split())]
    assert {term.term for term in distinguishing_terms(group_a, group_b, "en", fdr=1.0, top=1000)} >= {"late", "break"}
    words = [word for term in terms for word in term.term.split()]
    assert len(words) == len(set(words))


def test_z_matches_the_fightin_words_formula():
    # late in 4 of 10 detractor answers and 1 of 10 promoter answers; parcel in all.
    group_a = ["late parcel"] * 4 + ["parcel"] * 6
    group_b = ["late parcel"] + ["parcel"] * 9
    prior_scale = 100.0

    terms = distinguishing_terms(group_a, group_b, "en", min_count=1, fdr=1.0, prior_scale=prior_scale)

    # Terms counted once an answer: late 4/1, parcel 10/10, "late parcel" 4/1.
    total_a, total_b = 4 + 10 + 4, 1 + 10 + 1
    alpha = prior_scale * (4 + 1) / (total_a + total_b)
    delta = math.log((4 + alpha) / (total_a + prior_scale - 4 - alpha)) - math.log(
        (1 + alpha) / (total_b + prior_scale - 1 - alpha)
    )
    expected_z = delta / math.sqrt(1 / (4 + alpha) + 1 / (1 + alpha))
    # "late parcel" ties with "late" and shares its word; "parcel" is not over-represented (z < 0).
    assert terms == [Term(term="late", label="late", z=pytest.approx(expected_z), count_a=4, count_b=1, examples=(0,))]


def test_a_chance_difference_is_not_reported_but_fdr_one_shows_it():
    group_a = detractors("en", count=60, seed=5)
    group_b = answers("en", 60, seed=6, complaint_share=0.3, praise_share=0.03)  # the same population

    assert distinguishing_terms(group_a, group_b, "en") == []
    assert all(term.z > 0 for term in distinguishing_terms(group_a, group_b, "en", fdr=1.0, top=1000))


def test_a_larger_prior_shrinks_z():
    group_a, group_b = detractors("en", count=60), promoters("en", count=60)

    weak = distinguishing_terms(group_a, group_b, "en", prior_scale=10, fdr=1.0)
    strong = distinguishing_terms(group_a, group_b, "en", prior_scale=10_000, fdr=1.0)

    z_weak = {term.term: term.z for term in weak}
    z_strong = {term.term: term.z for term in strong}
    assert z_strong["late"] < z_weak["late"]


def test_min_count_and_top_limit_the_result():
    group_a, group_b = detractors("en"), promoters("en")

    assert len(distinguishing_terms(group_a, group_b, "en", top=1)) == 1
    assert distinguishing_terms(group_a, group_b, "en", min_count=10_000) == []


def test_output_is_deterministic_and_independent_of_answer_order():
    group_a, group_b = detractors("pl"), promoters("pl")
    first = distinguishing_terms(group_a, group_b, "pl", fdr=1.0, top=50)
    assert distinguishing_terms(group_a, group_b, "pl", fdr=1.0, top=50) == first

    shuffled_a, shuffled_b = group_a[::-1], list(reversed(group_b))
    again = distinguishing_terms(shuffled_a, shuffled_b, "pl", fdr=1.0, top=50)
    assert [(term.term, term.z, term.count_a, term.count_b) for term in again] == [
        (term.term, term.z, term.count_a, term.count_b) for term in first
    ]


@pytest.mark.parametrize(
    ("group_a", "group_b"),
    [
        ([], []),
        (["late delivery"] * 5, []),
        ([], ["great service"] * 5),
        (["", "   ", "\n"], ["", " "]),
        (["the and was", "123 456"], ["it is what it is", "https://example.com"]),
        (["late"] * 10, ["late"] * 10),  # one term in the whole vocabulary
        (["late parcel"] * 10, ["late parcel"] * 10),  # identical groups
        (["late"] * 2, ["fine"] * 2),  # below min_count
    ],
)
def test_empty_and_degenerate_inputs_give_no_terms(group_a, group_b):
    assert distinguishing_terms(group_a, group_b, "en") == []
    assert distinguishing_terms(group_a, group_b, "en", fdr=1.0) == []


@pytest.mark.parametrize("options", [{"top": 0}, {"top": -1}, {"prior_scale": 0}, {"prior_scale": -5}])
def test_nonsense_options_give_no_terms(options):
    assert distinguishing_terms(detractors("en"), promoters("en"), "en", **options) == []


def test_only_group_a_text_beyond_the_cap_is_ignored():
    padding = "parcel " * (text.MAX_TEXT_CHARS // len("parcel ") + 1)
    group_a = [padding + "late"] * 20
    group_b = ["parcel"] * 20

    assert distinguishing_terms(group_a, group_b, "en", fdr=1.0) == []


@settings(max_examples=60, deadline=None)
@given(
    group_a=st.lists(st.text(max_size=80), max_size=15),
    group_b=st.lists(st.text(max_size=80), max_size=15),
    language=st.sampled_from([*LANGUAGES, "xx"]),
    min_count=st.integers(min_value=0, max_value=3),
)
def test_distinguishing_terms_never_raises_and_keeps_its_invariants(group_a, group_b, language, min_count):
    terms = distinguishing_terms(group_a, group_b, language, min_count=min_count, fdr=1.0)
    for term in terms:
        assert term.z > 0
        assert term.count_a >= max(min_count, 1)
        assert 0 < len(term.examples) <= text.EXAMPLES_PER_TERM
        assert all(0 <= index < len(group_a) for index in term.examples)


# --- by language ---------------------------------------------------------------------------------


def mixed_answers(per_language: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for number, language in enumerate(LANGUAGES):
        code = {"pl": "pl-PL", "en": "en-GB"}.get(language, language)
        rows += [(code, "detractor", answer) for answer in detractors(language, per_language, seed=10 + number)]
        rows += [(code, "promoter", answer) for answer in promoters(language, per_language, seed=20 + number)]
        rows += [(language, "passive", " ".join(VOCABULARIES[language].complaints))] * per_language
    random.Random(3).shuffle(rows)  # noqa: S311 - test data
    return rows


def test_each_language_is_analysed_on_its_own():
    rows = mixed_answers(per_language=200)

    result = distinguishing_terms_by_language(rows)

    assert list(result) == ["en", "hu", "pl", "ru"]
    for language, terms in result.items():
        assert {term.label for term in terms} == set(VOCABULARIES[language].complaints)
        for term in terms:
            for index in term.examples:
                row_language, group, answer = rows[index]
                assert text.base_language(row_language) == language
                assert group == "detractor"
                assert term.label in answer.split()
    # Counts come from the detractors and promoters of that language only (passives are ignored).
    [late] = [term for term in result["en"] if term.label == "late"]
    assert late.count_a == sum(
        1 for code, group, answer in rows if code == "en-GB" and group == "detractor" and "late" in answer.split()
    )


def test_a_language_without_promoters_is_present_with_no_terms():
    rows = [("hu", "detractor", "késés sérült csomag")] * 10 + [("en", "promoter", "great")] * 3

    assert distinguishing_terms_by_language(rows) == {"en": [], "hu": []}
    assert distinguishing_terms_by_language([]) == {}


def test_group_names_can_be_chosen():
    rows = [("en", "bad", answer) for answer in detractors("en", 150)]
    rows += [("en", "good", answer) for answer in promoters("en", 150)]

    result = distinguishing_terms_by_language(rows, group_a="bad", group_b="good")

    assert {term.label for term in result["en"]} == {"late", "broken"}


def test_ten_thousand_short_answers_run_in_the_unit_suite():
    # No timing assertion: this only keeps the scale in the quick loop (about a second here).
    rows = mixed_answers(per_language=1250)
    assert len([row for row in rows if row[1] != "passive"]) == 10_000

    result = distinguishing_terms_by_language(rows)

    for language, terms in result.items():
        assert {term.label for term in terms} == set(VOCABULARIES[language].complaints)
        assert all(re.fullmatch(r"\w+", term.label) for term in terms)


def test_a_small_sample_still_finds_a_word_most_detractors_use_and_no_promoter():
    """59 detractor and 33 promoter answers, a word in 40 of the first: the prior alone capped z at 3.1."""
    rng = random.Random(11)  # noqa: S311 - test data
    neutral = VOCABULARIES["en"].neutral.split()

    def texts(count: int, planted: int) -> list[str]:
        return [" ".join(rng.sample(neutral, 4) + (["checkout"] if index < planted else [])) for index in range(count)]

    terms = distinguishing_terms(texts(59, 40), texts(33, 0), "en")
    assert [term.term for term in terms][:1] == ["checkout"]
    assert (terms[0].count_a, terms[0].count_b) == (40, 0)
