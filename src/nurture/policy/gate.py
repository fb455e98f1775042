"""The gate the dispatcher applies to the touches it claimed, in the claim's transaction
(dispatch/triage.py): a touch that would otherwise go out now is held back, in this order,
if its lead is actively enrolled in a sequence of higher priority, if today is a quiet day
for the lead, or if it would be one too many in the cap's rolling window. A held-back touch
is deferred: released with a new due time at the next allowed slot, never dropped.

Exempt: the sequences in ``policy.exempt_sequences`` (transactional mail). Confirmation
emails, rep notifications and forwarded replies are not touches at all: never counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.ledger.claims import Claimed
from nurture.policy.counted import active_sequences, counted_sends, lock_leads
from nurture.policy.quiet import QuietCalendar
from nurture.policy.slot import next_slot, over_cap
from nurture.sequences.schedule import lead_zone

# A paused touch cannot know when the higher sequence will end (a goal, an exit, its last
# step): it looks again at the next allowed slot a day later, and goes out then if the
# higher sequence has ended.
PAUSE_RECHECK = timedelta(days=1)


class DeferReason(StrEnum):
    PRIORITY = "priority"  # the lead is in a live sequence of higher priority
    QUIET_DAY = "quiet_day"  # a public holiday of the lead's country or a marketer's date
    CAP = "cap"  # the lead has had the cap's maximum in the rolling window
    PAUSED = "paused"  # the lead paused marketing mail on the preference page


@dataclass(frozen=True, slots=True)
class Candidate:
    """A claimed touch that would go out now, with the lead's country (free text)."""

    touch: Claimed
    country: str | None


@dataclass(frozen=True, slots=True)
class Deferral:
    touch: Claimed
    due_at: datetime
    reason: DeferReason


@dataclass
class LeadState:
    """What the rules know of one lead while the batch is gated."""

    sequences: set[str]  # actively enrolled in
    sends: list[datetime]  # counted by the cap, this batch's accepted touches included
    holidays: str | None  # whose public holidays are quiet for it


@dataclass
class Gate:
    project: Project
    now: datetime
    calendar: QuietCalendar = field(init=False)

    def __post_init__(self) -> None:
        self.calendar = QuietCalendar(self.project.policy.quiet_days)

    def due(self, c: Candidate, lead: LeadState, start: datetime) -> datetime:
        """The next allowed slot at or after ``start`` for this touch."""
        sequence = self.project.sequences[c.touch.sequence_id]
        step = sequence.steps[c.touch.step_index]
        return next_slot(
            start,
            window=sequence.send_window,
            zone=lead_zone(c.touch.lead_timezone, sequence.send_window),
            ignore_window=step.ignore_window,
            quiet=lambda day: self.calendar.why_quiet(day, lead.holidays),
            sends=lead.sends,
            cap=self.project.policy.cap,
        )


Rule = Callable[[Gate, Candidate, LeadState], DeferReason | None]


def priority_pause(gate: Gate, c: Candidate, lead: LeadState) -> DeferReason | None:
    sequences = gate.project.sequences
    mine = sequences[c.touch.sequence_id].priority
    others = (s for s in lead.sequences if s != c.touch.sequence_id and s in sequences)
    return DeferReason.PRIORITY if any(sequences[s].priority > mine for s in others) else None


def quiet_day(gate: Gate, c: Candidate, lead: LeadState) -> DeferReason | None:
    sequence = gate.project.sequences[c.touch.sequence_id]
    today = gate.now.astimezone(lead_zone(c.touch.lead_timezone, sequence.send_window)).date()
    return DeferReason.QUIET_DAY if gate.calendar.why_quiet(today, lead.holidays) else None


def cap(gate: Gate, c: Candidate, lead: LeadState) -> DeferReason | None:
    full = over_cap(gate.now, lead.sends, gate.project.policy.cap)
    return DeferReason.CAP if full is not None else None


RULES: tuple[Rule, ...] = (priority_pause, quiet_day, cap)
# Where the next allowed slot is looked for from, per reason (default: now).
RECHECK = {DeferReason.PRIORITY: PAUSE_RECHECK}


async def hold_back(
    session: AsyncSession,
    project: Project,
    candidates: list[Candidate],
    now: datetime,
    worker: str,
    clock: datetime,
) -> list[Deferral]:
    """The candidates (in touch id order) that may not go out now, each with its new due
    time; the others may. Locks the candidates' leads until the transaction ends (see
    ``lock_leads``); reads each lead's counted sends and sequences in one statement each."""
    policy = project.policy
    gated = [c for c in candidates if c.touch.sequence_id not in policy.exempt_sequences]
    if not gated:
        return []
    lead_ids = {c.touch.lead_id for c in gated}
    await lock_leads(session, lead_ids)
    sends = await counted_sends(
        session, lead_ids, now - policy.cap.per, now, clock, worker, policy.exempt_sequences
    )
    sequences = await active_sequences(session, lead_ids)
    gate = Gate(project, now)
    leads: dict[int, LeadState] = {}
    deferred: list[Deferral] = []
    for c in gated:
        lead = leads.get(c.touch.lead_id)
        if lead is None:
            holidays = gate.calendar.holiday_country(c.country)
            lead = LeadState(sequences[c.touch.lead_id], sends[c.touch.lead_id], holidays)
            leads[c.touch.lead_id] = lead
        reason = next((r for rule in RULES if (r := rule(gate, c, lead))), None)
        if reason is None:
            lead.sends.append(now)  # the next touch of this lead in the batch counts it
        else:
            start = now + RECHECK.get(reason, timedelta(0))
            deferred.append(Deferral(c.touch, gate.due(c, lead, start), reason))
    return deferred
