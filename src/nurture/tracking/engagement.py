"""Opens and clicks: each becomes an event on the lead, tied to the sequence and step sent.

Written in one set-based statement per batch (an email going out to thousands brings a burst
of hits): the event's lead, sequence and step come from the send ledger row the token names,
in SQL, so a hit costs no lookup round trip.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import JSONType, UTCDateTime
from nurture.leads.events import insert_events_from
from nurture.ledger.models import Touch, TouchState

_sends = Touch.__table__
_RECORD = insert_events_from(
    select(
        _sends.c.lead_id,
        bindparam("type", type_=String()),
        bindparam("occurred_at", type_=UTCDateTime()),
        _sends.c.sequence_id,
        _sends.c.step_id,
        _sends.c.id,
        bindparam("machine", type_=String()),
        bindparam("data", type_=JSONType),
    ).where(_sends.c.id == bindparam("touch_id"), _sends.c.state == TouchState.SENT)
)


async def record_engagement(session: AsyncSession, hits: list[dict[str, Any]]) -> list[None]:
    """``hits``: touch_id, type (``EventType.OPEN`` or ``CLICK``), occurred_at, data (the URL
    for a click). A hit for a send that is not (or no longer) in the ledger as sent records
    nothing."""
    await session.execute(_RECORD, hits)
    return [None] * len(hits)
