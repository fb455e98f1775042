"""The scoring file format (config/scoring.yaml), validated at load. See docs/config.md."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, model_validator

from nurture.config.sequences import Slug, StrictModel
from nurture.leads.events import CUSTOM_PREFIX, EventName, EventType
from nurture.leads.models import PROFILE

# Lead columns a fit rule may read; also custom.<field> and email_domain.
FIT_FIELDS = (
    *PROFILE,
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "source_form",
)
Text = Annotated[str, Field(min_length=1, max_length=200)]


class FitRule(StrictModel):
    """Points for who the lead is: one of ``in`` (equals one of, case-insensitive),
    ``contains`` (contains one of) or ``present`` (filled in)."""

    id: Slug
    field: str = Field(pattern=r"^(custom\.[A-Za-z0-9_]{1,64}|email_domain|[a-z_]+)$")
    in_: list[Text] | None = Field(None, alias="in", min_length=1)
    contains: list[Text] | None = Field(None, min_length=1)
    present: bool | None = None
    points: int = Field(ge=-100, le=100)

    @model_validator(mode="after")
    def _one_test(self) -> FitRule:
        tests = [t for t in (self.in_, self.contains, self.present) if t is not None]
        if len(tests) != 1:
            raise ValueError("give exactly one of: in, contains, present")
        if "." not in self.field and self.field != "email_domain" and self.field not in FIT_FIELDS:
            raise ValueError(
                f"unknown field {self.field!r}; use one of {', '.join(FIT_FIELDS)}, "
                "email_domain or custom.<name>"
            )
        return self


PropertyValue = StrictBool | int | Annotated[str, Field(min_length=1, max_length=200)]


class EngagementRule(StrictModel):
    """Points for what the lead did: each event of a type, decayed by age, summed and capped.
    Optionally only clicks or page views on URLs containing one of ``url_contains``, only
    custom events whose properties have the given values. Opens and clicks count when a
    person made them; ``machine: true`` counts those of scanners and proxies too."""

    id: Slug
    event: EventName
    url_contains: list[Text] | None = Field(
        None, min_length=1, description="event: click or page; the URL contains one of these."
    )
    properties: dict[str, PropertyValue] | None = Field(
        None,
        min_length=1,
        description="Custom events (custom.<name>): each property has this value (text "
        "case-insensitive, a number as written, true or false).",
    )
    machine: bool = Field(False, description="Count the opens and clicks that machines made, too.")
    points: float = Field(gt=-100, le=100)
    cap: float | None = Field(None, gt=0, le=1000)

    @model_validator(mode="after")
    def _filters_fit_the_event(self) -> EngagementRule:
        if self.url_contains and self.event not in (EventType.CLICK, EventType.PAGE):
            raise ValueError("url_contains only applies to event: click or event: page")
        if self.properties and not self.event.startswith(CUSTOM_PREFIX):
            raise ValueError("properties only apply to custom events (event: custom.<name>)")
        return self


class ScoringConfig(StrictModel):
    mql_threshold: int = Field(ge=1, le=10_000)
    half_life_days: float | None = Field(
        30,
        gt=0,
        le=3650,
        description="Engagement points halve over this many days; none: no decay.",
    )
    fit: list[FitRule] = Field(default_factory=list)
    engagement: list[EngagementRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> ScoringConfig:
        seen: set[str] = set()
        for rule in [*self.fit, *self.engagement]:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice; rule ids must be unique")
            seen.add(rule.id)
        return self
