"""The next allowed slot: the earliest instant at or after a time that is inside the step's
send window in the lead's timezone, not a quiet day for the lead, and not over the cap given
the lead's counted sends. Pure: the sends are passed in (policy/counted.py loads them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.config.policy import Cap
from nurture.config.sequences import SendWindow
from nurture.sequences.schedule import fit_window

# Quiet days and a full cap move the slot forward; more than this many moves means every day
# is quiet (a marketer listing years of dates): fail loudly rather than spin.
MAX_MOVES = 1000


def over_cap(at: datetime, sends: Sequence[datetime], cap: Cap) -> datetime | None:
    """If a send at ``at`` would be one too many in the window ending at ``at``, the earliest
    time it would not be: when enough of the counted sends have left the window. A send at
    ``s`` counts against sends in ``(s - per, s]``: one at exactly ``s + per`` is allowed.
    Sends stamped after ``at`` count too: another dispatcher's clock runs ahead of this
    pass's ``now`` (a touch it marks 'sending' carries its lease clock)."""
    inside = sorted(s for s in sends if s > at - cap.per)
    if len(inside) < cap.max:
        return None
    return inside[len(inside) - cap.max] + cap.per


def next_slot(
    moment: datetime,
    *,
    window: SendWindow,
    zone: ZoneInfo,
    ignore_window: bool = False,
    quiet: Callable[[date], str | None],
    sends: Sequence[datetime] = (),
    cap: Cap | None = None,
) -> datetime:
    """The earliest allowed instant at or after ``moment``. ``ignore_window``: the step may go
    out at any hour (still not on a quiet day or over the cap). ``quiet(day)``: why the
    lead's local ``day`` is quiet, or None."""
    at = moment
    for _ in range(MAX_MOVES):
        if not ignore_window:
            at = fit_window(at, window, zone)
        local = at.astimezone(zone)
        if quiet(local.date()):
            # The next day from the window's opening, also for a step that ignores the window:
            # a touch held over a holiday should not land at midnight.
            at = datetime.combine(local.date() + timedelta(days=1), window.start, zone)
            continue
        later = over_cap(at, sends, cap) if cap is not None else None
        if later is not None:
            at = later
            continue
        return at.astimezone(UTC)
    raise ValueError(f"no allowed slot within {MAX_MOVES} quiet days or caps after {moment}")
