"""The next allowed slot: send window in the lead's timezone, quiet days, the rolling cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture.config.policy import Cap
from nurture.config.sequences import SendWindow
from nurture.policy.slot import next_slot, over_cap

WINDOW = SendWindow(start=time(9), end=time(17), timezone="Europe/Berlin")
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, 04:00 in New York
CAP = Cap(max=2, per="7d")


def never(day: date) -> None:
    return None


def test_inside_the_window_on_an_allowed_day_is_the_moment_itself():
    assert next_slot(MONDAY, window=WINDOW, zone=BERLIN, quiet=never) == MONDAY


def test_the_window_is_in_the_leads_timezone():
    slot = next_slot(MONDAY, window=WINDOW, zone=NEW_YORK, quiet=never)
    assert slot.astimezone(NEW_YORK) == datetime(2027, 3, 1, 9, 0, tzinfo=NEW_YORK)


def test_a_quiet_day_moves_to_the_next_days_window():
    def monday_quiet(day: date) -> str | None:
        return "quiet date" if day == date(2027, 3, 1) else None

    slot = next_slot(MONDAY, window=WINDOW, zone=BERLIN, quiet=monday_quiet)
    assert slot == datetime(2027, 3, 2, 9, 0, tzinfo=BERLIN)
    # A quiet Friday: past the weekend too (the window has no weekend days).
    friday = MONDAY + timedelta(days=4)
    slot = next_slot(friday, window=WINDOW, zone=BERLIN, quiet=lambda d: d.weekday() == 4 or None)
    assert slot == datetime(2027, 3, 8, 9, 0, tzinfo=BERLIN)


def test_a_step_ignoring_the_window_goes_at_any_hour_but_not_on_a_quiet_day():
    late = datetime(2027, 3, 1, 22, 0, tzinfo=UTC)
    assert next_slot(late, window=WINDOW, zone=BERLIN, quiet=never, ignore_window=True) == late
    slot = next_slot(
        late,
        window=WINDOW,
        zone=BERLIN,
        quiet=lambda d: d == date(2027, 3, 1) or None,
        ignore_window=True,
    )
    assert slot == datetime(2027, 3, 2, 9, 0, tzinfo=BERLIN)  # not at midnight


def test_the_cap_waits_until_the_oldest_counted_send_leaves_the_window():
    sends = [MONDAY - timedelta(days=6), MONDAY - timedelta(days=1)]
    assert over_cap(MONDAY, sends, CAP) == MONDAY + timedelta(days=1)
    slot = next_slot(MONDAY, window=WINDOW, zone=BERLIN, quiet=never, sends=sends, cap=CAP)
    assert slot == MONDAY + timedelta(days=1)  # Tuesday 10:00 Berlin, inside the window
    # A send exactly one window later is allowed: windows are (s - per, s].
    assert over_cap(sends[0] + CAP.per, sends, CAP) is None


def test_the_cap_slot_is_fit_into_the_window_and_past_quiet_days():
    # The oldest send leaves the window on Saturday night: Monday 09:00, unless Monday is quiet.
    sends = [datetime(2027, 3, 6, 20, 0, tzinfo=UTC), datetime(2027, 3, 7, 8, 0, tzinfo=UTC)]
    at = datetime(2027, 3, 8, 9, 0, tzinfo=UTC)
    assert over_cap(at, sends, CAP) == sends[0] + CAP.per
    quiet = {date(2027, 3, 15)}
    slot = next_slot(
        at, window=WINDOW, zone=BERLIN, quiet=lambda d: d in quiet or None, sends=sends, cap=CAP
    )
    assert slot == datetime(2027, 3, 16, 9, 0, tzinfo=BERLIN)


def test_sends_outside_the_window_do_not_count():
    sends = [MONDAY - timedelta(days=8), MONDAY - timedelta(days=7), MONDAY - timedelta(hours=1)]
    assert over_cap(MONDAY, sends, CAP) is None


def test_sends_stamped_after_the_moment_count_too():
    # Another dispatcher's clock runs ahead of this pass's now: its 'sending' touch counts.
    ahead = [MONDAY + timedelta(seconds=5), MONDAY - timedelta(days=1)]
    assert over_cap(MONDAY, ahead, CAP) == MONDAY + timedelta(days=6)
