"""One immutable, validated schema per feed kind (spec §1)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from dealwatch.events.types import Count, IsoDate, NonEmpty, Percent, SignedUsd, Slug, Usd

DatePrecision = Literal["day", "month", "year", "approx"]
ProbeAction = Literal["opened", "expanded", "closed", "cleared", "blocked"]


class FeedRecord(BaseModel):
    """Fields common to every feed record."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    id: NonEmpty
    kind: str
    date: IsoDate
    reported: IsoDate | None = None
    date_precision: DatePrecision = "day"
    company: Slug
    source: str | None = None
    note: str | None = None

    @property
    def known_on(self) -> dt.date:
        """The known date (`reported`, defaulting to `date`)."""
        return self.reported or self.date


class Funding(FeedRecord):
    kind: Literal["funding"]
    amount_usd: Usd
    round: str | None = None
    investors: list[Slug] = Field(default_factory=list)
    valuation_usd: Usd | None = None


class Layoff(FeedRecord):
    kind: Literal["layoff"]
    headcount: Count | None = None
    pct: Percent | None = None


class Licensing(FeedRecord):
    kind: Literal["licensing"]
    licensee: Slug
    fee_usd: Usd | None = None
    exclusive: bool = False
    staff_moved_pct: Percent | None = None
    founders_joined: bool = False


class Acquisition(FeedRecord):
    kind: Literal["acquisition"]
    acquirer: Slug
    price_usd: Usd | None = None


class Probe(FeedRecord):
    kind: Literal["probe"]
    authority: str | None = None
    action: ProbeAction | None = None
    parties: list[Slug] = Field(default_factory=list)
    deal: str | None = None


class Financials(FeedRecord):
    kind: Literal["financials"]
    revenue_annual_usd: Usd | None = None
    costs_annual_usd: Usd | None = None
    net_burn_annual_usd: SignedUsd | None = None
    cash_usd: Usd | None = None


class Talent(FeedRecord):
    kind: Literal["talent"]
    to: Slug | None = None
    person: str | None = None
    role: str | None = None


IMMUTABLE_FIELDS = frozenset({"id", "kind"})


class Correction(FeedRecord):
    """A new event that replaces fields of an earlier record, or retracts it."""

    kind: Literal["correction"]
    date: IsoDate | None = None  # type: ignore[assignment]
    reported: IsoDate  # type: ignore[assignment]
    company: Slug | None = None  # type: ignore[assignment]
    corrects: NonEmpty
    fields: dict[str, Any] | None = None
    retract: bool = False

    @model_validator(mode="after")
    def _fields_or_retract(self) -> Correction:
        if self.retract and self.fields:
            raise ValueError("a correction has either 'fields' or 'retract: true', not both")
        if not self.retract and not self.fields:
            raise ValueError("a correction needs 'fields' (replacement values) or 'retract: true'")
        if self.fields and (bad := sorted(IMMUTABLE_FIELDS & self.fields.keys())):
            raise ValueError(f"a correction cannot change {', '.join(bad)}")
        if self.corrects == self.id:
            raise ValueError("a correction cannot correct itself")
        return self


AnyRecord = Annotated[
    Funding | Layoff | Licensing | Acquisition | Probe | Financials | Talent | Correction,
    Field(discriminator="kind"),
]
RECORD_TYPES: dict[str, type[FeedRecord]] = {
    cls.model_fields["kind"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (Funding, Layoff, Licensing, Acquisition, Probe, Financials, Talent, Correction)
}
KINDS: tuple[str, ...] = tuple(RECORD_TYPES)
_ADAPTER: TypeAdapter[FeedRecord] = TypeAdapter(AnyRecord)


def parse_record(data: dict[str, Any]) -> FeedRecord:
    """Validate one feed record; raises `RecordError` with a readable reason."""
    from dealwatch.events.errors import RecordError, explain

    if not isinstance(data, dict):
        raise RecordError(f"a record is a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind is None:
        raise RecordError("missing required field 'kind'")
    if kind not in RECORD_TYPES:
        raise RecordError(f"unknown kind {kind!r} (expected one of: {', '.join(KINDS)})")
    try:
        return _ADAPTER.validate_python(data)
    except ValueError as exc:
        raise RecordError(explain(exc, RECORD_TYPES[kind])) from None
