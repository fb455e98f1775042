"""What the contact policy does to one lead's touches, without a database: the sequences a
lead is in at once, each touch planned as the dispatcher would send it (the step's delay from
the previous send, the send window, then the gate: priority, quiet day, cap). For
``nurture schedule``; steps' conditions are taken as true."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.config.policy import Cap, PolicyConfig
from nurture.config.sequences import SequenceConfig, Step
from nurture.policy.gate import RECHECK, DeferReason
from nurture.policy.quiet import QuietCalendar
from nurture.policy.slot import next_slot, over_cap
from nurture.sequences.schedule import due_at, lead_zone


@dataclass(frozen=True)
class Planned:
    sequence: SequenceConfig
    step: Step
    due: datetime  # when the sequence alone would send it
    sent: datetime  # when it goes out under the policy
    reasons: tuple[str, ...]  # why it was deferred, each time (empty: on time)


def plan_with_policy(
    policy: PolicyConfig,
    sequences: list[SequenceConfig],
    start: datetime,
    lead_timezone: str | None,
    country: str | None,
) -> list[Planned]:
    """Every touch of ``sequences`` for one lead enrolled in all of them at ``start``, in the
    order they go out."""
    calendar = QuietCalendar(policy.quiet_days)
    holidays = calendar.holiday_country(country)
    sends: list[datetime] = []  # counted by the cap
    # When each sequence sent its last step: it is live until then, and at that instant
    # too (the dispatcher gates a batch by the enrollments as they were before it).
    ended: dict[str, datetime] = {}
    out: list[Planned] = []
    # (when, sequence index, step index, first due, reasons so far): ties in sequence order
    queue: list[tuple[datetime, int, int, datetime, tuple[str, ...]]] = []

    def schedule(i: int, index: int, previous: datetime) -> None:
        s = sequences[i]
        due = due_at(previous, s.steps[index], s.send_window, lead_timezone)
        heapq.heappush(queue, (due, i, index, due, ()))

    for i in range(len(sequences)):
        schedule(i, 0, start)
    while queue:
        at, i, index, due, reasons = heapq.heappop(queue)
        sequence, step = sequences[i], sequences[i].steps[index]
        zone = lead_zone(lead_timezone, sequence.send_window)
        reason = None
        if sequence.id not in policy.exempt_sequences:
            reason = _reason(
                sequence, sequences, ended, at, zone, calendar, holidays, sends, policy
            )
        if reason is not None:
            label, why = reason
            later = next_slot(
                at + RECHECK.get(label, timedelta(0)),
                window=sequence.send_window,
                zone=zone,
                ignore_window=step.ignore_window,
                quiet=lambda day: calendar.why_quiet(day, holidays),
                sends=sends,
                cap=policy.cap,
            )
            heapq.heappush(queue, (later, i, index, due, (*reasons, why)))
            continue
        if sequence.id not in policy.exempt_sequences:
            sends.append(at)
        out.append(Planned(sequence, step, due, at, reasons))
        if index + 1 < len(sequence.steps):
            schedule(i, index + 1, at)
        else:
            ended[sequence.id] = at
    return out


def _reason(
    sequence: SequenceConfig,
    sequences: list[SequenceConfig],
    ended: dict[str, datetime],
    at: datetime,
    zone: ZoneInfo,
    calendar: QuietCalendar,
    holidays: str | None,
    sends: list[datetime],
    policy: PolicyConfig,
) -> tuple[DeferReason, str] | None:
    """The gate's rules in its order (policy/gate.py), with the words a marketer reads."""
    higher = [s for s in sequences if s.priority > sequence.priority and ended.get(s.id, at) >= at]
    if higher:
        return DeferReason.PRIORITY, f"paused while in {higher[0].id} (higher priority)"
    quiet = calendar.why_quiet(at.astimezone(zone).date(), holidays)
    if quiet:
        return DeferReason.QUIET_DAY, f"quiet day: {quiet}"
    if over_cap(at, sends, policy.cap) is not None:
        return DeferReason.CAP, f"cap: {cap_text(policy.cap)} reached"
    return None


def cap_text(cap: Cap) -> str:
    """E.g. "3 in 7d" (or "2 in 1 day, 12:00:00" for a period that is not whole days)."""
    per = f"{cap.per.days}d" if cap.per.days and not cap.per.seconds else str(cap.per)
    return f"{cap.max} in {per}"
