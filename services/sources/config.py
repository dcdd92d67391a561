"""The sources file (DEALWATCH_SOURCES_FILE, YAML): which sources to poll, how often, and how
to read them. `EXAMPLE_SOURCES` (printed by `dealwatch sources example`) documents every key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def _every(value: Any, where: str) -> int:
    match = _EVERY.match(str(value).strip())
    if not match:
        raise SourcesFileError(f"{where}: 'every' is like 30m, 1h or 1d, got {value!r}")
    return int(match[1]) * _SECONDS[match[2]]


def load_sources(path: Path | None) -> SourcesConfig:
    if path is None:
        raise SourcesFileError(
            "no sources file: set DEALWATCH_SOURCES_FILE to one "
            "(`dealwatch sources example > sources.yaml` writes a commented example)"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SourcesFileError(f"{path}: {error}") from error
    sources = []
    for number, item in enumerate(data.get("sources") or [], start=1):
        where = f"{path}: source {number}"
        if not isinstance(item, dict) or "name" not in item or "kind" not in item:
            raise SourcesFileError(f"{where}: needs at least 'name' and 'kind'")
        if item["kind"] not in KINDS:
            raise SourcesFileError(f"{where}: kind {item['kind']!r} is not one of {KINDS}")
        if item["kind"] != "sec_formd" and not item.get("url"):
            raise SourcesFileError(f"{where} ({item['name']}): needs 'url'")
        if item["kind"] == "layoffs" and not {"company", "date"} <= set(item.get("mapping", {})):
            raise SourcesFileError(f"{where} ({item['name']}): mapping needs company and date")
        options = {k: v for k, v in item.items() if k not in {"every"}}
        try:
            sources.append(SourceConfig(every_seconds=_every(item.get("every", "1h"), where),
                                        **options))  # fmt: skip
        except TypeError as error:
            raise SourcesFileError(f"{where}: {error}") from error
    contact = data.get("contact")
    if any(s.kind == "sec_formd" and s.enabled for s in sources) and not contact:
        raise SourcesFileError(
            f"{path}: 'contact' (a name and e-mail address) is required: the SEC's fair-access "
            "rules ask every client to declare one in its User-Agent"
        )
    return SourcesConfig(contact, sources)
