"""Enrol leads in sequences, schedule their touches, end enrollments.

Each scheduled touch is a row in the send ledger (``sends``) with its due time; the dispatcher
claims those rows. Functions take a session and never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.dispatch.models import Touch, TouchState
from nurture.leads.models import Lead
from nurture.leads.service import record_event
from nurture.sequences.config import SequenceConfig
from nurture.sequences.models import Enrollment, EnrollmentState
from nurture.sequences.schedule import due_at

LIVE = (EnrollmentState.PENDING, EnrollmentState.ACTIVE)


def next_touch(
    enrollment_id: int,
    lead_id: int,
    lead_timezone: str | None,
    sequence: SequenceConfig,
    index: int,
    previous: datetime,
) -> dict[str, object]:
    """The ledger row for step ``index``, due after ``previous`` (as insert values)."""
    step = sequence.steps[index]
    return {
        "enrollment_id": enrollment_id,
        "lead_id": lead_id,
        "sequence_id": sequence.id,
        "step_id": step.id,
        "step_index": index,
        "state": TouchState.SCHEDULED,
        "due_at": due_at(previous, step, sequence.send_window, lead_timezone),
        "attempts": 0,
        "created_at": previous,
        "updated_at": previous,
    }


async def schedule_first(
    session: AsyncSession,
    enrollment: Enrollment,
    lead: Lead,
    sequence: SequenceConfig,
    now: datetime,
) -> None:
    row = next_touch(enrollment.id, lead.id, lead.timezone, sequence, 0, now)
    session.add(Touch(**row))
    enrollment.state = EnrollmentState.ACTIVE
    enrollment.current_step = 0
    enrollment.next_due_at = row["due_at"]  # type: ignore[assignment]


async def enrol(
    session: AsyncSession,
    lead: Lead,
    sequence: SequenceConfig,
    version: str,
    now: datetime,
    *,
    pending: bool,
) -> Enrollment | None:
    """Enrol once per lead and sequence; None if the lead already is (or was) in it."""
    existing = await session.scalar(
        select(Enrollment).where(
            Enrollment.lead_id == lead.id, Enrollment.sequence_id == sequence.id
        )
    )
    if existing is not None:
        return None
    enrollment = Enrollment(
        lead_id=lead.id,
        sequence_id=sequence.id,
        sequence_version=version,
        state=EnrollmentState.PENDING,
        current_step=0,
        enrolled_at=now,
        updated_at=now,
    )
    session.add(enrollment)
    await session.flush()
    if not pending:
        await schedule_first(session, enrollment, lead, sequence, now)
    await record_event(session, lead.id, "enrolled", now, sequence_id=sequence.id, pending=pending)
    return enrollment


async def activate_pending(
    session: AsyncSession, lead: Lead, sequences: list[SequenceConfig], now: datetime
) -> list[str]:
    """Start the drips that waited for double opt-in confirmation."""
    by_id = {s.id: s for s in sequences}
    rows = await session.scalars(
        select(Enrollment).where(
            Enrollment.lead_id == lead.id,
            Enrollment.state == EnrollmentState.PENDING,
            Enrollment.sequence_id.in_(by_id),
        )
    )
    started = []
    for enrollment in rows:
        await schedule_first(session, enrollment, lead, by_id[enrollment.sequence_id], now)
        started.append(enrollment.sequence_id)
    return started


async def exit_enrollments(session: AsyncSession, lead_id: int, reason: str, now: datetime) -> int:
    """End every live enrollment of a lead and skip its scheduled touches."""
    ended = (
        (
            await session.execute(
                update(Enrollment)
                .where(Enrollment.lead_id == lead_id, Enrollment.state.in_(LIVE))
                .values(
                    state=EnrollmentState.EXITED,
                    exit_reason=reason,
                    ended_at=now,
                    next_due_at=None,
                    updated_at=now,
                )
                .returning(Enrollment.sequence_id)
            )
        )
        .scalars()
        .all()
    )
    await session.execute(
        update(Touch)
        .where(Touch.lead_id == lead_id, Touch.state.in_(TouchState.CLAIMABLE))
        .values(state=TouchState.SKIPPED, reason=reason, updated_at=now)
    )
    for sequence_id in ended:
        await record_event(session, lead_id, "exited", now, sequence_id=sequence_id, reason=reason)
    return len(ended)
