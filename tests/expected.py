"""Comparisons with the seed's expected numbers (`SEED_EXPECTED`), at the spec's tolerances."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from dealwatch.services.seed import SEED_EXPECTED


def expected() -> dict[str, Any]:
    return json.loads(SEED_EXPECTED.read_text())


def assert_row(actual: Mapping[str, Any], want: Mapping[str, Any], where: str) -> None:
    """idx and runway within 0.05, hhi within 1, money to the cent, everything else exact."""
    for name, value in want.items():
        if name == "by_incumbent":
            continue
        got = actual[name]
        got = got.isoformat() if hasattr(got, "isoformat") else got
        if name in ("idx", "runway_months") and value is not None and got is not None:
            assert got == pytest.approx(value, abs=0.05), f"{where}: {name}"
        elif name == "hhi":
            assert abs(got - value) <= 1, f"{where}: hhi {got} != {value}"
        elif isinstance(value, float) and got is not None:
            assert got == pytest.approx(value, abs=0.01), f"{where}: {name}"
        else:
            assert got == value, f"{where}: {name} {got!r} != {value!r}"


def assert_series(actual: Sequence[Mapping[str, Any]], want: Sequence[Mapping[str, Any]]) -> None:
    assert [str(r["as_of"]) for r in actual] == [r["as_of"] for r in want]
    for got, row in zip(actual, want, strict=True):
        assert_row(got, row, f"series {row['as_of']}")


def assert_breakdown(actual: Mapping[str, float], want: Mapping[str, float], where: str) -> None:
    assert sorted(actual) == sorted(want), where
    for name, capital in want.items():
        assert actual[name] == pytest.approx(capital, abs=0.01), f"{where}: {name}"


def assert_watchlist(
    actual: Mapping[str, Mapping[str, Any]], want: Mapping[str, Any], where: str
) -> None:
    assert sorted(actual) == sorted(want), where
    for company, row in want.items():
        assert_row(actual[company], row, f"{where} {company}")
