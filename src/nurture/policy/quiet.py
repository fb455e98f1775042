"""Quiet days: the public holidays of a lead's country (the ``holidays`` library) and the
dates the marketer lists. ``leads.country`` is free text from forms ("DE", "Deutschland",
"Germany", "Sverige"): it is read as an ISO code or a common name, else the default country
applies."""

from __future__ import annotations

import re
from datetime import date
from functools import cache

import holidays
from holidays.registry import COUNTRIES

from nurture.config.policy import QuietDays

# Names marketers' forms carry that the library's English class names do not: the local and
# the German names of the countries nurture is used in most, and everyday short forms.
NAMES = {
    "deutschland": "DE",
    "bundesrepublik deutschland": "DE",
    "brd": "DE",
    "österreich": "AT",
    "oesterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "sverige": "SE",
    "schweden": "SE",
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "großbritannien": "GB",
    "grossbritannien": "GB",
    "vereinigtes königreich": "GB",
    "usa": "US",
    "us": "US",
    "united states of america": "US",
    "vereinigte staaten": "US",
    "amerika": "US",
    "frankreich": "FR",
    "italien": "IT",
    "italia": "IT",
    "spanien": "ES",
    "españa": "ES",
    "niederlande": "NL",
    "nederland": "NL",
    "holland": "NL",
    "belgien": "BE",
    "belgique": "BE",
    "dänemark": "DK",
    "danmark": "DK",
    "norwegen": "NO",
    "norge": "NO",
    "finnland": "FI",
    "suomi": "FI",
    "polen": "PL",
    "polska": "PL",
    "tschechien": "CZ",
    "luxemburg": "LU",
    "irland": "IE",
    "portugal": "PT",
}


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(".", "").replace("-", " ")).strip().casefold()


@cache
def _codes() -> dict[str, str]:
    """Every way of writing a country we recognise -> its ISO 3166 alpha-2 code."""
    codes: dict[str, str] = {}
    for name, alpha2, alpha3, *_ in COUNTRIES.values():
        spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)  # UnitedKingdom -> United Kingdom
        for word in (alpha2, alpha3, spaced):
            codes[_key(word)] = alpha2
    codes.update(NAMES)
    return codes


def country_code(text: str | None) -> str | None:
    """The ISO code a lead's free-text country stands for, or None if we cannot tell."""
    if not text:
        return None
    return _codes().get(_key(text))


@cache
def _holidays(code: str) -> holidays.HolidayBase:
    # Lazy per year: a date in any year is looked up (and its year computed) on first use.
    return holidays.country_holidays(code)


class QuietCalendar:
    """Which days are quiet for which lead, by the policy's ``quiet_days``."""

    def __init__(self, config: QuietDays):
        self.config = config
        self.observed = set(config.public_holidays)
        self.dates = set(config.dates)

    def holiday_country(self, country: str | None) -> str | None:
        """Whose public holidays are quiet for a lead of ``country`` (free text): its code if
        the policy observes that country's holidays, none for another known country, the
        default country for an unknown or empty one."""
        code = country_code(country)
        if code is None:
            default = (self.config.default_country or "").upper()
            return default if default in holidays.list_supported_countries() else None
        return code if code in self.observed else None

    def why_quiet(self, day: date, holiday_country: str | None) -> str | None:
        """Why ``day`` (the lead's local date) is quiet, or None if it is not. Takes what
        ``holiday_country`` returned."""
        if day in self.dates:
            return "quiet date"
        if holiday_country:
            name = _holidays(holiday_country).get(day)
            if name:
                return f"{name} ({holiday_country})"
        return None
