"""Unsubscribe: suppress the address and end every drip, from the page or one-click POST."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nurture.leads.events import EventType, record_event
from nurture.leads.models import Lead, SuppressionReason
from nurture.leads.service import find_by_public_id, suppress
from nurture.ledger.enrollment import exit_enrollments


async def unsubscribe(
    session: AsyncSession,
    public_id: str,
    now: datetime,
    via: str,
    sent: tuple[str, str] | None = None,
) -> Lead | None:
    """Idempotent: a second unsubscribe changes nothing and records nothing. ``sent``: the
    (sequence, step) whose email the link was in, recorded on the event for reports."""
    lead = await find_by_public_id(session, public_id)
    if lead is None:
        return None
    if lead.suppressed_at is None:
        sequence_id, step_id = sent or (None, None)
        await record_event(
            session,
            lead.id,
            EventType.UNSUBSCRIBED,
            now,
            via=via,
            sequence_id=sequence_id,
            step_id=step_id,
        )
        await suppress(session, {lead.id: {}}, SuppressionReason.UNSUBSCRIBED, now)
    await exit_enrollments(session, lead.id, SuppressionReason.UNSUBSCRIBED, now)
    return lead
