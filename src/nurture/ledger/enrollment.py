"""Enrol leads in sequences, schedule their touches, end enrollments.

Each scheduled touch is a row in the send ledger (``sends``) with its due time; the dispatcher
claims those rows. Functions take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.sequences import SequenceConfig
from nurture.db import chunked, insert_values
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Lead
from nurture.ledger.models import CLAIMABLE, LIVE, Enrollment, EnrollmentState, Touch, TouchState
from nurture.ledger.progress import next_touch


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


_COLUMNS = (
    "lead_id",
    "sequence_id",
    "entry",
    "sequence_version",
    "state",
    "current_step",
    "next_due_at",
    "enrolled_at",
    "updated_at",
)


async def enrol_many(
    session: AsyncSession,
    versions: dict[str, str],
    wanted: Sequence[tuple[Any, Sequence[SequenceConfig], bool, datetime]],
    entries: Mapping[tuple[int, str], int] | None = None,
) -> dict[int, list[str]]:
    """Enrol leads in sequences, set-based: one insert for the enrollments, one for their
    first touches, one for the events. ``wanted``: (lead row with id and timezone, sequences,
    pending, now); pending enrollments wait for double opt-in. ``entries``: which entry of the
    lead into the sequence each is, by (lead id, sequence id); 1 (the first) unless given. An
    entry that exists already is left alone (ON CONFLICT): two passes at once enrol once.
    Returns the new sequence ids by lead id."""
    rows: list[dict[str, Any]] = []
    context: dict[tuple[int, str], tuple[Any, SequenceConfig, bool, datetime]] = {}
    for lead, sequences, pending, now in wanted:
        for sequence in sequences:
            first = None if pending else next_touch(0, lead.id, lead.timezone, sequence, 0, now)
            rows.append(
                {
                    "lead_id": lead.id,
                    "sequence_id": sequence.id,
                    "entry": (entries or {}).get((lead.id, sequence.id), 1),
                    "sequence_version": versions[sequence.id],
                    "state": EnrollmentState.PENDING if pending else EnrollmentState.ACTIVE,
                    "current_step": 0,
                    "next_due_at": first["due_at"] if first else None,
                    "enrolled_at": now,
                    "updated_at": now,
                }
            )
            context[(lead.id, sequence.id)] = (lead, sequence, pending, now)
    if not rows:
        return {}
    new = await insert_values(
        session,
        Enrollment.__table__,
        _COLUMNS,
        rows,
        "ON CONFLICT (lead_id, sequence_id, entry) DO NOTHING",
        ("id", "lead_id", "sequence_id", "entry"),
    )
    touches, events = [], []
    enrolled: dict[int, list[str]] = {}
    for e in sorted(new, key=lambda e: e.id):
        lead, sequence, pending, now = context[(e.lead_id, e.sequence_id)]
        enrolled.setdefault(lead.id, []).append(sequence.id)
        if not pending:
            touches.append(next_touch(e.id, lead.id, lead.timezone, sequence, 0, now))
        events.append(
            event_row(
                lead.id,
                EventType.ENROLLED,
                now,
                sequence_id=sequence.id,
                pending=pending,
                **({"entry": e.entry} if e.entry > 1 else {}),  # a re-entry says which
            )
        )
    if touches:
        await session.execute(insert(Touch.__table__), touches)
    await record_events(session, events)
    return enrolled


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


async def exit_matching(
    session: AsyncSession, where: list[ColumnElement[bool]], reason: str, now: datetime
) -> int:
    """End the live enrollments matching ``where`` (set-based), skip their scheduled touches
    and record an ``exited`` event for each. Returns how many ended."""
    ended = (
        await session.execute(
            update(Enrollment)
            .where(Enrollment.state.in_(LIVE), *where)
            .values(
                state=EnrollmentState.EXITED,
                exit_reason=reason,
                ended_at=now,
                next_due_at=None,
                updated_at=now,
            )
            .returning(
                Enrollment.id, Enrollment.lead_id, Enrollment.sequence_id, Enrollment.current_step
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    for part in chunked([e.id for e in ended]):
        await session.execute(
            update(Touch)
            .where(Touch.enrollment_id.in_(part), Touch.state.in_(CLAIMABLE))
            .values(state=TouchState.SKIPPED, reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    await record_events(
        session,
        [
            # after_step: how many of its emails the lead had got (reports: where leads leave)
            event_row(
                e.lead_id,
                EventType.EXITED,
                now,
                sequence_id=e.sequence_id,
                reason=reason,
                after_step=e.current_step,
            )
            for e in ended
        ],
    )
    return len(ended)


async def exit_enrollments(session: AsyncSession, lead_id: int, reason: str, now: datetime) -> int:
    """End every live enrollment of a lead and skip its scheduled touches."""
    return await exit_matching(session, [Enrollment.lead_id == lead_id], reason, now)
