"""Opens and clicks: each becomes an event on the lead, tied to the sequence and step sent.

Written in one set-based statement per batch (an email going out to thousands brings a burst
of hits): the event's lead, sequence and step come from the send ledger row the token names,
in SQL, so a hit costs no lookup round trip.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.leads.models import Event

_events = Event.__table__
_RECORD = text(
    "INSERT INTO events (lead_id, type, occurred_at, sequence_id, step_id, data) "
    "SELECT lead_id, :type, :occurred_at, sequence_id, step_id, :data FROM sends "
    "WHERE id = :touch_id AND state = 'sent'"
).bindparams(
    bindparam("occurred_at", type_=_events.c.occurred_at.type),
    bindparam("data", type_=_events.c.data.type),
)


async def record_engagement(session: AsyncSession, hits: list[dict[str, Any]]) -> list[None]:
    """``hits``: touch_id, type ('open' or 'click'), occurred_at, data (the URL for a click).
    A hit for a send that is not (or no longer) in the ledger as sent records nothing."""
    await session.execute(_RECORD, hits)
    return [None] * len(hits)
