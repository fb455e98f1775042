"""The sales routing file format (config/sales.yaml), validated at load. See docs/config.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, EmailStr, Field, field_validator, model_validator

from nurture.config.schema_types import CALENDAR_DELAY_SCHEMA, json_schema
from nurture.config.sequences import Delay, LocaleCode, Slug, StrictModel, parse_delay


class Rep(StrictModel):
    name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    locale: LocaleCode | None = Field(
        None,
        description="The rep's language for hand-off emails and pages; default: the lead's.",
        examples=["sv"],
    )


def _calendar(value: object) -> Delay:
    delay = parse_delay(value)
    if delay.as_timedelta() is None:
        raise ValueError("use hours or days here (e.g. 4h, 1d), not business days")
    return delay


CalendarDelay = Annotated[Delay, BeforeValidator(_calendar), json_schema(CALENDAR_DELAY_SCHEMA)]


class Sla(StrictModel):
    remind_after: CalendarDelay = Field(description="No answer by then: remind the rep.")
    reassign_after: CalendarDelay = Field(description="No answer by then: the next rep gets it.")

    @model_validator(mode="after")
    def _order(self) -> Sla:
        if self.reassign_after_td <= self.remind_after_td:
            raise ValueError("sla.reassign_after must be longer than sla.remind_after")
        return self

    @property
    def remind_after_td(self) -> timedelta:
        return self.remind_after.as_timedelta() or timedelta(0)

    @property
    def reassign_after_td(self) -> timedelta:
        return self.reassign_after.as_timedelta() or timedelta(0)


class Territory(StrictModel):
    id: Slug
    countries: list[str] = Field(min_length=1, description="ISO codes as the forms store them")
    reps: list[Rep] = Field(min_length=1, description="Round-robin in this order")
    webhook: str | None = Field(None, description="Also POST each handoff here as JSON")

    @field_validator("countries")
    @classmethod
    def _upper(cls, countries: list[str]) -> list[str]:
        return [c.strip().upper() for c in countries]

    @field_validator("webhook")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("webhook must be an http(s) URL")
        return url


class SalesConfig(StrictModel):
    sender: Rep = Field(description="From whom the hand-off emails come")
    sla: Sla
    territories: list[Territory] = Field(default_factory=list)
    fallback_owner: Rep = Field(description="Gets leads no territory covers")
    fallback_webhook: str | None = None
    recycle_sequence: Slug | None = Field(None, description="Where rejected leads go")
    reject_reasons: dict[Slug, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SalesConfig:
        seen: dict[str, str] = {}
        for territory in self.territories:
            for country in territory.countries:
                if country in seen:
                    raise ValueError(
                        f"country {country} is in territories {seen[country]!r} and "
                        f"{territory.id!r}; a country belongs to one territory"
                    )
                seen[country] = territory.id
        return self

    def rep_locale(self, email: str) -> str | None:
        """The locale sales.yaml gives the rep with this address, if any."""
        reps = [self.fallback_owner, *(r for t in self.territories for r in t.reps)]
        wanted = email.strip().lower()
        return next((r.locale for r in reps if str(r.email).lower() == wanted and r.locale), None)

    def territory_for(self, country: str | None) -> Territory | None:
        code = (country or "").strip().upper()
        return next((t for t in self.territories if code in t.countries), None)
