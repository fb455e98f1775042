"""Opens and clicks: each becomes an event on the lead, tied to the send, with its verdict.

Written in one set-based statement per batch (an email going out to thousands brings a burst
of hits): the event's lead, sequence and step come from the send ledger row the token names,
in SQL, so a hit costs no lookup round trip. The verdict (events.machine) is what the request
showed (verdict/machines.py), else "at delivery" when it came within seconds of the
send's ``sent_at``; then the batch's sends are looked at for bursts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, case, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.signals import EngagementSignals
from nurture.db import JSONType, UTCDateTime
from nurture.leads.events import EventType, MachineReason, insert_events_from
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


class RecentSends:
    """What this process saw of each send in the last burst window: when its hidden link was
    fetched, and which links were clicked when. Only a hit that could belong to a burst (near
    a fetch of the hidden link, or a click near a click on another link) makes its send worth
    looking up: most hits cost no query. What another process saw is judged by the scoring
    pass's sweep (verdict/bursts.py)."""

    def __init__(self, limit: int = 100_000):
        self._hidden: dict[int, datetime] = {}
        self._clicks: dict[int, dict[str, datetime]] = {}
        self._limit = limit

    def candidates(self, hits: list[dict[str, Any]], burst: timedelta) -> set[int]:
        found: set[int] = set()
        for hit in hits:
            touch, at = hit["touch_id"], hit["occurred_at"]
            if hit["machine"] == MachineReason.HIDDEN_LINK:
                found.add(touch)  # and the hits before it, which the query finds
                self._hidden[touch] = max(at, self._hidden.get(touch, at))
                continue
            hidden = self._hidden.get(touch)
            if hidden is not None and abs(at - hidden) <= burst:
                found.add(touch)
            if hit["type"] == EventType.CLICK:
                url = hit["data"].get("url", "")
                clicks = self._clicks.setdefault(touch, {})
                if any(u != url and abs(at - t) <= burst for u, t in clicks.items()):
                    found.add(touch)
                clicks[url] = at
                if len(clicks) > 8:  # a message has a handful of links
                    del clicks[min(clicks, key=clicks.__getitem__)]
        if len(self._clicks) + len(self._hidden) > self._limit:
            self._forget(burst)
        return found

    def _forget(self, burst: timedelta) -> None:
        """Drop what no burst can reach any more."""
        times = [*self._hidden.values(), *(t for c in self._clicks.values() for t in c.values())]
        cutoff = max(times) - burst
        self._hidden = {k: t for k, t in self._hidden.items() if t >= cutoff}
        self._clicks = {
            k: {u: t for u, t in c.items() if t >= cutoff}
            for k, c in self._clicks.items()
            if max(c.values()) >= cutoff
        }


_RECENT = RecentSends()


async def record_engagement(
    session: AsyncSession,
    hits: list[dict[str, Any]],
    signals: EngagementSignals,
    recent: RecentSends = _RECENT,
) -> list[None]:
    """``hits``: touch_id, type (``EventType.OPEN`` or ``CLICK``), occurred_at, machine (the
    request's verdict, or None), data (the URL for a click). A hit for a send that is not (or
    no longer) in the ledger as sent records nothing."""
    window = timedelta(seconds=signals.delivery_seconds)
    rows = [{**h, "delivered_after": h["occurred_at"] - window} for h in hits]
    await session.execute(_RECORD, rows)
    candidates = recent.candidates(hits, timedelta(seconds=signals.burst_seconds))
    if candidates:
        times = [h["occurred_at"] for h in hits if h["touch_id"] in candidates]
        await judge_bursts(
            session, signals.burst_seconds, touch_ids=candidates, around=(min(times), max(times))
        )
    return [None] * len(hits)
