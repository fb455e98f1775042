"""Forgetting a lead: its personal data erased everywhere it is stored, in one transaction;
the anonymous record stays (stage, dates, first-touch campaign, the events' types and times),
so the report's totals do not change, and a keyed hash of the address stays in ``forgotten``,
so nothing mails it again without a new, confirmed consent (capture/service.py).

On SQLite, ``scrub`` then rewrites the file (VACUUM) and empties the WAL: deleted and
overwritten bytes otherwise linger in free pages and old WAL frames. On PostgreSQL dead row
versions stay until VACUUM (docs/lifecycle.md)."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import get_engine, insert_ignoring_conflicts
from nurture.leads.events import EventType, record_event
from nurture.leads.forgotten import Forgotten, address_key
from nurture.leads.models import PROFILE, Lead, SuppressionReason
from nurture.leads.service import suppress
from nurture.ledger.enrollment import exit_enrollments
from nurture.rights.held import HELD

log = logging.getLogger(__name__)

FORGOTTEN_DOMAIN = "invalid"  # RFC 2606: no address there is real, and no form accepts it


def placeholder(public_id: str) -> str:
    """The anonymous row's address: unique (the public id is) and never a real one."""
    return f"forgotten-{public_id}@{FORGOTTEN_DOMAIN}"


def is_forgotten(lead: Lead) -> bool:
    return lead.suppression_reason == SuppressionReason.FORGOTTEN and lead.email == placeholder(
        lead.public_id
    )


# The lead's columns forget clears. Kept: the public id (the CRM's handle on the anonymous
# record), stage, dates, suppression, owner (the rep's address, not the lead's), the form and
# the campaign that brought the lead in (utm source, medium, campaign: the report's sources).
ERASED = {
    **dict.fromkeys(PROFILE),
    "utm_term": None,
    "utm_content": None,
    "referrer": None,
}


@dataclass(frozen=True)
class Forgetting:
    public_id: str
    forgotten_at: datetime
    already: bool  # forgotten before: nothing changed now


async def forget_lead(
    session: AsyncSession, lead: Lead, secret: str, now: datetime, via: str
) -> Forgetting:
    """Erase ``lead``'s personal data (idempotent: a forgotten lead is left as it is)."""
    if is_forgotten(lead):
        return Forgetting(lead.public_id, lead.suppressed_at or now, already=True)
    key = address_key(lead.email, secret)
    for held in HELD:
        if held.erase is not None:
            await held.erase(session, [lead.id])
    await exit_enrollments(session, lead.id, SuppressionReason.FORGOTTEN, now)
    await suppress(session, {lead.id: {}}, SuppressionReason.FORGOTTEN, now)
    await session.execute(
        update(Lead)
        .where(Lead.id == lead.id)
        .values(email=placeholder(lead.public_id), custom={}, updated_at=now, **ERASED)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        insert_ignoring_conflicts(session, Forgotten.__table__, "key").values(
            key=key, forgotten_at=now
        )
    )
    await record_event(session, lead.id, EventType.FORGOTTEN, now, via=via)
    await session.refresh(lead)
    return Forgetting(lead.public_id, now, already=False)


async def forgotten_at(session: AsyncSession, email: str, secret: str) -> datetime | None:
    """When this normalised address was forgotten, or None."""
    return await session.scalar(
        select(Forgotten.forgotten_at).where(Forgotten.key == address_key(email, secret))
    )


@dataclass(frozen=True)
class Scrub:
    vacuumed: bool  # SQLite: the file was rewritten (False: locked too long; forget again)
    # SQLite: the WAL was emptied; False while another connection read an older snapshot
    # (its frames are overwritten later; forget again to finish)
    wal_emptied: bool

    @property
    def complete(self) -> bool:
        return self.vacuumed and self.wal_emptied


async def scrub(url: str) -> Scrub:
    """SQLite: rewrite the database without its free pages (VACUUM) and truncate the WAL, so
    the erased bytes are nowhere in the files. Outside a transaction: VACUUM cannot run in
    one. PostgreSQL: nothing (an operator's VACUUM, docs/operations.md)."""
    if not url.startswith("sqlite"):
        return Scrub(vacuumed=False, wal_emptied=False)
    try:
        async with get_engine(url).connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute("VACUUM")
            cursor = await raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _, _ = await cursor.fetchone()  # type: ignore[misc]
            await cursor.close()
    except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full: the erasure
        log.warning("VACUUM after forget failed (%s); forget again to finish", exc)  # is done
        return Scrub(vacuumed=False, wal_emptied=False)
    return Scrub(vacuumed=True, wal_emptied=not busy)
