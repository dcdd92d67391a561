"""The sources file (DEALWATCH_SOURCES_FILE, YAML): which sources to poll, how often, and how
to read them. `EXAMPLE_SOURCES` (printed by `dealwatch sources example`) documents every key."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KINDS = ("sec_formd", "press", "layoffs")
EXAMPLE_SOURCES = Path(__file__).resolve().parent / "sources.example.yaml"
_EVERY = re.compile(r"^(\d+)\s*([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SourcesFileError(Exception):
    """The sources file is unusable; the message says where and why."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    every_seconds: int
    url: str | None = None
    base_url: str = "https://www.sec.gov"
    authority: str | None = None
    format: str = "csv"
    mapping: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    requests_per_second: float = 10.0
    timeout: float = 30.0  # seconds per request
    start: str | None = None  # sec_formd: the first day to read when there is no checkpoint
    failures_before_alert: int = 3
    owner: str | None = None  # press: the registry company whose newsroom this is
    trust: str = "review"  # press: "auto" emits complete, confident deal drafts directly


@dataclass(frozen=True)
class SourcesConfig:
    contact: str | None
    sources: list[SourceConfig]

    def get(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise SourcesFileError(f"no source named {name!r} (configured: {known})")


class _Entry(BaseModel):
    """One source as the file writes it; every key checked, none unknown."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    kind: Literal["sec_formd", "press", "layoffs"]
    every: str = "1h"
    url: str | None = None
    base_url: str = "https://www.sec.gov"
    authority: str | None = None
    format: Literal["csv", "xlsx"] = "csv"
    mapping: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    requests_per_second: float = Field(10.0, gt=0)
    timeout: float = Field(30.0, gt=0)
    start: dt.date | None = None
    failures_before_alert: int = Field(3, ge=1)
    owner: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    trust: Literal["review", "auto"] = "review"

    @field_validator("every")
    @classmethod
    def _cadence(cls, value: str) -> str:
        if not _EVERY.match(value.strip()):
            raise ValueError(f"a number and a unit, like 30m, 1h or 1d, got {value!r}")
        return value.strip()

    @field_validator("url", "base_url")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"an http:// or https:// address, got {value!r}")
        return value

    @field_validator("start", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        """`2025-03-14`, quoted or not (the loader keeps YAML dates as text)."""
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"a day like 2025-03-14, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> _Entry:
        if self.kind != "sec_formd" and not self.url:
            raise ValueError(f"a {self.kind} source needs 'url'")
        if self.kind == "layoffs" and not {"company", "date"} <= set(self.mapping):
            raise ValueError("'mapping' of a layoffs source needs 'company' and 'date'")
        return self

    def config(self) -> SourceConfig:
        values = self.model_dump(exclude={"every", "start"})
        match = _EVERY.match(self.every)
        assert match  # checked by _cadence
        start = self.start.isoformat() if self.start else None
        return SourceConfig(every_seconds=int(match[1]) * _SECONDS[match[2]], start=start, **values)


class _TextDatesLoader(yaml.SafeLoader):
    """YAML without its date type: `start: 2025-13-01` reaches the check that names the key,
    instead of failing inside the YAML reader with no key named."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_TOP_LEVEL = frozenset({"contact", "sources"})
_INPUT_TYPES = {
    "string_type": "text",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "float_type": "a number",
    "dict_type": "a mapping",
    "date_type": "a day",
}


def _explain(error: ValidationError) -> str:
    """Pydantic's errors, one a key, in words: `'timeout': a number, got 'soon'`."""
    parts = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            known = ", ".join(sorted(_Entry.model_fields))
            parts.append(f"unknown key {key!r} (known: {known})")
            continue
        wanted = _INPUT_TYPES.get(problem["type"])
        message = f"{wanted}, got {problem['input']!r}" if wanted else problem["msg"]
        message = message.removeprefix("Value error, ")
        parts.append(f"{key!r}: {message}" if key else message)
    return "; ".join(parts)


def load_sources(path: Path | None) -> SourcesConfig:
    """The whole file checked before anything runs: each problem names the source and key."""
    if path is None:
        raise SourcesFileError(
            "no sources file: set DEALWATCH_SOURCES_FILE to one "
            "(`dealwatch sources example > sources.yaml` writes a commented example)"
        )
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextDatesLoader)
    except OSError as error:
        raise SourcesFileError(f"{path}: cannot read it: {error.strerror}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise SourcesFileError(f"{path}{line}: not valid YAML: {error}") from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SourcesFileError(f"{path}: expected keys 'contact' and 'sources' at the top")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise SourcesFileError(
            f"{path}: unknown top-level key(s) {unknown}; use {sorted(_TOP_LEVEL)}"
        )
    contact = data.get("contact")
    if contact is not None and not isinstance(contact, str):
        raise SourcesFileError(f"{path}: 'contact' is text (a name and an e-mail address)")
    entries = data.get("sources") or []
    if not isinstance(entries, list):
        raise SourcesFileError(f"{path}: 'sources' is a list of sources")
    sources: list[SourceConfig] = []
    for number, item in enumerate(entries, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        where = f"{path}: source {number}" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(item, dict):
            raise SourcesFileError(f"{where}: expected keys like name, kind, url, got {item!r}")
        try:
            source = _Entry.model_validate(item).config()
        except ValidationError as error:
            raise SourcesFileError(f"{where}: {_explain(error)}") from None
        if any(s.name == source.name for s in sources):
            raise SourcesFileError(f"{where}: the name {source.name!r} is used twice")
        sources.append(source)
    if any(s.kind == "sec_formd" and s.enabled for s in sources) and not contact:
        raise SourcesFileError(
            f"{path}: 'contact' (a name and e-mail address) is required: the SEC's fair-access "
            "rules ask every client to declare one in its User-Agent"
        )
    return SourcesConfig(contact, sources)
