"""Exact money arithmetic and the spec's rounding (half up), so results never depend on order."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache

MICROS = 1_000_000  # capital is summed as whole micro-dollars: integer sums are exact


@lru_cache(maxsize=1 << 16)  # amounts repeat; both functions are pure
def to_micros(usd: float) -> int:
    """A dollar amount as whole micro-dollars (half up)."""
    return int(Decimal(repr(usd)).scaleb(6).to_integral_value(ROUND_HALF_UP))


@lru_cache(maxsize=1 << 16)
def to_fraction(usd: float) -> Fraction:
    """A float amount as the exact decimal it was written as."""
    return Fraction(Decimal(repr(usd)))


def round_half_up(value: Fraction, places: int) -> float:
    """Round an exact value to `places` decimals, halves away from zero."""
    scale = 10**places
    scaled = abs(value) * scale
    whole = int(scaled + Fraction(1, 2))
    rounded = Fraction(whole, scale)
    return float(rounded if value >= 0 else -rounded)


def cents(value: Fraction | int, unit: int = 1) -> float:
    """Dollars to the cent; `unit` is how many of `value` make one dollar."""
    if isinstance(value, int):  # the common case, in whole integers: floor(|v|·100/unit + ½)
        whole = (abs(value) * 200 + unit) // (2 * unit)
        return (whole if value >= 0 else -whole) / 100
    return round_half_up(Fraction(value, unit), 2)


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` split into `parts` whole shares that add up exactly (earlier shares get the rest)."""
    share, rest = divmod(total, parts)
    return [share + (1 if i < rest else 0) for i in range(parts)]
