"""Masking personal data in free text: e-mail addresses and phone numbers, for roles that may not see PII.

Customers (in their answers) and staff (in case notes) write e-mail addresses and
phone numbers into free text. Every app that shows such text to a role without
:meth:`touchpoints.models.Role.can_view_pii` passes it through :func:`mask_pii`: the
follow-up cases, the dashboard's comments and key terms, the responses CSV.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

# Customers (in their answers) and staff (in case notes) write e-mail addresses and
# phone numbers into free text; roles that may not see PII get them masked.
#
# A phone number candidate is an optional "+", then digit groups joined by one
# separator each (one to three spaces or tabs, or ".", "-", "/", "–" with spaces around or
# not) or by parentheses ("(555) 123-4567", "+7 (912) 345-67-89", "(+48) 601 234 567"),
# not glued to a letter or digit
# on either side. It is masked when it has at least PHONE_MIN_DIGITS digits, unless it
# is, as a whole, one of the numbers customers write that are not phones:
#
# * a date (2026-11-23, 23.11.2026, 11/23/2026, "2026. 11. 23.", with a time
#   "23.11.2026 10.30"), a range of dates, times (10.00-18.00) or years (2019-2026);
# * an amount in thousands (1 299 990, 1.299.990) with a currency beside it
#   (1 299 990 Ft, 12 500 000 руб., € 1 299 999) or a decimal part (1 299 999,00).
#
# A bare run of 7+ digits (order 1234567, 89123456789) and thousands without a
# currency (601 234 567 is a Polish mobile) are masked: hiding an order number now and
# then is the price of never showing a phone number. Shorter numbers (order 12345,
# 3 days, 9/10, 1 299,00 zł) never reach the rule.

# Starts only where an address can (not inside a word), so a long run without "@" is read once, not per letter.
_EMAIL = re.compile(r"(?<![^\s@<>()\[\],;])[^\s@<>()\[\],;]++@[^\s@<>()\[\],;]+\.[^\s@<>()\[\],;]+")
#: Punctuation that ends a sentence, not an address ("write to ann@example.com, please").
_TRAILING = ".,;:!?"
#: The fewest digits a number needs to be masked as a phone number.
PHONE_MIN_DIGITS = 7
_SPACE = "[ \u00a0\u2009\u202f]"  # space, no-break, thin and narrow no-break space
#: Between digit groups: one to three spaces or tabs (people align numbers), or a dash, dot or slash.
_GAP = r"[ \t\u00a0\u2009\u202f]{1,3}"
_SEPARATOR = rf"(?:(?:{_GAP})?[-./\u2013](?:{_GAP})?|{_GAP})"
_PARENTHESES = rf"\({_SPACE}?\+?\d++(?:[ -]\d++)?{_SPACE}?\)"  # (555), (+48), (0 30)
_GROUP = rf"(?:{_PARENTHESES}|\d++)"
# Possessive digit runs and one-way separators keep matching linear in the text's length.
_PHONE_CANDIDATE = re.compile(
    rf"(?<![\w+])(?:\+{_SPACE}?)?{_GROUP}(?:{_SEPARATOR}{_GROUP}|(?<=\)){_GROUP}|{_PARENTHESES})*(?!\w|:\d)"
)
_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_DATE_SEPARATOR = rf"[-./]{_SPACE}?"
_DATE = (
    rf"(?:{_YEAR}{_DATE_SEPARATOR}{_MONTH}{_DATE_SEPARATOR}{_DAY}"
    rf"|{_DAY}{_DATE_SEPARATOR}{_MONTH}{_DATE_SEPARATOR}{_YEAR}"
    rf"|{_MONTH}/{_DAY}/{_YEAR})"
)
_TIME = r"(?:[01]?\d|2[0-3])[.:][0-5]\d"
_RANGE = rf"{_SPACE}?[-\u2013]{_SPACE}?"
_NOT_A_PHONE = re.compile(
    rf"{_DATE}(?:\.?{_SPACE}{_TIME})?"
    rf"|{_DAY}\.{_MONTH}\.?{_RANGE}{_DATE}"
    rf"|{_DATE}{_RANGE}{_DATE}"
    rf"|{_TIME}{_RANGE}{_TIME}"
    rf"|{_YEAR}(?:{_RANGE}|/){_YEAR}"
)
_THOUSANDS = re.compile(rf"[1-9]\d{{0,2}}({_SPACE}|\.)\d{{3}}(?:\1\d{{3}})+")
_CURRENCY = (
    r"(?:zł|zl\b|zlot|pln\b|ft\b|huf\b|forint|руб|р\.|₽|rub(?:l|\b)|\$|€|£|eur|usd\b|gbp\b|dollar|грн|₴|тенге|₸)"
)
_CURRENCY_OR_DECIMALS_AFTER = re.compile(rf"{_SPACE}?(?:{_CURRENCY}|,\d)", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(rf"{_CURRENCY}{_SPACE}?$", re.IGNORECASE)


def _is_phone(match: re.Match[str]) -> bool:
    number = match.group()
    if sum(char.isdigit() for char in number) < PHONE_MIN_DIGITS or _NOT_A_PHONE.fullmatch(number):
        return False
    text, start, end = match.string, match.start(), match.end()
    is_amount = _THOUSANDS.fullmatch(number) is not None and (
        _CURRENCY_OR_DECIMALS_AFTER.match(text, end) is not None
        or _CURRENCY_BEFORE.search(text, max(0, start - 8), start) is not None
    )
    return not is_amount


def mask_pii(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by placeholders, for roles without PII.

    The rule is above; dates, times, short numbers and amounts of money stay.
    """
    email, phone = _("[email hidden]"), _("[phone hidden]")
    text = _EMAIL.sub(lambda match: email + match.group()[len(match.group().rstrip(_TRAILING)) :], text)
    return _PHONE_CANDIDATE.sub(lambda match: phone if _is_phone(match) else match.group(), text)
