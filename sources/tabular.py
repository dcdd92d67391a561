"""Tabular layoff sources (a state's WARN report, a layoffs tracker) in CSV or XLSX, read
through a per-source column mapping into `layoff` records (docs/sources.md)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dealwatch.sources.names import Match, Resolver
from dealwatch.sources.outcomes import Emit, Malformed, Outcome, Review

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d %B %Y", "%B %d, %Y")


@dataclass(frozen=True)
class ColumnMapping:
    """Which column holds what. `company` and `date` (the notice date) are required; a column
    the file lacks is a clear error, not an empty record."""

    company: str
    date: str
    headcount: str | None = None
    pct: str | None = None
    reported: str | None = None
    effective: str | None = None
    key: str | None = None  # the row's own id in the source, if it has one

    @classmethod
    def from_config(cls, mapping: Mapping[str, str]) -> ColumnMapping:
        return cls(**dict(mapping))

    def required(self) -> list[str]:
        return [c for c in (self.company, self.date, self.headcount, self.pct, self.reported,
                            self.effective, self.key) if c]  # fmt: skip


def _day(text: str) -> dt.date | None:
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _cell(row: Mapping[str, object], column: str | None) -> str:
    value = row.get(column) if column else None
    if isinstance(value, dt.datetime | dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    return "" if value is None else str(value).strip()


def rows_of(data: bytes, fmt: str) -> Iterator[dict[str, object]]:
    """The rows of a CSV or XLSX file as header → value dicts (first sheet for XLSX)."""
    if fmt == "xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for values in rows:
            yield dict(zip(header, values, strict=False))
        return
    text = data.decode("utf-8-sig", errors="replace")
    yield from csv.DictReader(io.StringIO(text))


def parse_layoffs(
    data: bytes, fmt: str, mapping: ColumnMapping, source: str, url: str, resolver: Resolver
) -> Iterator[Outcome]:
    """Every row with a company and a notice date → a `layoff` record or a review item."""
    try:
        rows = list(rows_of(data, fmt))
    except Exception as error:  # a damaged workbook or encoding: the whole file is unusable
        yield Malformed(f"cannot read the {fmt.upper()} file: {error}", url)
        return
    header = set(rows[0]) if rows else set()
    if missing := [c for c in mapping.required() if c not in header]:
        yield Malformed(
            f"columns {missing} are not in the file (it has: {sorted(header)}); "
            "the source renamed a column: update its mapping",
            url,
        )
        return
    for number, row in enumerate(rows, start=2):
        yield _layoff(number, row, mapping, source, url, resolver)


def _layoff(number, row, mapping, source, url, resolver) -> Outcome:
    origin = f"{url}#row={number}"
    name = _cell(row, mapping.company)
    notice = _day(_cell(row, mapping.date))
    if not name or notice is None:
        return Malformed(f"row {number}: no company or no readable notice date", origin)
    headcount_text = re.sub(r"[,\s]", "", _cell(row, mapping.headcount))
    key = (
        _cell(row, mapping.key)
        or hashlib.sha256(f"{name}|{notice}|{headcount_text}".encode()).hexdigest()[:16]
    )
    reported = _day(_cell(row, mapping.reported)) or notice
    record: dict[str, object] = {
        "id": f"{source}-{key}",
        "kind": "layoff",
        "date": notice.isoformat(),
        "reported": reported.isoformat(),
        "source": url,
    }
    if headcount_text.isdigit():
        record["headcount"] = int(headcount_text)
    if pct := re.sub(r"[%\s]", "", _cell(row, mapping.pct)):
        try:
            record["pct"] = float(pct)
        except ValueError:
            return Malformed(f"row {number}: percentage {pct!r} is not a number", origin)
    if effective := _cell(row, mapping.effective):
        record["note"] = f"effective {effective}"
    match = resolver.resolve(name)
    if isinstance(match, Match):
        return Emit({**record, "company": match.slug}, origin)
    return Review(str(record["id"]), "layoff", match.reason, record, origin, {"company": name})
