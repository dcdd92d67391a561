"""Validation errors phrased for the person who wrote the feed."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


class RecordError(ValueError):
    """A feed record breaks the contract of spec §1."""


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in _UNION_TAGS]
    return ".".join(parts) or "record"


_UNION_TAGS = {
    "funding",
    "layoff",
    "licensing",
    "acquisition",
    "probe",
    "financials",
    "talent",
    "correction",
    "function-after[_check_slug(), str]",
}


def _one(error: dict, model: type[BaseModel]) -> str:
    field = _field_name(error["loc"])
    kind, got = error["type"], error.get("input")
    if kind == "missing":
        return f"missing required field '{field}'"
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(model.model_fields))
        return f"unknown field '{field}' (fields of this kind: {allowed})"
    if kind in {"greater_than_equal", "less_than_equal"}:
        return f"{field}: {error['msg'].lower()} (got {got!r})"
    if kind == "value_error":
        return f"{field}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "literal_error":
        return f"{field}: {error['msg'].lower()} (got {got!r})"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{field}: {error['msg'].lower()} (got {type(got).__name__} {got!r})"
    return f"{field}: {error['msg']} (got {got!r})"


def explain(exc: ValueError, model: type[BaseModel]) -> str:
    """All problems of one record, in one line."""
    if isinstance(exc, ValidationError):
        return "; ".join(_one(e, model) for e in exc.errors(include_url=False))
    return str(exc)
