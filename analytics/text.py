"""Open-text answers: normalisation and the terms that distinguish detractors from promoters.

Pure functions over strings: no ORM, no I/O beyond the language data that the
installed packages ship, so a selector hands in the answers and a report shows
the result.

**Method.** :func:`distinguishing_terms` is the log-odds ratio with an
informative Dirichlet prior of Monroe, Colaresi & Quinn (2008), "Fightin'
Words" (Political Analysis 16(4), eq. 16-22). For a term *w* with counts
``y_a``, ``y_b`` in groups of total size ``n_a``, ``n_b``, and the prior
``alpha_w = prior_scale * f_w`` where ``f_w`` is the term's share of the combined
corpus and ``alpha_0 = prior_scale``::

    delta = log((y_a + alpha_w) / (n_a + alpha_0 - y_a - alpha_w))
          - log((y_b + alpha_w) / (n_b + alpha_0 - y_b - alpha_w))
    var   = 1 / (y_a + alpha_w) + 1 / (y_b + alpha_w)
    z     = delta / sqrt(var)

Choices on top of the paper:

- A count is the number of *answers* containing the term (each answer counts a
  term once), so one long rant cannot dominate and ``count_a`` reads as
  "mentioned in 42 detractor answers".
- Terms are lemmas, plus bigrams of adjacent kept lemmas within a clause
  ("late delivery", "delivery late" from "delivery was late") and negated
  lemmas ("not work" from "doesn't work", "не работать", "nie działać",
  "nem működik"): detractors complain in phrases, and the negation words on
  their own (stop words) say nothing. Each content lemma appears in at most
  one returned term, the one with the higher z: a strong unigram ("late")
  otherwise drags in every bigram it is part of ("late order", "day late"),
  which say little more than it, and its examples show the context anyway.
- Hundreds of terms are tested at once, so a fixed cut such as z >= 1.96 lets
  chance differences through (on 3,000 answers a group, random bigrams reached
  z = 2.9). A term is returned only when ``count_a >= min_count`` and it passes
  the Benjamini-Hochberg procedure at false discovery rate ``fdr`` (0.05 by
  default) over every term seen in at least ``min_count`` answers of either
  group. The p-values are those of **Fisher's exact test** (one-sided) on the
  answers that contain the term: the z ranks terms well, but its prior, meant
  to tame rare words, also caps it when a group is small, so with 59 detractor
  and 33 promoter answers a word in 40 of the first and none of the second had
  z = 3.1, short of the cut, although the exact p-value is below 1e-11. The
  exact test holds its level at any size, so small samples still return few
  terms or none rather than noise; ``fdr=1`` returns every positive z.
- ``prior_scale`` defaults to :data:`PRIOR_SCALE`: see its comment.

**Libraries** (measured on Python 3.11, this machine):

- Lemmas: ``simplemma`` 2.0.0 for en, ru, pl and hu, the only maintained
  package that covers all four with data inside the wheel (no download).
  Dictionaries are loaded lazily, one per language actually used, and we only
  ever ask for these four. The wheel is 19 MB on disk; in its default
  in-memory mode the four dictionaries take a process from 14 MB to 766 MB RSS,
  so we use ``low_memory=True`` (a front-coded stream searched by bisection):
  116 MB RSS for all four, first use of a language 0.1 s (en) to 1.2 s (pl),
  then 10,000 short answers in about 0.2 s (simplemma keeps a bounded token
  cache). Lemmas read as words, which
  matters because the terms are shown to people: Polish "Dostawa była bardzo
  opóźniona, paczka przyszła uszkodzona" gives dostawa, opóźnić, paczka,
  przyjść, uszkodzony; Russian "посылка пришла сломанной" gives посылка,
  прийти; Hungarian "a csomag sérülten érkezett" gives csomag, érkezik.
  ``snowballstemmer`` 3.1.1 was rejected: it has no Polish, and its stems are
  not words ("deliveri", "опоздан", "udvariatl"), which would need un-stemming
  for display. Each term also carries the answers' most common surface form
  (``label``), e.g. "opóźniona" for the lemma "opóźnić".
- Stop words: ``stopwordsiso`` 0.7.1 (the stopwords-iso lists, 228 KB, all
  four languages). Those lists are built for search and drop words that carry
  the meaning of feedback ("good", "problem", "work", "order", "работать",
  "деньги", "ждать", "dobrze", "késő", "rosszul"), so :data:`KEEP` takes such
  words back out, per language. ``stop-words`` 2025.11.4 has the same problem.
- Negation words (:data:`NEGATIONS`) are stop words but mark the next kept
  lemma, forming the "not …" bigrams above.

Any other language gets the same tokenisation and the stopwords-iso list when
there is one, without lemmas. Regional codes (``pl-PL``, ``en_GB``) use their
base language.

**Limits.** Each text is cut to :data:`MAX_TEXT_CHARS` characters and tokens
longer than :data:`MAX_TOKEN_CHARS` are ignored, so a crafted answer costs
bounded time and memory: a real answer takes about 20 µs, a 5,000-character
answer of made-up words in ru, pl or hu up to about 0.1 s (simplemma tries
affix splits of unknown words, each a lookup in the low-memory dictionary).
The caller bounds the number of answers. Output is deterministic: ties are
broken by the term, examples by position.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import simplemma
import stopwordsiso
from scipy import stats
from simplemma.strategies import DefaultStrategy

#: Languages lemmatised with simplemma; others are tokenised only.
LEMMATIZED_LANGUAGES = frozenset({"en", "ru", "pl", "hu"})
#: Longer texts are cut to this many characters before analysis.
MAX_TEXT_CHARS = 5_000
#: Tokens shorter than this are dropped (single letters); "jó" and "не" are long enough.
MIN_TOKEN_CHARS = 2
#: Tokens longer than this are dropped (garbage, pasted hashes); the longest
#: real words here ("высококвалифицированный", "ügyfélszolgálatosokkal") have 23.
MAX_TOKEN_CHARS = 30
#: alpha_0, the prior's total pseudo-count (Monroe et al.'s scaling: it does not
#: grow with the corpus, so it matters only while the corpus, about 15 term
#: counts an answer, is small). Chosen on a synthetic study (two planted
#: complaint words in 30% of detractor answers and 3% of promoter ones, 20 seeds
#: a size): planted words found out of 40 with alpha_0 = 10 / 100 / 500 were
#: 6 / 14 / 2 at 60 answers a group, 37 / 38 / 32 at 100 and 40 each at 200,
#: with no other term returned, nor any from two samples of one population.
#: That study cut on the z; the cut is now Fisher's exact test (see the module
#: docstring), so the prior only orders the terms that pass it.
PRIOR_SCALE = 100.0
#: Benjamini-Hochberg false discovery rate for a term to be returned.
FDR = 0.05
#: How many example answers each term carries.
EXAMPLES_PER_TERM = 3

#: Negation words: removed as unigrams, prefixed to the next kept lemma as a bigram.
#: The first of each is the canonical form used in the bigram.
NEGATIONS: Mapping[str, tuple[str, ...]] = {
    "en": ("not", "no", "never", "cannot", "nothing", "nobody", "none", "nor", "neither"),
    "ru": ("не", "нет", "ни", "никогда", "нельзя"),
    "pl": ("nie", "nigdy", "żaden", "żadna", "żadne", "żadnych"),
    "hu": ("nem", "nincs", "sem", "soha", "nincsen", "ne"),
}


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Words the stopwords-iso lists drop that carry meaning in customer feedback
#: (surface forms or lemmas; a token is kept when either is here).
KEEP: Mapping[str, frozenset[str]] = {
    "en": _word_set(
        """
        good great greater greatest best better poorly okay problem problems help work works worked working fix
        order ordered ordering orders quickly promptly sorry useful usefully usefulness free buy website web webpage
        site page pages homepage click computer system lately later long longer longest early empty full serious
        seriously important unfortunately value information available miss thank thanks welcome clear clearly
        appreciate sincere small smaller smallest big large high higher highest low lower new newer old older
        test interesting kind stop open opened opening run ran call changes sent ask asked bill room rooms home
        date try tried tries thick thin
        """
    ),
    "ru": _word_set(
        """
        работа работать деньги ждать долго рано слишком хороший хорошо лучше время минута час день
        спасибо вопрос ответить сразу машина дорога старый новый маленький большой получить прекрасно
        понимать понять решить найти дверь окно комната стол место вода занят занята занято заняты
        """
    ),
    "pl": _word_set(
        """
        dobrze natychmiast często nowe mało dużo zawsze czasem czasami sposób
        """
    ),
    "hu": _word_set(
        """
        jó jól jobban rosszul késő később későn lassan hamar gyakran kész nagy nagyobb azonnal szépen rendben
        lehetetlen kevés köszönöm kérem tele teljes régóta
        """
    ),
}

_NEGATION_SETS = {language: frozenset(words) for language, words in NEGATIONS.items()}
_URL_OR_EMAIL = re.compile(r"(?:https?://|www\.)\S+|[^\s@]+@[^\s@]+\.[^\s@]+", re.IGNORECASE)
# Words (letters, digits, underscores, with internal apostrophes) or a clause boundary.
_TOKEN_OR_BOUNDARY = re.compile(r"\w+(?:'\w+)*|[.!?;:,…()\[\]{}\"«»„“”/|–—\n]")
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "´": "'"})


@dataclass(frozen=True)
class Term:
    """A term over-represented in group A.

    ``term`` is the key (a lemma, or two joined by a space); ``label`` the form
    most often written in group A; ``count_a``/``count_b`` the numbers of
    answers containing it; ``examples`` indices of group-A answers containing
    it (into ``group_a``, or into ``answers`` for the by-language function).
    """

    term: str
    label: str
    z: float
    count_a: int
    count_b: int
    examples: tuple[int, ...]


@dataclass(frozen=True)
class _Token:
    lemma: str
    surface: str
    is_negation: bool


def base_language(language: str) -> str:
    """``"pl-PL"`` → ``"pl"``, ``" EN_gb "`` → ``"en"``; empty when there is none."""
    return re.split(r"[-_]", (language or "").strip().casefold(), maxsplit=1)[0]


@functools.cache
def _lemmatizer() -> simplemma.Lemmatizer:
    # One shared lemmatizer: its token cache is bounded (65,536 entries) and the
    # low-memory dictionaries load lazily, one per language used.
    return simplemma.Lemmatizer(lemmatization_strategy=DefaultStrategy(low_memory=True))


def _stop_words(language: str) -> frozenset[str]:
    # Cached only for languages that have a list, so odd codes cannot grow the cache.
    return _stop_word_list(language) if stopwordsiso.has_lang(language) else frozenset()


@functools.cache
def _stop_word_list(language: str) -> frozenset[str]:
    words = {unicodedata.normalize("NFC", word.casefold()) for word in stopwordsiso.stopwords(language)}
    return frozenset(words - KEEP.get(language, frozenset()))


def _lemma(word: str, language: str) -> str:
    if language not in LEMMATIZED_LANGUAGES:
        return word
    lemma = _lemmatizer().lemmatize(word, language).casefold()
    return lemma if lemma.isalpha() else word  # "np" -> "na_przykład", "pm" -> "p.m.": keep the word


def _capped(text: str) -> str:
    """``text`` cut to :data:`MAX_TEXT_CHARS`, without the word the cut would split."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    end = MAX_TEXT_CHARS
    if text[end].isalnum() or text[end] == "_":
        while end > 0 and (text[end - 1].isalnum() or text[end - 1] == "_"):
            end -= 1
    return text[:end]


def _clauses(text: str, language: str) -> list[list[_Token]]:
    """The kept tokens of ``text``, split at clause boundaries (punctuation)."""
    text = unicodedata.normalize("NFC", _capped(text)).casefold().translate(_APOSTROPHES)
    text = _URL_OR_EMAIL.sub(" ", text)
    stop_words = _stop_words(language)
    negations = _NEGATION_SETS.get(language, frozenset())
    keep = KEEP.get(language, frozenset())
    clauses: list[list[_Token]] = []
    clause: list[_Token] = []
    for match in _TOKEN_OR_BOUNDARY.finditer(text):
        word = match.group()
        if not word[0].isalnum() and word[0] != "_":
            if clause:
                clauses.append(clause)
                clause = []
            continue
        if "'" in word:
            if language == "en":
                if word.endswith("n't"):  # don't, doesn't, can't, won't
                    clause.append(_Token(NEGATIONS["en"][0], word, is_negation=True))
                    continue
                word = word.split("'", 1)[0]  # customer's, we've, it's
            else:
                word = word.replace("'", "")
        if not MIN_TOKEN_CHARS <= len(word) <= MAX_TOKEN_CHARS or not word.isalpha():
            continue  # numbers, words glued to digits, underscores, single letters, garbage
        if word in negations:
            clause.append(_Token(NEGATIONS[language][0], word, is_negation=True))
            continue
        lemma = _lemma(word, language)
        if lemma in negations:
            clause.append(_Token(NEGATIONS[language][0], word, is_negation=True))
            continue
        if (word in stop_words or lemma in stop_words) and word not in keep and lemma not in keep:
            continue
        if len(lemma) < MIN_TOKEN_CHARS:
            continue
        clause.append(_Token(lemma, word, is_negation=False))
    if clause:
        clauses.append(clause)
    return clauses


def normalise(text: str, language: str) -> list[str]:
    """The content lemmas of ``text`` in order: no stop words, negations, numbers, URLs or e-mails.

    ``normalise("Dostawa była bardzo opóźniona, paczka przyszła uszkodzona", "pl")``
    is ``["dostawa", "opóźnić", "paczka", "przyjść", "uszkodzony"]``.
    """
    language = base_language(language)
    return [token.lemma for clause in _clauses(text, language) for token in clause if not token.is_negation]


def _text_terms(text: str, language: str) -> dict[str, str]:
    """Each term of ``text`` (unigrams, bigrams, negated lemmas) with the surface form it was written in."""
    terms: dict[str, str] = {}
    for clause in _clauses(text, language):
        for token in clause:
            if not token.is_negation:
                terms.setdefault(token.lemma, token.surface)
        for first, second in zip(clause, clause[1:], strict=False):
            if second.is_negation or first.lemma == second.lemma:
                continue
            terms.setdefault(f"{first.lemma} {second.lemma}", f"{first.surface} {second.surface}")
    return terms


def _log_odds_z(count_a: int, count_b: int, total_a: int, total_b: int, prior_scale: float) -> float | None:
    """Monroe et al.'s z of the log-odds difference; ``None`` when undefined."""
    alpha = prior_scale * (count_a + count_b) / (total_a + total_b)
    if alpha <= 0:
        return None
    rest_a = total_a + prior_scale - count_a - alpha
    rest_b = total_b + prior_scale - count_b - alpha
    if rest_a <= 0 or rest_b <= 0:
        return None  # the term is the whole vocabulary: nothing to contrast
    delta = math.log((count_a + alpha) / rest_a) - math.log((count_b + alpha) / rest_b)
    variance = 1 / (count_a + alpha) + 1 / (count_b + alpha)
    return delta / math.sqrt(variance)


def _fisher_p_values(counts_a: Sequence[int], counts_b: Sequence[int], size_a: int, size_b: int) -> np.ndarray:
    """One-sided p-values of Fisher's exact test: is a term in more of group a's answers than chance gives?

    Of the ``k = count_a + count_b`` answers containing the term, the number in
    group a is hypergeometric (``size_a`` drawn from ``size_a + size_b``) when the
    groups do not differ; the p-value is ``P(X >= count_a)``.
    """
    if not counts_a:
        return np.array([], dtype=float)
    hits = np.asarray(counts_a)
    return np.asarray(stats.hypergeom.sf(hits - 1, size_a + size_b, hits + np.asarray(counts_b), size_a), dtype=float)


def _bh_threshold(p_values: np.ndarray, tested: int, fdr: float) -> float:
    """The largest p-value Benjamini-Hochberg accepts among ``tested`` tests (``-1`` when none)."""
    ordered = np.sort(p_values)
    ranks = np.arange(1, len(ordered) + 1)
    passing = ordered <= fdr * ranks / max(tested, 1)
    return float(ordered[passing].max()) if passing.any() else -1.0


def _examples(indices: list[int], texts: Sequence[str], sizes: Sequence[int]) -> tuple[int, ...]:
    """Up to three answers: those with at least three content words first, then the shortest, distinct texts."""
    chosen: list[int] = []
    seen: set[str] = set()
    for index in sorted(indices, key=lambda i: (sizes[i] < 3, len(texts[i].strip()), i)):
        key = " ".join(texts[index].casefold().split())
        if key in seen:
            continue
        seen.add(key)
        chosen.append(index)
        if len(chosen) == EXAMPLES_PER_TERM:
            break
    return tuple(chosen)


def distinguishing_terms(
    group_a: Sequence[str],
    group_b: Sequence[str],
    language: str,
    *,
    top: int = 10,
    min_count: int = 3,
    prior_scale: float = PRIOR_SCALE,
    fdr: float = FDR,
) -> list[Term]:
    """The ``top`` terms most over-represented in ``group_a`` (detractors) against ``group_b`` (promoters).

    Highest z first; see the module docstring for the method. An empty group,
    or no term reaching ``min_count`` answers and passing the ``fdr`` cut,
    gives ``[]``.
    """
    if top <= 0 or prior_scale <= 0:
        return []
    language = base_language(language)
    answers_a: dict[str, list[int]] = defaultdict(list)
    surfaces_a: dict[str, Counter[str]] = defaultdict(Counter)
    sizes_a: list[int] = []
    for index, text in enumerate(group_a):
        terms = _text_terms(text, language)
        sizes_a.append(sum(1 for term in terms if " " not in term))
        for term, surface in terms.items():
            answers_a[term].append(index)
            surfaces_a[term][surface] += 1
    counts_b: Counter[str] = Counter()
    for text in group_b:
        counts_b.update(_text_terms(text, language).keys())
    total_a = sum(len(indices) for indices in answers_a.values())
    total_b = sum(counts_b.values())
    if total_a == 0 or total_b == 0:
        return []

    tested = 0
    candidates: list[tuple[float, str]] = []
    for term in answers_a.keys() | counts_b.keys():
        count_a = len(answers_a.get(term, ()))
        if count_a + counts_b[term] < min_count:
            continue
        tested += 1
        z = _log_odds_z(count_a, counts_b[term], total_a, total_b, prior_scale)
        if z is not None and z > 0 and count_a >= min_count:
            candidates.append((z, term))
    candidates.sort(key=lambda item: (-item[0], item[1]))

    # One term per content lemma, the highest z; then Benjamini-Hochberg over what is left,
    # ranked among it but against every tested term (conservative).
    negation = NEGATIONS[language][0] if language in NEGATIONS else None
    used_lemmas: set[str] = set()
    distinct: list[tuple[float, str]] = []
    for z, term in candidates:
        lemmas = {lemma for lemma in term.split(" ") if lemma != negation}
        if not lemmas & used_lemmas:
            used_lemmas |= lemmas
            distinct.append((z, term))
    if fdr < 1:
        p_values = _fisher_p_values(
            [len(answers_a[term]) for _z, term in distinct],
            [counts_b[term] for _z, term in distinct],
            len(group_a),
            len(group_b),
        )
        threshold = _bh_threshold(p_values, tested, fdr)
        distinct = [item for item, p_value in zip(distinct, p_values, strict=True) if p_value <= threshold]

    result: list[Term] = []
    for z, term in distinct[:top]:
        label = min(surfaces_a[term].items(), key=lambda item: (-item[1], item[0]))[0]
        result.append(
            Term(
                term=term,
                label=label,
                z=z,
                count_a=len(answers_a[term]),
                count_b=counts_b[term],
                examples=_examples(answers_a[term], group_a, sizes_a),
            )
        )
    return result


def distinguishing_terms_by_language(
    answers: Iterable[tuple[str, str, str]],
    *,
    group_a: str = "detractor",
    group_b: str = "promoter",
    top: int = 10,
    min_count: int = 3,
    prior_scale: float = PRIOR_SCALE,
    fdr: float = FDR,
) -> dict[str, list[Term]]:
    """:func:`distinguishing_terms` for each language of ``(language, group, text)`` answers.

    Each base language (``pl-PL`` → ``pl``) is analysed on its own, since terms
    of different languages are not comparable; answers in other groups
    (passives) are ignored. Keys are sorted; a language present in ``answers``
    has a key even when it yields no term. Example indices point into
    ``answers``.
    """
    by_language: dict[str, tuple[list[int], list[str], list[str]]] = {}
    for index, (language, group, text) in enumerate(answers):
        indices_a, texts_a, texts_b = by_language.setdefault(base_language(language), ([], [], []))
        if group == group_a:
            indices_a.append(index)
            texts_a.append(text)
        elif group == group_b:
            texts_b.append(text)
    result: dict[str, list[Term]] = {}
    for language in sorted(by_language):
        indices_a, texts_a, texts_b = by_language[language]
        terms = distinguishing_terms(
            texts_a, texts_b, language, top=top, min_count=min_count, prior_scale=prior_scale, fdr=fdr
        )
        result[language] = [
            Term(
                term=term.term,
                label=term.label,
                z=term.z,
                count_a=term.count_a,
                count_b=term.count_b,
                examples=tuple(indices_a[i] for i in term.examples),
            )
            for term in terms
        ]
    return result
