"""Reading feed files (JSON Lines or CSV, spec §1) into validated records, line by line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from events.errors import RecordError
from events.records import RECORD_TYPES, FeedRecord, parse_record
from events.registry import Company

LIST_FIELDS = frozenset({"investors", "parties"})
OBJECT_FIELDS = frozenset({"fields"})
BOOL_FIELDS = frozenset({"exclusive", "founders_joined", "retract"})
INT_FIELDS = frozenset({"headcount"})
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_TEXT_FIELDS = frozenset(
    name
    for cls in RECORD_TYPES.values()
    for name, info in cls.model_fields.items()
    if "str" in str(info.annotation) and name not in LIST_FIELDS
)


@dataclass(frozen=True)
class Accepted:
    """A valid line and its record."""

    line: int
    record: FeedRecord


@dataclass(frozen=True)
class Rejected:
    """An invalid line: where, which record (if known), why, and the raw text."""

    line: int
    record_id: str | None
    reason: str
    raw: str


Parsed = Accepted | Rejected


def read_feed(path: Path) -> Iterator[Parsed]:
    """Every non-blank line of a feed file, accepted or rejected; CSV when the suffix is `.csv`."""
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path, parse_record)
    else:
        yield from _read_jsonl(path)


def read_registry(path: Path) -> Iterator[Accepted | Rejected]:
    """The rows of a `slug,name,role,country` registry CSV."""

    def parse_company(row: dict[str, Any]) -> Company:
        try:
            return Company.model_validate(row)
        except ValueError as exc:
            from events.errors import explain

            raise RecordError(explain(exc, Company)) from None

    yield from _read_csv(path, parse_company, id_field="slug")


def _read_jsonl(path: Path) -> Iterator[Parsed]:
    with path.open(encoding="utf-8") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
                yield Rejected(number, None, reason, raw)
                continue
            yield _validate(number, data, raw, parse_record)


def _read_csv(path: Path, parse, id_field: str = "id") -> Iterator[Parsed]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        start = 2
        for row in reader:
            raw = _row_text(reader.fieldnames or [], row)
            if None in row:
                yield Rejected(start, row.get(id_field), "more cells than header columns", raw)
            elif not any((v or "").strip() for v in row.values()):
                pass
            else:
                try:
                    data = _typed_row(row)
                except RecordError as exc:
                    yield Rejected(start, row.get(id_field) or None, str(exc), raw)
                else:
                    yield _validate(start, data, raw, parse, id_field)
            start = reader.line_num + 1


def _validate(number: int, data: Any, raw: str, parse, id_field: str = "id") -> Parsed:
    record_id = data.get(id_field) if isinstance(data, dict) else None
    try:
        return Accepted(number, parse(data))
    except RecordError as exc:
        return Rejected(number, record_id if isinstance(record_id, str) else None, str(exc), raw)


def _typed_row(row: dict[str, str | None]) -> dict[str, Any]:
    """CSV cells to JSON values: empty is absent, lists `;`-separated, objects as JSON text."""
    data: dict[str, Any] = {}
    for name, cell in row.items():
        text = (cell or "").strip()
        if not text:
            continue
        data[name] = _cell_value(name, text)
    return data


def _cell_value(name: str, text: str) -> Any:
    if name in LIST_FIELDS:
        return [item.strip() for item in text.split(";") if item.strip()]
    if name in OBJECT_FIELDS:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{name}: not valid JSON text: {exc.msg}") from None
    if name in BOOL_FIELDS:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise RecordError(f"{name}: expected true or false, got {text!r}")
    if name in _TEXT_FIELDS or name in {"slug", "name", "role", "country", "date", "reported"}:
        return text
    if name in INT_FIELDS:
        try:
            return int(text)
        except ValueError:
            raise RecordError(f"{name}: expected a whole number, got {text!r}") from None
    try:
        return float(text)
    except ValueError:
        return text  # left for the schema to reject with its own message


def _row_text(header: list[str], row: dict[str, Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([row.get(h) or "" for h in header])
    return out.getvalue().rstrip("\r\n")
