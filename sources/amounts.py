"""Money in announcements' prose: "$6.6 billion", "$3.5B", "US$1.3 billion", "€600 million",
"$650M", "£1.2bn". Pure.

A span is found here (a currency sign or code, a number, a scale word); `price-parser` reads
its number and currency (thousands separators, "US$", "€"), and the scale word multiplies it.
quantulum3 was tried first and read "$6.6 billion at a $157 billion valuation" as "dollar
ampere-turn" and "$1.3bn" as 1.3, so it does not decide money here. An amount in another
currency keeps its value and currency and no dollar figure: the spec converts only with a dated
rate the project ships, and it ships none, so a person converts it (the draft says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from price_parser import Price

SCALES = {
    "trillion": 10**12,
    "tn": 10**12,
    "billion": 10**9,
    "bn": 10**9,
    "b": 10**9,
    "million": 10**6,
    "mn": 10**6,
    "m": 10**6,
    "mm": 10**6,
    "thousand": 10**3,
    "k": 10**3,
}
_CURRENCY = r"(?:US\$|USD\s?|\$|€|EUR\s?|£|GBP\s?)"
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"trillion|billion|million|thousand|tn|bn|mn|mm|b|m|k"
MONEY = re.compile(
    rf"(?P<currency>{_CURRENCY})\s?(?P<number>{_NUMBER})(?:\s?(?P<scale>{_SCALE})\b)?|"
    rf"\b(?P<number2>{_NUMBER})\s?(?P<scale2>{_SCALE}|mln|bln)\s(?P<currency2>dollars|euros|pounds)\b",
    re.IGNORECASE,
)
_WORDS = {"dollars": "USD", "euros": "EUR", "pounds": "GBP"}
CURRENCIES = {"$": "USD", "US$": "USD", "USD": "USD", "€": "EUR", "EUR": "EUR", "£": "GBP",
              "GBP": "GBP"}  # fmt: skip


@dataclass(frozen=True)
class Amount:
    """One sum of money as written: its value, currency, dollars (USD only) and place."""

    value: float
    currency: str
    text: str
    start: int
    end: int

    @property
    def usd(self) -> float | None:
        return self.value if self.currency == "USD" else None


def find_amounts(sentence: str) -> list[Amount]:
    """Every sum of money in `sentence`, in order. A bare number with no scale under 1,000 is
    not money here ("$3" is no round): it is skipped."""
    found = []
    for match in MONEY.finditer(sentence):
        if match.group("number2"):  # "600 million euros", "600 mln euros"
            number, scale = match.group("number2"), match.group("scale2").lower()
            scale = {"mln": "million", "bln": "billion"}.get(scale, scale)
            code = _WORDS[match.group("currency2").lower()]
            value = Decimal(number.replace(",", "")) * Decimal(SCALES[scale])
            found.append(Amount(float(value), code, match.group(0), match.start(), match.end()))
            continue
        price = Price.fromstring(match.group(0))
        if price.amount is None:
            continue
        scale = (match.group("scale") or "").lower()
        value = price.amount * Decimal(SCALES.get(scale, 1))
        if not scale and value < 1000:
            continue
        code = CURRENCIES.get(match.group("currency").strip().upper(), "USD")
        found.append(Amount(float(value), code, match.group(0), match.start(), match.end()))
    return found
