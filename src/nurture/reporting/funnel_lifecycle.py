"""The lifecycle after the sale, in grouped SQL over events and deals (no loop over leads):
customers, repeat purchases and revenue per customer, referrals, and NPS per sequence.

Everything is counted by row ids, never by names or addresses: a forgotten (anonymised) lead
keeps its rows and is counted as before.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.crm.models import Deal
from nurture.db import UTCDateTime
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.leads.stages import Stage
from nurture.reporting.funnel_models import (
    CurrencyRevenue,
    LifecycleMetrics,
    NpsMetrics,
    ReferralMetrics,
)
from nurture.reporting.funnel_queries import in_range, rate

PROMOTER, PASSIVE = 9, 7  # 9-10 promote, 7-8 are passive, 0-6 detract


def _days(since: datetime, until: datetime) -> tuple[date, date]:
    """The UTC days of the range, for deals (closed on a day): the first and the last."""
    return since.date(), (until - timedelta(microseconds=1)).date()


def _customers_by(until: datetime) -> Any:
    """(lead_id) of the leads that became customers before ``until``."""
    return (
        select(Event.lead_id)
        .where(
            Event.type == EventType.STAGE_CHANGED,
            Event.data["stage"].as_string() == Stage.CUSTOMER,
            Event.occurred_at < literal(until, UTCDateTime()),
        )
        .distinct()
        .subquery()
    )


async def _deal_metrics(
    session: AsyncSession, since: datetime, until: datetime
) -> tuple[int, int, int, list[CurrencyRevenue]]:
    """(buyers, repeat customers, deals, revenue per currency), deals closed by the end."""
    first, last = _days(since, until)
    closed = Deal.closed_on <= last
    per_lead = (
        select(Deal.lead_id, func.count().label("n"))
        .where(closed)
        .group_by(Deal.lead_id)
        .subquery()
    )
    buyers, repeat, deals = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((per_lead.c.n >= 2, 1), else_=0)), 0),
                func.coalesce(func.sum(per_lead.c.n), 0),
            )
        )
    ).one()
    in_window = Deal.closed_on >= first
    revenue = []
    for r in await session.execute(
        select(
            Deal.currency,
            func.count().label("deals"),
            func.sum(Deal.value).label("value"),
            func.count(distinct(Deal.lead_id)).label("customers"),
            func.sum(case((in_window, 1), else_=0)).label("in_range"),
            func.sum(case((in_window, Deal.value), else_=0)).label("value_in_range"),
        )
        .where(closed)
        .group_by(Deal.currency)
    ):
        value = round(float(r.value or 0), 2)
        revenue.append(
            CurrencyRevenue(
                currency=r.currency,
                deals=r.deals,
                value=value,
                customers=r.customers,
                per_customer=round(value / r.customers, 2) if r.customers else None,
                deals_in_range=int(r.in_range or 0),
                value_in_range=round(float(r.value_in_range or 0), 2),
            )
        )
    revenue.sort(key=lambda c: (-c.value, c.currency))
    return int(buyers), int(repeat), int(deals), revenue


async def _referrals(session: AsyncSession, since: datetime, until: datetime) -> ReferralMetrics:
    referred_id = Event.data["lead"].as_string()
    customers = _customers_by(until)
    row = (
        await session.execute(
            select(
                func.count(distinct(Event.lead_id)),
                func.count(distinct(referred_id)),
                func.count(distinct(case((customers.c.lead_id.is_not(None), referred_id)))),
            )
            .select_from(Event)
            .outerjoin(Lead, Lead.public_id == referred_id)
            .outerjoin(customers, customers.c.lead_id == Lead.id)
            .where(Event.type == EventType.REFERRED, in_range(since, until))
        )
    ).one()
    referrers, referred, became = (int(v or 0) for v in row)
    return ReferralMetrics(
        referrers=referrers,
        referred=referred,
        became_customers=became,
        customer_rate=rate(became, referred),
    )


def _nps(sequence: str | None, responses: int, promoters: int, passives: int) -> NpsMetrics:
    detractors = responses - promoters - passives
    score = round(100 * (promoters - detractors) / responses, 1) if responses else None
    return NpsMetrics(
        sequence=sequence,
        responses=responses,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        nps=score,
    )


async def _nps_rows(
    session: AsyncSession, since: datetime, until: datetime, sequence_id: str | None
) -> list[NpsMetrics]:
    """Per sequence: each lead's latest answer per email (touch) in the range."""
    where = [Event.type == EventType.NPS_SCORED, in_range(since, until)]
    if sequence_id:
        where.append(Event.sequence_id == sequence_id)
    latest = select(func.max(Event.id)).where(*where).group_by(Event.lead_id, Event.touch_id)
    score = Event.data["score"].as_integer()
    rows = await session.execute(
        select(
            Event.sequence_id,
            func.count(),
            func.sum(case((score >= PROMOTER, 1), else_=0)),
            func.sum(case((and_(score >= PASSIVE, score < PROMOTER), 1), else_=0)),
        )
        .where(Event.id.in_(latest))
        .group_by(Event.sequence_id)
    )
    out = [_nps(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]
    return sorted(out, key=lambda n: (n.sequence is None, n.sequence or ""))


async def lifecycle_metrics(
    session: AsyncSession, since: datetime, until: datetime, sequence_id: str | None = None
) -> LifecycleMetrics:
    """The lifecycle section of the funnel report; ``sequence_id`` narrows the NPS answers."""
    customers = _customers_by(until)
    count = await session.scalar(select(func.count()).select_from(customers))
    buyers, repeat, deals, revenue = await _deal_metrics(session, since, until)
    nps = await _nps_rows(session, since, until, sequence_id)
    total = _nps(
        None,
        sum(n.responses for n in nps),
        sum(n.promoters for n in nps),
        sum(n.passives for n in nps),
    )
    return LifecycleMetrics(
        customers=int(count or 0),
        buyers=buyers,
        repeat_customers=repeat,
        repeat_purchase_rate=rate(repeat, buyers),
        deals=deals,
        revenue=revenue,
        referrals=await _referrals(session, since, until),
        nps=[n for n in nps if n.sequence is not None],
        nps_total=total,
    )
