"""What an in-flight enrollment gets from here on, under a given sequence config: the touch it
has scheduled (it keeps its date: the dispatcher does not re-time a scheduled touch; one
overdue goes out at the next pass, ``now``), then
each next step by the dispatcher's own rule (``ledger.progress.next_step_index``), due by the
dispatcher's own clock (``sequences.schedule.due_at``, counted from the send before). Pure:
the same inputs give the same forecast, with no database and no clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from nurture.config.sequences import SequenceConfig
from nurture.ledger.progress import next_step_index
from nurture.sequences.schedule import due_at


class Fate(StrEnum):
    """What happens to one step of one enrollment when a config change goes live."""

    SKIPPED = "skipped"  # its scheduled touch's step was removed: skipped when due
    ENDED = "ended"  # its sequence was removed: the enrollment ends when the touch is due
    NOT_SENT = "not_sent"  # would have gone out under the live config, will not
    RESCHEDULED = "rescheduled"  # goes out on another date
    NEW = "new"  # goes out, and would not have under the live config


@dataclass(frozen=True)
class Upcoming:
    step_id: str
    at: datetime  # when it goes out (or, for a skip, when it is skipped)
    skipped: str | None = None  # why it does not go out: step_removed, sequence_removed


def forecast(
    sequence: SequenceConfig | None,
    step_id: str,
    due: datetime,
    had: frozenset[str],
    lead_timezone: str | None,
    now: datetime,
) -> list[Upcoming]:
    """Every touch of an enrollment from its scheduled one (``step_id`` due at ``due``; ``had``:
    every step it has a touch row for, that one included), assuming each goes out when due
    (a condition that is false skips the step at the same instant, so the dates after it are
    the same either way) and the contact policy defers nothing. A touch overdue at ``now``
    goes out at ``now``, and the next step counts from there, as the dispatcher's pass at
    ``now`` counts it (``ledger.progress.advance``)."""
    due = max(due, now)
    if sequence is None:
        return [Upcoming(step_id, due, "sequence_removed")]
    ids = sequence.step_ids
    out = [Upcoming(step_id, due, None if step_id in ids else "step_removed")]
    done, current, at = set(had) | {step_id}, step_id, due
    while (index := next_step_index(ids, current, done)) is not None:
        step = sequence.steps[index]
        at = due_at(at, step, sequence.send_window, lead_timezone)
        out.append(Upcoming(step.id, at))
        done.add(step.id)
        current = step.id
    return out


@dataclass(frozen=True)
class Effect:
    fate: Fate
    step_id: str
    at: datetime  # the new date (the old one for NOT_SENT)
    was: datetime | None = None  # the old date (RESCHEDULED)


def effects(live: list[Upcoming], new: list[Upcoming]) -> list[Effect]:
    """How ``new`` differs from ``live`` for one enrollment, step by step, in the new order."""
    before = {u.step_id: u for u in live if u.skipped is None}
    after = {u.step_id: u for u in new if u.skipped is None}
    out: list[Effect] = []
    for u in new:
        if u.skipped == "sequence_removed":
            out.append(Effect(Fate.ENDED, u.step_id, u.at))
        elif u.skipped == "step_removed":
            if u.step_id in before:
                out.append(Effect(Fate.SKIPPED, u.step_id, u.at))
        elif u.step_id not in before:
            out.append(Effect(Fate.NEW, u.step_id, u.at))
        elif before[u.step_id].at != u.at:
            out.append(Effect(Fate.RESCHEDULED, u.step_id, u.at, before[u.step_id].at))
    out += [
        Effect(Fate.NOT_SENT, s, u.at)
        for s, u in before.items()
        if s not in after and not any(e.step_id == s for e in out)
    ]
    return out
