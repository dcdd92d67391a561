"""The company registry (spec §1): who is a startup, an incumbent, an investor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dealwatch.events.types import NonEmpty, Slug

Role = Literal["startup", "incumbent", "investor"]


class Company(BaseModel):
    """One registry row; the `companies` topic is compacted on `slug`."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    slug: Slug
    name: NonEmpty
    role: Role
    country: str | None = None
    aliases: list[NonEmpty] = Field(default_factory=list)  # other names sources use
    cik: str | None = None  # SEC Central Index Key, for Form D filings

    def sql_row(self) -> dict:
        """The columns of the SQL `registry` table (aliases and identifiers stay in the log)."""
        return {"slug": self.slug, "name": self.name, "role": self.role, "country": self.country}
