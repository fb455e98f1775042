"""The rule every dispatch pass applies to the leads' preferences, in the claim's transaction
(dispatch/triage.py), set-based over the batch:

- a touch of a sequence whose ``topic`` the lead opted out of is skipped (``topic_opted_out``)
  and its enrollment ends: the lead may have been enrolled again after opting out (a form, a
  trigger), and the opt-out holds until the lead changes it on the page;
- a touch of a paused lead is deferred (the caller releases it and counts it, as the contact
  policy's deferrals): due again when its send window opens on the first day after the pause
  (in the lead's zone; a step that ignores the window: at the start of that day), which never
  ends a pause early. Sequences the contact policy exempts (transactional mail,
  ``exempt_sequences``) are not paused.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import chunked
from nurture.ledger.claims import Claimed
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment
from nurture.preferences.models import TopicOptOut
from nurture.preferences.service import TOPIC_OPTED_OUT, running_pauses
from nurture.sequences.schedule import fit_window, lead_zone


class HasTouch(Protocol):
    @property
    def touch(self) -> Claimed: ...


W = TypeVar("W", bound=HasTouch)


async def respect_preferences(
    session: AsyncSession,
    project: Project,
    candidates: list[W],
    skipped: list[tuple[Claimed, str]],
    now: datetime,
) -> tuple[list[W], list[tuple[Claimed, datetime]]]:
    """The ``candidates`` (claimed touches about to be sent) the leads' preferences let go
    out now, and the paused ones with when they are due again (the caller defers them).
    Opted-out ones are appended to ``skipped`` with the reason (the caller marks the touches
    skipped) and their enrollments end here."""
    touches = [c.touch for c in candidates]
    opted_out = await _opted_out(session, project, touches)
    if opted_out:
        skipped += [(t, TOPIC_OPTED_OUT) for t in touches if t.id in opted_out]
        ended = sorted({t.enrollment_id for t in touches if t.id in opted_out})
        await exit_matching(session, [Enrollment.id.in_(ended)], TOPIC_OPTED_OUT, now)
    exempt = set(project.policy.exempt_sequences)
    pausable = [t for t in touches if t.id not in opted_out and t.sequence_id not in exempt]
    paused = await _paused(session, project, pausable, now)
    held = opted_out | {t.id for t, _ in paused}
    return [c for c in candidates if c.touch.id not in held], paused


async def _opted_out(session: AsyncSession, project: Project, touches: list[Claimed]) -> set[int]:
    """The touches whose sequence's topic their lead opted out of."""
    topic_of = {s.id: s.topic for s in project.sequences.values() if s.topic}
    pairs = sorted(
        {(t.lead_id, topic_of[t.sequence_id]) for t in touches if t.sequence_id in topic_of}
    )
    out: set[tuple[int, str]] = set()
    for part in chunked(pairs):
        key = tuple_(TopicOptOut.lead_id, TopicOptOut.topic)
        rows = await session.execute(
            select(TopicOptOut.lead_id, TopicOptOut.topic).where(key.in_(part))
        )
        out.update((lead_id, topic) for lead_id, topic in rows)
    return {t.id for t in touches if (t.lead_id, topic_of.get(t.sequence_id)) in out}


async def _paused(
    session: AsyncSession, project: Project, touches: list[Claimed], now: datetime
) -> list[tuple[Claimed, datetime]]:
    """The touches of paused leads, each with when it is due after the pause."""
    paused = await running_pauses(session, {t.lead_id for t in touches}, now)
    return [
        (t, _after_pause(project, t, paused[t.lead_id])) for t in touches if t.lead_id in paused
    ]


def _after_pause(project: Project, touch: Claimed, paused_until: datetime) -> datetime:
    """When a touch deferred by a pause is due: the first day after the pause, in its window."""
    sequence = project.sequences[touch.sequence_id]
    zone = lead_zone(touch.lead_timezone, sequence.send_window)
    day_after = datetime.combine(
        paused_until.astimezone(zone).date() + timedelta(days=1), time(), zone
    )
    if sequence.steps[touch.step_index].ignore_window:
        return day_after.astimezone(UTC)
    return fit_window(day_after, sequence.send_window, zone)
