"""What sales did with the leads: hand-offs per rep, the leads of each UTM source and what
became of them, revenue reported by the CRM and the cost of each source."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Integer, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import UTCDateTime
from nurture.handoff.models import Handoff, HandoffState
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.leads.stages import Stage
from nurture.reporting.funnel_models import (
    Deals,
    RepMetrics,
    RevenueMetrics,
    SalesMetrics,
    SourceCostMetrics,
    SourceMetrics,
)
from nurture.reporting.funnel_queries import latest_values, median_seconds, rate

# A rejection without a reason (possible through the service, not the sales page) is counted
# under the key JSON has always written for it.
NO_REASON = "null"


async def sales_metrics(session: AsyncSession, since: datetime, until: datetime) -> SalesMetrics:
    """The hand-offs created in the range: per rep and state, the reject reasons, the SLA."""
    in_range = and_(
        Handoff.created_at >= literal(since, UTCDateTime()),
        Handoff.created_at < literal(until, UTCDateTime()),
    )
    per_state: dict[str, Counter[str]] = {}
    reminded: Counter[str] = Counter()
    for r in await session.execute(
        select(
            Handoff.rep_email,
            Handoff.state,
            func.count().label("n"),
            func.sum(case((Handoff.reminded_at.is_not(None), 1), else_=0)).label("reminded"),
        )
        .where(in_range)
        .group_by(Handoff.rep_email, Handoff.state)
    ):
        per_state.setdefault(r.rep_email, Counter())[r.state] += r.n
        reminded[r.rep_email] += int(r.reminded or 0)
    reps = []
    for rep, n in sorted(per_state.items()):
        answered = n[HandoffState.ACCEPTED] + n[HandoffState.REJECTED]
        reps.append(
            RepMetrics(
                rep=rep,
                handoffs=n.total(),
                accepted=n[HandoffState.ACCEPTED],
                rejected=n[HandoffState.REJECTED],
                pending=n[HandoffState.PENDING],
                reassigned=n[HandoffState.REASSIGNED],
                sla_reminders=reminded[rep],
                accept_rate=rate(n[HandoffState.ACCEPTED], answered),
                reject_rate=rate(n[HandoffState.REJECTED], answered),
            )
        )
    reasons = {
        NO_REASON if r.reason is None else r.reason: r.n
        for r in await session.execute(
            select(Handoff.reason, func.count().label("n"))
            .where(in_range, Handoff.state == HandoffState.REJECTED)
            .group_by(Handoff.reason)
        )
    }
    return SalesMetrics(
        reps=reps,
        reject_reasons=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        sla_breaches=sum(r.reassigned for r in reps),
        sla_reminders=sum(r.sla_reminders for r in reps),
    )


async def source_metrics(
    session: AsyncSession, since: datetime, until: datetime
) -> list[SourceMetrics]:
    """Per UTM source/medium/campaign of the leads captured in the range: how many became
    MQL, SQL and customer (ever, by their stage events) and the revenue won from them."""
    reached = {}
    for stage in (Stage.MQL, Stage.SQL, Stage.CUSTOMER):
        reached[stage] = func.max(
            case(
                (
                    and_(
                        Event.type == EventType.STAGE_CHANGED,
                        Event.data["stage"].as_string() == stage,
                    ),
                    1,
                ),
                else_=0,
            )
        )
    per_lead = (
        select(
            Event.lead_id,
            cast(reached[Stage.MQL], Integer).label("mql"),
            cast(reached[Stage.SQL], Integer).label("sql"),
            cast(reached[Stage.CUSTOMER], Integer).label("customers"),
        )
        .where(Event.type == EventType.STAGE_CHANGED)
        .group_by(Event.lead_id)
        .subquery()
    )
    created = and_(
        Lead.created_at >= literal(since, UTCDateTime()),
        Lead.created_at < literal(until, UTCDateTime()),
    )
    won = latest_values(Stage.CUSTOMER, None, None)
    groups = (Lead.utm_source, Lead.utm_medium, Lead.utm_campaign)
    rows = await session.execute(
        select(
            *groups,
            func.count().label("leads"),
            func.coalesce(func.sum(per_lead.c.mql), 0).label("mql"),
            func.coalesce(func.sum(per_lead.c.sql), 0).label("sql"),
            func.coalesce(func.sum(per_lead.c.customers), 0).label("customers"),
            func.coalesce(func.sum(won.c.value), 0).label("won"),
        )
        .outerjoin(per_lead, per_lead.c.lead_id == Lead.id)
        .outerjoin(won, won.c.lead_id == Lead.id)
        .where(created)
        .group_by(*groups)
        .order_by(func.count().desc())
    )
    return [
        SourceMetrics(
            utm_source=r.utm_source,
            utm_medium=r.utm_medium,
            utm_campaign=r.utm_campaign,
            leads=r.leads,
            mql=int(r.mql),
            sql=int(r.sql),
            customers=int(r.customers),
            won=float(r.won),
            lead_to_mql=rate(int(r.mql), r.leads),
            mql_to_sql=rate(int(r.sql), int(r.mql)),
            lead_to_customer=rate(int(r.customers), r.leads),
        )
        for r in rows
    ]


async def _deals(session: AsyncSession, stage: str, since: datetime, until: datetime) -> Deals:
    values = latest_values(stage, since, until)
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(values.c.value), 0.0)).select_from(values)
        )
    ).one()
    return Deals(deals=int(row[0]), value=round(float(row[1]), 2))


def source_costs(project: Project, sources: list[SourceMetrics]) -> list[SourceCostMetrics]:
    """With config/sources.yaml: per costed source or campaign, the cost per lead, per MQL and
    per customer (CAC) and the return on spend."""
    costs = []
    for entry in project.sources.costs if project.sources else []:
        rows = [
            s
            for s in sources
            if s.utm_source == entry.utm_source and entry.utm_campaign in (None, s.utm_campaign)
        ]
        leads = sum(s.leads for s in rows)
        mqls = sum(s.mql for s in rows)
        customers = sum(s.customers for s in rows)
        won = sum((s.won for s in rows), 0.0)
        costs.append(
            SourceCostMetrics(
                utm_source=entry.utm_source,
                utm_campaign=entry.utm_campaign,
                cost=entry.cost,
                leads=leads,
                mql=mqls,
                customers=customers,
                won=round(won, 2),
                cost_per_lead=round(entry.cost / leads, 2) if leads else None,
                cost_per_mql=round(entry.cost / mqls, 2) if mqls else None,
                customer_acquisition_cost=round(entry.cost / customers, 2) if customers else None,
                return_on_spend=round(won / entry.cost, 2) if entry.cost else None,
            )
        )
    return costs


async def revenue_metrics(
    session: AsyncSession,
    project: Project,
    since: datetime,
    until: datetime,
    sources: list[SourceMetrics],
) -> RevenueMetrics:
    """Pipeline (opportunities) and won revenue (customers) reported in the range, the sales
    cycle (median MQL to customer), and the cost of each costed source (``source_costs``)."""
    return RevenueMetrics(
        currency=project.sources.currency if project.sources else None,
        pipeline=await _deals(session, Stage.OPPORTUNITY, since, until),
        won=await _deals(session, Stage.CUSTOMER, since, until),
        median_sales_cycle_seconds=await median_seconds(
            session, Stage.MQL, Stage.CUSTOMER, since, until
        ),
        costs=source_costs(project, sources),
    )
