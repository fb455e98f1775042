"""The lead-source cost file (config/sources.yaml), validated at load. See docs/config.md."""

from __future__ import annotations

from pydantic import Field

from nurture.config.sequences import StrictModel


class SourceCost(StrictModel):
    utm_source: str = Field(min_length=1, max_length=200)
    utm_campaign: str | None = Field(None, max_length=200, description="None: the whole source")
    cost: float = Field(ge=0, le=1e12)


class SourcesConfig(StrictModel):
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    costs: list[SourceCost] = Field(default_factory=list)
