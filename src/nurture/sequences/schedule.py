"""When a touch goes out: the step's delay, then the send window in the lead's timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nurture.config.sequences import WEEKDAYS, Delay, SendWindow, SequenceConfig, Step


def lead_zone(lead_timezone: str | None, window: SendWindow) -> ZoneInfo:
    if lead_timezone:
        try:
            return ZoneInfo(lead_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a bad value from a form must not stop the drip: use the sequence's zone
    return ZoneInfo(window.timezone)


def add_delay(start: datetime, delay: Delay, zone: ZoneInfo) -> datetime:
    calendar = delay.as_timedelta()
    if calendar is not None:
        return start + calendar
    # Business days count Mon-Fri in the lead's zone, keeping the local time of day.
    local = start.astimezone(zone)
    day = local.date()
    remaining = delay.amount
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return datetime.combine(day, local.time(), zone).astimezone(UTC)


def fit_window(moment: datetime, window: SendWindow, zone: ZoneInfo) -> datetime:
    """The earliest instant at or after ``moment`` inside the window."""
    local = moment.astimezone(zone)
    allowed = {WEEKDAYS.index(d) for d in window.weekdays}
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in allowed:
            continue
        opens = datetime.combine(day, window.start, zone)
        closes = datetime.combine(day, window.end, zone)
        if offset == 0 and local >= closes:
            continue
        return max(local, opens).astimezone(UTC)
    raise AssertionError("a window with at least one weekday always opens within 8 days")


def due_at(
    previous: datetime, step: Step, window: SendWindow, lead_timezone: str | None
) -> datetime:
    """When ``step`` is due, counting from ``previous`` (enrolment or the last send)."""
    zone = lead_zone(lead_timezone, window)
    moment = add_delay(previous, step.delay, zone)
    return moment if step.ignore_window else fit_window(moment, window, zone)


def retry_at(
    now: datetime, delay: timedelta, step: Step, window: SendWindow, tz: str | None
) -> datetime:
    moment = now + delay
    return moment if step.ignore_window else fit_window(moment, window, lead_zone(tz, window))


def plan(
    sequence: SequenceConfig, start: datetime, lead_timezone: str | None = None
) -> list[tuple[Step, datetime]]:
    """The dates each touch would go out for a lead enrolled at ``start``, all sends on time."""
    out: list[tuple[Step, datetime]] = []
    moment = start
    for step in sequence.steps:
        moment = due_at(moment, step, sequence.send_window, lead_timezone)
        out.append((step, moment))
    return out
