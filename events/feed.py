"""Reading feed files (JSON Lines or CSV, spec §1) into validated records, line by line.

Every line ends as `Accepted` or `Rejected`, whatever it holds: bytes that are not UTF-8, a
line past `MAX_LINE_BYTES`, JSON nested past `MAX_DEPTH`, numbers Python cannot hold. One bad
line never costs the lines around it. A UTF-8 byte-order mark (spreadsheet exports) is skipped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dealwatch.events.errors import RecordError
from dealwatch.events.limits import MAX_DEPTH, MAX_LINE_BYTES
from dealwatch.events.records import RECORD_TYPES, FeedRecord, parse_record
from dealwatch.events.registry import Company

LIST_FIELDS = frozenset({"investors", "parties", "aliases"})
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
_REGISTRY_TEXT = frozenset({"slug", "name", "role", "country", "cik", "date", "reported"})
_BOM = b"\xef\xbb\xbf"
_RAW_KEPT = 1_000  # characters of a rejected line kept for the rejected topic


@dataclass(frozen=True)
class Accepted:
    """A valid line, its record and its text."""

    line: int
    record: FeedRecord
    raw: str = ""


@dataclass(frozen=True)
class Rejected:
    """An invalid line: where, which record (if known), why, and (the start of) its text."""

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
        with path.open("rb") as handle:
            yield from read_jsonl(handle)


def read_registry(path: Path) -> Iterator[Parsed]:
    """The rows of a `slug,name,role,country` registry CSV."""

    def parse_company(row: dict[str, Any]) -> Company:
        try:
            return Company.model_validate(row)
        except ValueError as exc:
            from dealwatch.events.errors import explain

            raise RecordError(explain(exc, Company)) from None

    yield from _read_csv(path, parse_company, id_field="slug")


def read_jsonl(handle: BinaryIO) -> Iterator[Parsed]:
    """JSON Lines from a binary stream, one verdict per non-blank line."""
    for number, data in enumerate(_bounded_lines(handle), start=1):
        if data is None:
            yield Rejected(
                number, None, f"line longer than the limit of {MAX_LINE_BYTES:,} bytes", ""
            )
            continue
        if number == 1:
            data = data.removeprefix(_BOM)
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {exc.start + 1}"
            yield Rejected(number, None, reason, _shorten(data.decode("utf-8", "replace")))
            continue
        if not raw.strip():
            continue
        try:
            value = load_json(raw)
        except RecordError as exc:
            yield Rejected(number, None, str(exc), _shorten(raw))
            continue
        yield _validate(number, value, raw, parse_record)


def load_json(text: str) -> Any:
    """One JSON value, or `RecordError` saying why not (syntax, duplicate keys, nesting,
    numbers too large to hold)."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecordError:
        raise
    except json.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise RecordError(f"JSON nested deeper than the limit of {MAX_DEPTH} levels") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise RecordError("a number with more than 4,300 digits") from None
        raise RecordError(f"not a usable JSON value: {exc}") from None
    if (depth := _depth(value)) > MAX_DEPTH:
        raise RecordError(f"JSON nested {depth} levels deep; the limit is {MAX_DEPTH}")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise RecordError(f"key {key!r} appears twice in one object")
        data[key] = value
    return data


def _depth(value: Any) -> int:
    """Levels of arrays and objects, iteratively (no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


def _bounded_lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """Each line's bytes, or None for a line past `MAX_LINE_BYTES` (read past, never held)."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 2)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES + 1 or (
            len(line) == MAX_LINE_BYTES + 1 and not line.endswith(b"\n")
        ):
            while line and not line.endswith(b"\n"):
                line = handle.readline(1 << 20)
            yield None
            continue
        yield line


def _read_csv(
    path: Path, parse: Callable[[dict[str, Any]], Any], id_field: str = "id"
) -> Iterator[Parsed]:
    csv.field_size_limit(MAX_LINE_BYTES)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        lines = _CountedLines(handle)
        reader = csv.DictReader(lines)
        try:
            reader.fieldnames  # noqa: B018  (reads the header row, so counting starts after it)
        except csv.Error as exc:
            yield Rejected(1, None, f"the header row is not valid CSV: {exc}", "")
            return
        while True:
            start = lines.count + 1  # a row may span lines (quoted newlines)
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Rejected(start, None, f"not valid CSV: {exc}", "")
                continue
            yield from _csv_row(start, row, reader.fieldnames or [], parse, id_field)


class _CountedLines:
    """The lines the csv module reads, counted (its own `line_num` lags after an error)."""

    def __init__(self, handle: Iterator[str]) -> None:
        self.handle = handle
        self.count = 0

    def __iter__(self) -> _CountedLines:
        return self

    def __next__(self) -> str:
        line = next(self.handle)
        self.count += 1
        return line


def _csv_row(start: int, row: dict, header: list[str], parse, id_field: str) -> Iterator[Parsed]:
    raw = _row_text(header, row)
    record_id = row.get(id_field) or None
    if not isinstance(record_id, str) or _has_surrogates(record_id):
        record_id = None
    if _has_surrogates(raw):
        readable = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        yield Rejected(start, record_id, "not UTF-8 text", _shorten(readable))
    elif len(raw.encode("utf-8")) > MAX_LINE_BYTES:
        yield Rejected(
            start, record_id, f"row longer than the limit of {MAX_LINE_BYTES:,} bytes", ""
        )
    elif None in row:
        yield Rejected(start, record_id, "more cells than header columns", _shorten(raw))
    elif any((v or "").strip() for v in row.values()):
        try:
            data = _typed_row(row)
        except RecordError as exc:
            yield Rejected(start, record_id, str(exc), _shorten(raw))
        else:
            yield _validate(start, data, raw, parse, id_field)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _validate(number: int, data: Any, raw: str, parse, id_field: str = "id") -> Parsed:
    record_id = data.get(id_field) if isinstance(data, dict) else None
    try:
        return Accepted(number, parse(data), raw.rstrip("\r\n"))
    except RecordError as exc:
        return Rejected(
            number, record_id if isinstance(record_id, str) else None, str(exc), _shorten(raw)
        )


def _shorten(raw: str) -> str:
    raw = raw.rstrip("\r\n")
    return raw if len(raw) <= _RAW_KEPT else f"{raw[:_RAW_KEPT]}... ({len(raw):,} characters)"


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
            return load_json(text)
        except RecordError as exc:
            raise RecordError(f"{name}: {exc}") from None
    if name in BOOL_FIELDS:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise RecordError(f"{name}: expected true or false, got {text!r}")
    if name in _TEXT_FIELDS or name in _REGISTRY_TEXT:
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
