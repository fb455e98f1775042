"""The funnel, computed in SQL over the event log (a handful of grouped queries, no loop over
leads): per sequence step, lifecycle stages, sales hand-offs and lead sources, for a time
range. ``nurture report`` prints it as text, JSON or one self-contained HTML file.

The JSON shape is stable (``FORMAT_VERSION``) and documented in docs/reporting.md.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import Integer, and_, case, cast, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import UTCDateTime, is_postgres
from nurture.handoff.models import Handoff
from nurture.leads import stages
from nurture.leads.models import Event, Lead
from nurture.leads.stages import Stage

FORMAT_VERSION = 1
STEP_COUNTS = ("sent", "bounced")  # events per send outcome
STEP_UNIQUE = ("open", "click", "unsubscribed")  # distinct leads per step


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _in_range(since: datetime, until: datetime) -> Any:
    return and_(Event.occurred_at >= literal(since, UTCDateTime()),
                Event.occurred_at < literal(until, UTCDateTime()))  # fmt: skip


async def step_metrics(
    session: AsyncSession, project: Project, since: datetime, until: datetime,
    sequence_id: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per sequence step: sends, engagement, rates and who left the sequence there."""
    where = [_in_range(since, until), Event.sequence_id.is_not(None)]
    if sequence_id:
        where.append(Event.sequence_id == sequence_id)
    counted = dict(((r.sequence_id, r.step_id, r.type), r.n) for r in await session.execute(
        select(Event.sequence_id, Event.step_id, Event.type, func.count().label("n"))
        .where(*where, Event.type.in_(STEP_COUNTS))
        .group_by(Event.sequence_id, Event.step_id, Event.type)
    ))  # fmt: skip
    unique = dict(((r.sequence_id, r.step_id, r.type), r.n) for r in await session.execute(
        select(Event.sequence_id, Event.step_id, Event.type,
               func.count(distinct(Event.lead_id)).label("n"))
        .where(*where, Event.type.in_(STEP_UNIQUE))
        .group_by(Event.sequence_id, Event.step_id, Event.type)
    ))  # fmt: skip
    after = Event.data["after_step"].as_integer()
    reason = case((Event.type == "completed", literal("finished")),
                  else_=Event.data["reason"].as_string())  # fmt: skip
    left: dict[tuple[str, int], dict[str, int]] = {}
    for r in await session.execute(
        select(Event.sequence_id, after.label("after"), reason.label("reason"),
               func.count().label("n"))
        .where(*where, Event.type.in_(("exited", "completed")))
        .group_by(Event.sequence_id, after, reason)
    ):  # fmt: skip
        left.setdefault((r.sequence_id, int(r.after or 0)), {})[str(r.reason)] = r.n
    rows = []
    for sequence in project.sequences.values():
        if sequence_id and sequence.id != sequence_id:
            continue
        before = left.get((sequence.id, 0), {})
        for number, step in enumerate(sequence.steps, start=1):
            key = (sequence.id, step.id)
            delivered = counted.get((*key, "sent"), 0)
            bounced = counted.get((*key, "bounced"), 0)
            opens = unique.get((*key, "open"), 0)
            clicks = unique.get((*key, "click"), 0)
            unsubscribes = unique.get((*key, "unsubscribed"), 0)
            exits = dict(left.get((sequence.id, number), {}))
            if number == 1 and before:  # ended before the first email (e.g. a goal)
                for k, v in before.items():
                    exits[k] = exits.get(k, 0) + v
            rows.append({
                "sequence": sequence.id, "step": step.id, "number": number,
                "sent": delivered + bounced, "delivered": delivered, "bounced": bounced,
                "unique_opens": opens, "unique_clicks": clicks, "unsubscribes": unsubscribes,
                "open_rate": _rate(opens, delivered), "click_rate": _rate(clicks, delivered),
                "click_to_open_rate": _rate(clicks, opens),
                "unsubscribe_rate": _rate(unsubscribes, delivered),
                "left": dict(sorted(exits.items())), "left_total": sum(exits.values()),
            })  # fmt: skip
    return rows


def _seconds(postgres: bool, later: Any, earlier: Any) -> Any:
    if postgres:
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _stage_at(stage: str, since: datetime, until: datetime) -> Any:
    """(lead_id, first time it reached ``stage`` in the range)."""
    if stage == Stage.SUBSCRIBER:
        kind = Event.type == "captured"
    else:
        kind = and_(Event.type == "stage_changed", Event.data["stage"].as_string() == stage)
    return (
        select(Event.lead_id, func.min(Event.occurred_at).label("at"))
        .where(kind, _in_range(since, until))
        .group_by(Event.lead_id)
        .subquery()
    )


async def _median_seconds(
    session: AsyncSession, start: str, end: str, since: datetime, until: datetime
) -> float | None:
    """The median time from reaching ``start`` to reaching ``end``: the durations computed
    and sorted in SQL, the middle one taken here (SQLite has no percentile function)."""
    a, b = _stage_at(start, since, until), _stage_at(end, since, until)
    duration = _seconds(is_postgres(session), b.c.at, a.c.at)
    values = list(await session.scalars(
        select(duration).join_from(a, b, a.c.lead_id == b.c.lead_id)
        .where(b.c.at >= a.c.at).order_by(duration)
    ))  # fmt: skip
    if not values:
        return None
    n = len(values)
    middle = values[(n - 1) // 2 : n // 2 + 1]
    return round(sum(float(v) for v in middle) / len(middle), 1)


async def stage_funnel(session: AsyncSession, since: datetime, until: datetime) -> dict[str, Any]:
    """Leads that reached each stage in the range: one grouped pass over the stage events."""
    stage = Event.data["stage"].as_string()
    counted = dict((await session.execute(
        select(stage, func.count(distinct(Event.lead_id)))
        .where(Event.type == "stage_changed", _in_range(since, until)).group_by(stage)
    )).all())  # fmt: skip
    captured = await session.scalar(
        select(func.count(distinct(Event.lead_id))).where(Event.type == "captured",
                                                          _in_range(since, until))
    )  # fmt: skip
    reached = {s: int(counted.get(s, 0)) for s in stages.FUNNEL}
    reached[Stage.SUBSCRIBER] = int(captured or 0)
    steps = []
    for a, b in pairwise(stages.FUNNEL):
        steps.append({"from": a, "to": b, "conversion": _rate(reached[b], reached[a]),
                      "lost": max(reached[a] - reached[b], 0)})  # fmt: skip
    known = [s for s in steps if s["conversion"] is not None]
    worst = min(known, key=lambda s: s["conversion"]) if known else None
    return {
        "reached": reached,
        "conversions": steps,
        "biggest_drop_off": worst,
        "median_seconds": {
            "capture_to_mql": await _median_seconds(session, Stage.SUBSCRIBER, Stage.MQL,
                                                    since, until),
            "mql_to_sql": await _median_seconds(session, Stage.MQL, Stage.SQL, since, until),
        },
    }  # fmt: skip


async def sales_metrics(session: AsyncSession, since: datetime, until: datetime) -> dict[str, Any]:
    in_range = and_(Handoff.created_at >= literal(since, UTCDateTime()),
                    Handoff.created_at < literal(until, UTCDateTime()))  # fmt: skip
    reps: dict[str, dict[str, Any]] = {}
    for r in await session.execute(
        select(Handoff.rep_email, Handoff.state, func.count().label("n"),
               func.sum(case((Handoff.reminded_at.is_not(None), 1), else_=0)).label("reminded"))
        .where(in_range).group_by(Handoff.rep_email, Handoff.state)
    ):  # fmt: skip
        rep = reps.setdefault(r.rep_email, {"rep": r.rep_email, "handoffs": 0, "accepted": 0,
                                            "rejected": 0, "pending": 0, "reassigned": 0,
                                            "sla_reminders": 0})  # fmt: skip
        rep["handoffs"] += r.n
        rep[r.state] += r.n
        rep["sla_reminders"] += int(r.reminded or 0)
    for rep in reps.values():
        answered = rep["accepted"] + rep["rejected"]
        rep["accept_rate"] = _rate(rep["accepted"], answered)
        rep["reject_rate"] = _rate(rep["rejected"], answered)
    reasons = {r.reason: r.n for r in await session.execute(
        select(Handoff.reason, func.count().label("n"))
        .where(in_range, Handoff.state == "rejected").group_by(Handoff.reason)
    )}  # fmt: skip
    breaches = sum(r["reassigned"] for r in reps.values())
    return {"reps": sorted(reps.values(), key=lambda r: r["rep"]),
            "reject_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "sla_breaches": breaches,
            "sla_reminders": sum(r["sla_reminders"] for r in reps.values())}  # fmt: skip


async def source_metrics(session: AsyncSession, since: datetime, until: datetime) -> list[dict]:
    """Per UTM source/medium/campaign of the leads captured in the range: how many became
    MQL, SQL and customer (ever, by their stage events) and the revenue won from them."""
    reached = {}
    for stage in (Stage.MQL, Stage.SQL, Stage.CUSTOMER):
        reached[stage] = func.max(case((and_(Event.type == "stage_changed",
                                             Event.data["stage"].as_string() == stage), 1),
                                       else_=0))  # fmt: skip
    per_lead = (
        select(Event.lead_id, cast(reached[Stage.MQL], Integer).label("mql"),
               cast(reached[Stage.SQL], Integer).label("sql"),
               cast(reached[Stage.CUSTOMER], Integer).label("customers"))
        .where(Event.type == "stage_changed").group_by(Event.lead_id).subquery()
    )  # fmt: skip
    created = and_(Lead.created_at >= literal(since, UTCDateTime()),
                   Lead.created_at < literal(until, UTCDateTime()))  # fmt: skip
    won = latest_values(Stage.CUSTOMER, None, None)
    groups = (Lead.utm_source, Lead.utm_medium, Lead.utm_campaign)
    rows = await session.execute(
        select(*groups, func.count().label("leads"),
               func.coalesce(func.sum(per_lead.c.mql), 0).label("mql"),
               func.coalesce(func.sum(per_lead.c.sql), 0).label("sql"),
               func.coalesce(func.sum(per_lead.c.customers), 0).label("customers"),
               func.coalesce(func.sum(won.c.value), 0).label("won"))
        .outerjoin(per_lead, per_lead.c.lead_id == Lead.id)
        .outerjoin(won, won.c.lead_id == Lead.id)
        .where(created).group_by(*groups)
        .order_by(func.count().desc())
    )  # fmt: skip
    return [{"utm_source": r.utm_source, "utm_medium": r.utm_medium,
             "utm_campaign": r.utm_campaign, "leads": r.leads, "mql": int(r.mql),
             "sql": int(r.sql), "customers": int(r.customers), "won": float(r.won),
             "lead_to_mql": _rate(int(r.mql), r.leads),
             "mql_to_sql": _rate(int(r.sql), int(r.mql)),
             "lead_to_customer": _rate(int(r.customers), r.leads)} for r in rows]  # fmt: skip


def latest_values(stage: str, since: datetime | None, until: datetime | None) -> Any:
    """(lead_id, value): each lead's latest deal value reported for ``stage`` (a CRM may
    report a stage again with a corrected value)."""
    kind = and_(Event.type == "stage_changed", Event.data["stage"].as_string() == stage)
    where = [kind] + ([_in_range(since, until)] if since and until else [])
    latest = select(func.max(Event.id)).where(*where).group_by(Event.lead_id)
    value = func.coalesce(Event.data["value"].as_float(), 0.0)
    return select(Event.lead_id, value.label("value")).where(Event.id.in_(latest)).subquery()


async def revenue_metrics(
    session: AsyncSession, project: Project, since: datetime, until: datetime,
    sources: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """Pipeline (opportunities) and won revenue (customers) reported in the range, the sales
    cycle (median MQL to customer), and with config/sources.yaml the cost per lead, per MQL
    and per customer (CAC) of each costed source."""
    out: dict[str, Any] = {"currency": project.sources.currency if project.sources else None}
    for stage, key in ((Stage.OPPORTUNITY, "pipeline"), (Stage.CUSTOMER, "won")):
        values = latest_values(stage, since, until)
        row = (await session.execute(
            select(func.count(), func.coalesce(func.sum(values.c.value), 0.0))
            .select_from(values)
        )).one()  # fmt: skip
        out[key] = {"deals": int(row[0]), "value": round(float(row[1]), 2)}
    out["median_sales_cycle_seconds"] = await _median_seconds(
        session, Stage.MQL, Stage.CUSTOMER, since, until
    )
    costs = []
    for entry in project.sources.costs if project.sources else []:
        campaign = entry.utm_campaign
        rows = [s for s in sources if s["utm_source"] == entry.utm_source
                and campaign in (None, s["utm_campaign"])]  # fmt: skip
        leads = sum(s["leads"] for s in rows)
        mqls = sum(s["mql"] for s in rows)
        customers = sum(s["customers"] for s in rows)
        won = sum(s["won"] for s in rows)
        costs.append({
            "utm_source": entry.utm_source, "utm_campaign": entry.utm_campaign,
            "cost": entry.cost, "leads": leads, "mql": mqls, "customers": customers,
            "won": round(won, 2),
            "cost_per_lead": round(entry.cost / leads, 2) if leads else None,
            "cost_per_mql": round(entry.cost / mqls, 2) if mqls else None,
            "customer_acquisition_cost": round(entry.cost / customers, 2) if customers else None,
            "return_on_spend": round(won / entry.cost, 2) if entry.cost else None,
        })  # fmt: skip
    out["costs"] = costs
    return out


async def funnel_report(
    session: AsyncSession, project: Project, since: datetime, until: datetime,
    sequence_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    steps = await step_metrics(session, project, since, until, sequence_id)
    sources = await source_metrics(session, since, until)
    # Where most leads left a sequence before its end (unsubscribed, bounced, a goal, ...):
    # not the fall in sends from one step to the next, which counts leads not yet due.
    drops = [
        {
            "sequence": s["sequence"],
            "step": s["step"],
            "left": s["left_total"] - s["left"].get("finished", 0),
        }
        for s in steps
    ]
    drops = [d for d in drops if d["left"]]
    return {
        "format": FORMAT_VERSION,
        "range": {"since": since.isoformat(), "until": until.isoformat()},
        "sequence": sequence_id,
        "steps": steps,
        "biggest_step_drop_off": max(drops, key=lambda d: d["left"]) if drops else None,
        "stages": await stage_funnel(session, since, until),
        "sales": await sales_metrics(session, since, until),
        "sources": sources,
        "revenue": await revenue_metrics(session, project, since, until, sources),
    }
