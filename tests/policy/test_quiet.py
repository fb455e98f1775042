"""Quiet days: a lead's country read from free text, its public holidays, the marketer's dates."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from nurture.config.policy import QuietDays
from nurture.policy.quiet import QuietCalendar, country_code

GERMAN_UNITY = date(2027, 10, 3)  # a public holiday in DE only
SWEDISH_NATIONAL_DAY = date(2027, 6, 6)
AN_ORDINARY_DAY = date(2027, 10, 5)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        (" Deutschland ", "DE"),
        ("Germany", "DE"),
        ("DEU", "DE"),
        ("Sverige", "SE"),
        ("Österreich", "AT"),
        ("United Kingdom", "GB"),
        ("U.S.A.", "US"),
        ("Narnia", None),
        ("", None),
        (None, None),
    ],
)
def test_country_code_reads_iso_codes_and_common_names(text, code):
    assert country_code(text) == code


def test_a_leads_country_decides_whose_holidays_are_quiet():
    calendar = QuietCalendar(QuietDays(public_holidays=["DE", "SE"], default_country="DE"))
    de, se = calendar.holiday_country("Deutschland"), calendar.holiday_country("Sverige")
    assert calendar.why_quiet(GERMAN_UNITY, de) == "German Unity Day (DE)"
    assert calendar.why_quiet(GERMAN_UNITY, se) is None
    assert calendar.why_quiet(SWEDISH_NATIONAL_DAY, se)
    assert calendar.why_quiet(AN_ORDINARY_DAY, de) is None


def test_unknown_country_gets_the_default_a_known_unobserved_one_none():
    calendar = QuietCalendar(QuietDays(public_holidays=["DE"], default_country="DE"))
    assert calendar.holiday_country(None) == "DE"
    assert calendar.holiday_country("somewhere") == "DE"
    assert calendar.holiday_country("France") is None  # FR holidays are not observed
    no_default = QuietCalendar(QuietDays(public_holidays=["DE"], default_country=None))
    assert no_default.holiday_country(None) is None


def test_marketer_dates_are_quiet_for_every_lead():
    calendar = QuietCalendar(QuietDays(public_holidays=[], dates=[AN_ORDINARY_DAY]))
    assert calendar.why_quiet(AN_ORDINARY_DAY, None) == "quiet date"
    assert calendar.why_quiet(AN_ORDINARY_DAY, "SE") == "quiet date"
    assert calendar.why_quiet(GERMAN_UNITY, calendar.holiday_country("DE")) is None


def test_an_unknown_default_country_is_a_config_error():
    with pytest.raises(ValidationError, match="no public holidays known for country 'XX'"):
        QuietDays(default_country="XX")
    assert QuietDays(default_country="se").default_country == "SE"
