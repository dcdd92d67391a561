"""The company registry (spec §1): who is a startup, an incumbent, an investor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from events.types import NonEmpty, Slug

Role = Literal["startup", "incumbent", "investor"]


class Company(BaseModel):
    """One registry row; the `companies` topic is compacted on `slug`."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    slug: Slug
    name: NonEmpty
    role: Role
    country: str | None = None
