"""What an operator does with touches in doubt: list them, resend them, or record them sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Lead
from nurture.ledger.claims import Claimed
from nurture.ledger.models import Touch, TouchState
from nurture.ledger.progress import advance


@dataclass(frozen=True)
class InDoubt:
    id: int
    email: str
    sequence_id: str
    step_id: str
    since: datetime
    reason: str | None
    message_id: str | None


async def list_in_doubt(session: AsyncSession, limit: int = 1000) -> list[InDoubt]:
    rows = await session.execute(
        select(
            Touch.id,
            Lead.email,
            Touch.sequence_id,
            Touch.step_id,
            Touch.updated_at,
            Touch.reason,
            Touch.message_id,
        )
        .join(Lead, Lead.id == Touch.lead_id)
        .where(Touch.state == TouchState.IN_DOUBT)
        .order_by(Touch.updated_at, Touch.id)
        .limit(limit)
    )
    return [InDoubt(*r) for r in rows.all()]


async def release_in_doubt(
    session: AsyncSession, ids: list[int] | None, as_sent: bool, project: Project, now: datetime
) -> int:
    """Resend (due now; a duplicate is possible) or record as sent (the drip moves on).
    ``ids`` None means every touch in doubt. Returns how many were released."""
    query = select(Touch).where(Touch.state == TouchState.IN_DOUBT)
    if ids is not None:
        query = query.where(Touch.id.in_(ids))
    touches = list((await session.scalars(query.with_for_update())).all())
    if not touches:
        return 0
    chosen = [t.id for t in touches]
    if as_sent:
        await session.execute(
            update(Touch)
            .where(Touch.id.in_(chosen))
            .values(state=TouchState.SENT, sent_at=now, reason="released as sent", updated_at=now)
        )
        leads = dict(
            (
                await session.execute(
                    select(Lead.id, Lead.timezone).where(Lead.id.in_({t.lead_id for t in touches}))
                )
            ).all()
        )
        live = [t for t in touches if t.sequence_id in project.sequences]
        await advance(
            session,
            [
                Claimed(
                    t.id,
                    t.enrollment_id,
                    t.lead_id,
                    leads.get(t.lead_id),
                    t.sequence_id,
                    t.step_id,
                    t.step_index,
                    t.attempts,
                )
                for t in live
            ],
            project,
            now,
        )
        # Counted as sent where sends are counted (the funnel reads 'sent' events).
        await record_events(
            session,
            [
                event_row(
                    t.lead_id,
                    EventType.SENT,
                    now,
                    sequence_id=t.sequence_id,
                    step_id=t.step_id,
                    message_id=t.message_id,
                    released_as_sent=True,
                )
                for t in touches
            ],
        )
    else:
        await session.execute(
            update(Touch)
            .where(Touch.id.in_(chosen))
            .values(
                state=TouchState.SCHEDULED,
                due_at=now,
                claimed_by=None,
                lease_until=None,
                reason="released for resend",
                updated_at=now,
            )
        )
    await record_events(
        session,
        [
            event_row(
                t.lead_id,
                EventType.RELEASED,
                now,
                sequence_id=t.sequence_id,
                step_id=t.step_id,
                as_sent=as_sent,
            )
            for t in touches
        ],
    )
    return len(touches)
