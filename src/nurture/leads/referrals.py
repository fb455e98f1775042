"""Referrals: a new lead who came through a customer's personal referral link (``/ref/``)
makes a ``referred`` event on the referrer (data: the new lead's public id).

Called by capture in the transaction that creates the lead, so a referral is recorded exactly
once: only a lead created by that capture counts (an address we knew already was not brought
by the link, and the same address through the link again finds its lead), and never a lead
referring itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Lead


@dataclass(frozen=True)
class Referral:
    referrer: str  # the referrer's public id, read from a signed token
    lead_id: int  # the lead just created
    lead_public_id: str
    at: datetime


async def record_referrals(session: AsyncSession, referrals: Sequence[Referral]) -> int:
    """One ``referred`` event per referral whose referrer exists and is not the new lead
    itself; set-based (one lookup per chunk of referrers). Returns how many were recorded."""
    wanted = list({r.referrer for r in referrals})
    known: dict[str, int] = {}
    for part in chunked(wanted):
        rows = await session.execute(
            select(Lead.public_id, Lead.id).where(Lead.public_id.in_(part))
        )
        known.update({public_id: lead_id for public_id, lead_id in rows})
    events = [
        event_row(known[r.referrer], EventType.REFERRED, r.at, lead=r.lead_public_id)
        for r in referrals
        if r.referrer in known and known[r.referrer] != r.lead_id
    ]
    await record_events(session, events)
    return len(events)
