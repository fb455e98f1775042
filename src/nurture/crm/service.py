"""Deals a CRM reports: ``record_deal`` (a won deal makes a customer) and ``deals_of``.

Functions take a session and never commit; the HTTP handler or CLI command owns the
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.crm.models import Deal
from nurture.db import insert_ignoring_conflicts
from nurture.leads.events import EventType, record_event
from nurture.leads.models import Lead
from nurture.leads.service import StageChange, change_stage
from nurture.leads.stages import Stage


@dataclass(frozen=True)
class DealIn:
    external_id: str
    value: float
    currency: str
    closed_on: date


@dataclass(frozen=True)
class Recorded:
    deal: Deal
    created: bool  # False: the CRM sent this deal before; nothing changed
    previous_stage: str  # the lead's stage before (read under the lead's row lock)

    @property
    def stage(self) -> str:
        """The lead's stage now: a new deal makes a customer; a replay changes nothing."""
        return Stage.CUSTOMER if self.created else self.previous_stage


async def record_deal(
    session: AsyncSession, lead: Lead, deal: DealIn, now: datetime, via: str
) -> Recorded:
    """Record a won deal once per lead and CRM deal id: the row, a ``deal_recorded`` event and,
    for a lead not yet a customer, the move to ``customer`` (with the deal's value, which the
    funnel's won revenue reads). A deal id seen before changes nothing, whatever the body says
    now: a replayed webhook must not count twice, and a correction is a new deal id."""
    # The lead's row locked first (PostgreSQL; SQLite writes one at a time anyway): two first
    # deals at once must not make it a customer twice. First, not after the insert: the
    # insert's foreign-key lock and a later FOR UPDATE deadlock two such requests.
    previous = str(
        await session.scalar(
            select(Lead.lifecycle_stage).where(Lead.id == lead.id).with_for_update()
        )
    )
    inserted = await session.execute(
        insert_ignoring_conflicts(session, Deal.__table__, "lead_id", "external_id")
        .values(
            lead_id=lead.id,
            external_id=deal.external_id,
            value=round(deal.value, 2),
            currency=deal.currency,
            closed_on=deal.closed_on,
            recorded_at=now,
        )
        .returning(Deal.__table__.c.id)
    )
    created = inserted.scalar_one_or_none() is not None
    row = await session.scalar(
        select(Deal).where(Deal.lead_id == lead.id, Deal.external_id == deal.external_id)
    )
    assert row is not None
    if created:
        await record_event(
            session,
            lead.id,
            EventType.DEAL_RECORDED,
            now,
            deal=deal.external_id,
            value=row.value,
            currency=row.currency,
            closed_on=row.closed_on.isoformat(),
            via=via,
        )
        if previous != Stage.CUSTOMER:
            change = StageChange(lead.id, previous)
            await change_stage(session, Stage.CUSTOMER, [change], now, value=row.value, via=via)
    return Recorded(row, created, previous)


async def deals_of(session: AsyncSession, lead_id: int) -> list[Deal]:
    """The lead's deals, oldest first."""
    return list(
        await session.scalars(
            select(Deal).where(Deal.lead_id == lead_id).order_by(Deal.closed_on, Deal.id)
        )
    )
