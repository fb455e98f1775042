from datetime import UTC, datetime

from nurture.config.sequences import SendWindow, Step, parse_delay
from nurture.sequences.schedule import due_at, fit_window

BERLIN_WINDOW = SendWindow(
    weekdays=["mon", "tue", "wed", "thu", "fri"],
    start="09:00",
    end="17:00",
    timezone="Europe/Berlin",
)


def step(delay, ignore_window=False):
    return Step(id="s", template="t", subject="x", delay=delay, ignore_window=ignore_window)


def test_delay_formats():
    assert str(parse_delay(0)) == "0 days"
    assert str(parse_delay("2d")) == "2 days"
    assert str(parse_delay("12h")) == "12 hours"
    assert str(parse_delay("3 business days")) == "3 business days"
    assert str(parse_delay("1w")) == "1 weeks"


def test_inside_window_is_unchanged():
    t = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Tue 11:00 Berlin
    assert fit_window(t, BERLIN_WINDOW, __import__("zoneinfo").ZoneInfo("Europe/Berlin")) == t


def test_friday_evening_moves_to_monday_morning_in_the_leads_zone():
    fri_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # 19:00 Berlin
    due = due_at(fri_evening, step("0"), BERLIN_WINDOW, "Europe/Berlin")
    assert due == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Mon 09:00 Berlin


def test_lead_timezone_wins_over_sequence_default():
    t = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # 08:00 in New York: before the window
    due = due_at(t, step("0"), BERLIN_WINDOW, "America/New_York")
    assert due == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 New York


def test_unknown_lead_timezone_falls_back_to_the_sequence_zone():
    t = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert due_at(t, step("0"), BERLIN_WINDOW, "Mars/Olympus") == datetime(
        2026, 11, 24, 8, 0, tzinfo=UTC
    )


def test_business_days_skip_the_weekend():
    thu = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert due_at(thu, step("2 business days"), BERLIN_WINDOW, None) == datetime(
        2026, 11, 30, 10, 0, tzinfo=UTC
    )


def test_ignore_window_sends_at_night():
    night = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # Saturday
    assert due_at(night, step("0", ignore_window=True), BERLIN_WINDOW, None) == night


def test_window_across_dst_change_keeps_local_hours():
    # Berlin leaves summer time on 2026-10-25: 09:00 local is 07:00 UTC before, 08:00 after.
    sat = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert due_at(sat, step("0"), BERLIN_WINDOW, None) == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)
