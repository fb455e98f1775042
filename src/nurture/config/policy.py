"""The contact policy (config/policy.yaml, optional), validated at load: how much marketing
mail a lead gets across all sequences, and on which days none goes out. Every key has a
default; docs/lifecycle.md explains each. Applied where touches are let out
(nurture.dispatch), so no sequence can go around it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import holidays
from pydantic import AfterValidator, Field, field_validator

from nurture.config.sequences import Period, Slug, StrictModel


class Cap(StrictModel):
    """At most ``max`` marketing emails per lead in any rolling window of ``per``."""

    max: int = Field(3, ge=1, le=100, description="Emails per lead in any window.")
    per: Period = Field(timedelta(days=7), description="The rolling window, e.g. 7d.")


def _country(value: str) -> str:
    code = value.upper()
    if code not in holidays.list_supported_countries():
        raise ValueError(f"no public holidays known for country {value!r} (use e.g. DE, SE, GB)")
    return code


class QuietDays(StrictModel):
    """Days without marketing mail: a lead's country's public holidays (from the ``holidays``
    library) and dates the marketer lists."""

    public_holidays: list[Annotated[str, AfterValidator(_country)]] = Field(
        default_factory=lambda: ["DE", "AT", "CH", "SE", "GB", "US"],
        description="Countries (ISO 3166 codes) whose public holidays are quiet for the "
        "leads of that country.",
    )
    default_country: Annotated[str, AfterValidator(_country)] | None = Field(
        "DE", description="Whose holidays apply to a lead without a known country (none: null)."
    )
    dates: list[date] = Field(
        default_factory=list, description="Quiet for every lead, e.g. 2027-12-24."
    )


class PolicyConfig(StrictModel):
    cap: Cap = Cap()
    quiet_days: QuietDays = QuietDays()
    exempt_sequences: list[Slug] = Field(
        default_factory=list,
        description="Sequences whose mail is transactional: not counted, never deferred. "
        "Confirmation emails, rep notifications and forwarded replies always are.",
    )

    @field_validator("exempt_sequences")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))
