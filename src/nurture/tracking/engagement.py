"""Opens and clicks: each becomes an event on the lead, tied to the send, with its verdict.

Written in one set-based statement per batch (an email going out to thousands brings a burst
of hits): the event's lead, sequence and step come from the send ledger row the token names,
in SQL, so a hit costs no lookup round trip. The verdict (events.machine) is what the request
showed (verdict/machines.py), else "at delivery" when it came within seconds of the
send's ``sent_at``; then the batch's sends are looked at for bursts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, case, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.signals import EngagementSignals
from nurture.db import JSONType, UTCDateTime
from nurture.leads.events import MachineReason, insert_events_from
from nurture.ledger.models import Touch, TouchState
from nurture.verdict.bursts import judge_bursts

_sends = Touch.__table__
_at = bindparam("occurred_at", type_=UTCDateTime())
_request_verdict = bindparam("machine", type_=String())
# A hit "before" its send (only with a fast-forwarded clock) is not judged by this signal.
_at_delivery = and_(
    _sends.c.sent_at <= _at, _sends.c.sent_at > bindparam("delivered_after", type_=UTCDateTime())
)
_RECORD = insert_events_from(
    select(
        _sends.c.lead_id,
        bindparam("type", type_=String()),
        _at,
        _sends.c.sequence_id,
        _sends.c.step_id,
        _sends.c.id,
        case(
            (_request_verdict.is_not(None), _request_verdict),
            (_at_delivery, literal(MachineReason.AT_DELIVERY.value, String())),
            else_=None,
        ),
        bindparam("data", type_=JSONType),
    ).where(_sends.c.id == bindparam("touch_id"), _sends.c.state == TouchState.SENT)
)


async def record_engagement(
    session: AsyncSession, hits: list[dict[str, Any]], signals: EngagementSignals
) -> list[None]:
    """``hits``: touch_id, type (``EventType.OPEN`` or ``CLICK``), occurred_at, machine (the
    request's verdict, or None), data (the URL for a click). A hit for a send that is not (or
    no longer) in the ledger as sent records nothing."""
    window = timedelta(seconds=signals.delivery_seconds)
    await session.execute(
        _RECORD, [{**h, "delivered_after": h["occurred_at"] - window} for h in hits]
    )
    times = [h["occurred_at"] for h in hits]
    await judge_bursts(
        session,
        signals.burst_seconds,
        touch_ids=[h["touch_id"] for h in hits],
        around=(min(times), max(times)),
    )
    return [None] * len(hits)
