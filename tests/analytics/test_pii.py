"""Masking e-mail addresses and phone numbers in free text for roles that may not see PII
(:func:`touchpoints.pii.mask_pii`): real-world phone formats (en, ru, pl, hu) are masked, the numbers
customers write that are not phones (days, order numbers, dates, times, prices, scores) are kept, and the
stage page's detractor comments and key-term examples use it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.aggregation import ReportFilters
from analytics.charts.comments import detractor_comments, key_terms
from tests.analytics.factories import Feedback, customers_create, feedback_create, journey_setup
from touchpoints.pii import PHONE_MIN_DIGITS, mask_pii

PHONE = "[phone hidden]"
EMAIL = "[email hidden]"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # en
        ("Call me on +44 20 7946 0958 after 5pm.", f"Call me on {PHONE} after 5pm."),
        ("My number is (555) 123-4567.", f"My number is {PHONE}."),
        ("Ring 555-123-4567 or 555.123.4567", f"Ring {PHONE} or {PHONE}"),
        ("+1 555 123 4567 (mobile)", f"{PHONE} (mobile)"),
        ("reach me at +15551234567!", f"reach me at {PHONE}!"),
        ("UK mobile 07700 900123, freephone 0800 123 4567", f"UK mobile {PHONE}, freephone {PHONE}"),
        ("London: +44 (0)20 7946 0958", f"London: {PHONE}"),
        ("(555)123-4567", PHONE),
        ("local line 123-4567", f"local line {PHONE}"),  # 7 digits: the shortest masked
        ("tel.5551234567", f"tel.{PHONE}"),
        ("Tel: 555 123 4567: evenings only", f"Tel: {PHONE}: evenings only"),
        ("card 4111 1111 1111 1111", f"card {PHONE}"),  # a long number is hidden too
        # ru
        ("Перезвоните мне: +7 912 345-67-89", f"Перезвоните мне: {PHONE}"),
        ("мой номер 8 (912) 345-67-89, звонить вечером", f"мой номер {PHONE}, звонить вечером"),
        ("тел. 89123456789", f"тел. {PHONE}"),
        ("+7(495)123-45-67", PHONE),
        ("+7 (912) 345 67 89", PHONE),
        ("8-912-345-67-89", PHONE),
        ("городской 345-67-89", f"городской {PHONE}"),
        # pl
        ("Proszę o kontakt: +48 601 234 567", f"Proszę o kontakt: {PHONE}"),
        ("mój numer 601 234 567, dzwonić po 16", f"mój numer {PHONE}, dzwonić po 16"),
        ("tel. 601-234-567", f"tel. {PHONE}"),
        ("stacjonarny (22) 123 45 67", f"stacjonarny {PHONE}"),
        ("22 123 45 67", PHONE),
        ("0048 601 234 567", PHONE),
        ("+48601234567", PHONE),
        # hu
        ("Hívjon a 06 30 123 4567 számon!", f"Hívjon a {PHONE} számon!"),
        ("+36 30 123 4567", PHONE),
        ("+36-30-123-4567", PHONE),
        ("06-30/123-4567", PHONE),
        ("06/30-123-4567", PHONE),
        ("+36 (1) 234-5678", PHONE),
        ("(06 1) 234 5678", PHONE),
        ("06 1 234 5678", PHONE),
        # the same number with a no-break space, as some keyboards and apps write it
        ("+48\u00a0601\u00a0234\u00a0567", PHONE),
        # Decided: a bare run of 7+ digits and grouped thousands without a currency are hidden
        # (601 234 567 is a Polish mobile; an order number is the price of that).
        ("order 1234567 is late", f"order {PHONE} is late"),
        ("we have 1 500 000 customers", f"we have {PHONE} customers"),
        # a date glued to a phone number hides both
        ("23.11.2026 555 123 4567", PHONE),
        # aligned with several spaces or a tab; a country code in parentheses; not a year range
        ("mobile: 601  234  567", f"mobile: {PHONE}"),
        ("601\t234\t567", PHONE),
        ("(+48) 601 234 567", PHONE),
        ("2012-2345", PHONE),
    ],
)
def test_phone_numbers_are_masked(text, masked):
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        # en
        "I waited 3 days for a reply",
        "order 12345 never arrived",
        "order #123456 never arrived",  # 6 digits: below the rule
        "delivery promised for 2026-11-23, came 2026-11-30",
        "on 11/23/2026 at 10:30",
        "on 23/11/2026",
        "2026-11-23T10:30:00",
        "paid $1,299.00, then $1 299 999 for the upgrade",
        "it cost 1,299,000 dollars",
        "I give it 9/10, last year 10/10",
        "open 10.00-18.00, closed 12:00-13:00",
        "a customer 2019-2026 and 2019–2026",
        "academic year 2025/2026",
        "version 2.1.3, room 1234, call 911",
        "2 hours 45 minutes",
        "rated 4.5 out of 5",
        # ru
        "ждал 3 дня",
        "заказ № 12345",
        "доставка 23.11.2026 в 10:30",
        "доставка 23.11.2026 10.30",
        "заплатил 1 299,00 ₽",
        "стоит 12 500 000 руб.",
        "стоит 1 500 000 рублей",
        "стоит 1\u00a0500\u00a0000\u00a0₽",
        "оценка 9/10",
        "с 9.00 до 18.00, 23.11.2026 г.",
        # pl
        "czekałem 3 dni",
        "zamówienie nr 12345",
        "dostawa 23.11.2026 r. o 10.30",
        "zapłaciłem 1 299,00 zł",
        "kwota 1 299 999,00 zł",
        "kwota 2 500 000 PLN i 1 500 000 złotych",
        "w dniach 23.11-25.11.2026",
        "ocena 9/10",
        # hu
        "3 napot vártam",
        "a 12345 számú rendelés",
        "2026. 11. 23. 10:30-kor",
        "2026.11.23. 10.30",
        "1 299 990 Ft-ot fizettem",
        "129 990 Ft és 1.299.990 Ft",
        "2 500 000 HUF, 1 234 567 forintot",
        "9/10 pont",
    ],
)
def test_ordinary_numbers_are_kept(text):
    assert mask_pii(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to ann@example.com", f"write to {EMAIL}"),
        ("ann.smith+tag@mail.example.co.uk, please", f"{EMAIL}, please"),
        ("Ann <ann@example.com> or +48 601 234 567", f"Ann <{EMAIL}> or {PHONE}"),
        ("on 23.11.2026 call 601 234 567 or mail jan99@example.pl", f"on 23.11.2026 call {PHONE} or mail {EMAIL}"),
        ("mail me@example.com!", f"mail {EMAIL}!"),
        ("(ann@example.com)", f"({EMAIL})"),
        ("ann@example.com,bob@example.com", f"{EMAIL},{EMAIL}"),
        ("ann@example.com;bob@example.org", f"{EMAIL};{EMAIL}"),
        ("", ""),
    ],
)
def test_emails_and_phones_together(text, masked):
    assert mask_pii(text) == masked


def test_the_rule_starts_at_seven_digits():
    assert PHONE_MIN_DIGITS == 7
    assert mask_pii("123-45-67") == PHONE
    assert mask_pii("12-34-56") == "12-34-56"


def test_masking_is_fast_on_long_and_hostile_texts():
    texts = [
        "1 " * 25_000 + "a",
        "1-" * 25_000,
        "(1)" * 16_000 + "a",
        "+1 " * 16_000,
        "12 (34" * 8_000,
        "9" * 50_000,  # also one long word for the e-mail pattern
        "a@" * 25_000,
        "a@b" + ".b" * 25_000,
    ]
    started = time.perf_counter()
    for text in texts:
        mask_pii(text)
    assert time.perf_counter() - started < 2  # linear: a few hundredths of a second in all


# --- Where texts are shown: the stage page's comments and key terms -----------------------------------


@pytest.fixture
def stage_with_phones(workspace):
    setup = journey_setup(workspace=workspace, stages=1, touchpoints_per_stage=1)
    customers = customers_create(workspace=workspace, count=4)
    moment = timezone.now() - timedelta(days=1)
    items = [
        Feedback(
            customer=customers[index % 4],
            touchpoint=setup.touchpoints[0],
            sent_at=moment - timedelta(minutes=index),
            scores={"nps": index % 7},
            texts={
                "text": f"Delivery late again, {index} days. Call me on +48 601 234 5{index:02d} or mail me@example.com"
            },
        )
        for index in range(30)
    ] + [
        Feedback(
            customer=customers[index % 4],
            touchpoint=setup.touchpoints[0],
            sent_at=moment - timedelta(minutes=index),
            scores={"nps": 10},
            texts={"text": "Friendly staff and great prices"},
        )
        for index in range(30)
    ]
    feedback_create(setup, items)
    today = timezone.now().date()
    return setup, ReportFilters(since=today - timedelta(days=7), until=today)


@pytest.mark.django_db
@pytest.mark.parametrize("show_pii", [False, True])
def test_detractor_comments_hide_phones_without_pii(stage_with_phones, workspace, show_pii):
    setup, filters = stage_with_phones
    comments = detractor_comments(workspace=workspace, stage=setup.stages[0], filters=filters, show_pii=show_pii)
    assert len(comments) == 20
    for comment in comments:
        assert ("+48 601 234 5" in comment.text) is show_pii
        assert ("me@example.com" in comment.text) is show_pii
        assert (PHONE in comment.text and EMAIL in comment.text) is not show_pii
        assert "late again" in comment.text
        assert " days." in comment.text  # the day count stays


@pytest.mark.django_db
@pytest.mark.parametrize("show_pii", [False, True])
def test_key_term_examples_hide_phones_without_pii(stage_with_phones, workspace, show_pii):
    setup, filters = stage_with_phones
    languages, read = key_terms(workspace=workspace, stage=setup.stages[0], filters=filters, show_pii=show_pii)
    assert read == 60
    examples = [example for language in languages for view in language.terms for example in view.examples]
    detractor_examples = [example for example in examples if "late again" in example]
    assert detractor_examples
    for example in detractor_examples:
        assert ("+48 601 234 5" in example) is show_pii
        assert (PHONE in example) is not show_pii
