"""Score every lead, set-based: one INSERT ... SELECT per rule into lead_scores. No Python
loop over leads; the database does the work where the events are.

A lead's score is the rounded sum of its lead_scores rows: the points of every fit rule it
matches, plus for every engagement rule min(cap, sum over its events of points * 0.5 ** (age in
days / half-life)). Engagement before ``leads.score_reset_at`` (set when sales recycles a
lead) does not count, nor opens and clicks a machine made (unless the rule says ``machine:
true``): the events keep them, with the reason. The same events and config at the same
instant give the same score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.scoring import EngagementRule, FitRule, ScoringConfig
from nurture.db import UTCDateTime, is_postgres
from nurture.leads.events import human
from nurture.leads.models import Event, Lead, LeadScore


def _like_escape(value: str) -> str:
    return value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _field(name: str) -> ColumnElement[Any]:
    if name.startswith("custom."):
        return Lead.custom[name.removeprefix("custom.")].as_string()
    return getattr(Lead, name)  # type: ignore[no-any-return]


def fit_condition(rule: FitRule) -> ColumnElement[bool]:
    if rule.field == "email_domain":
        if rule.present:
            return true()
        values = rule.in_ or rule.contains or []
        pattern = "%@{}" if rule.in_ else "%@%{}%"
        return or_(
            *[
                func.lower(Lead.email).like(pattern.format(_like_escape(v)), escape="\\")
                for v in values
            ]
        )
    column = _field(rule.field)
    if rule.present is not None:
        filled = and_(column.is_not(None), column != "")
        return filled if rule.present else ~filled
    if rule.in_:
        return func.lower(column).in_([v.lower() for v in rule.in_])
    return or_(
        *[func.lower(column).like(f"%{_like_escape(v)}%", escape="\\") for v in rule.contains or []]
    )


def _age_days(postgres: bool, now: datetime) -> ColumnElement[float]:
    at = literal(now, UTCDateTime())
    if postgres:
        # float8, not numeric: numeric exp() over a million rows costs a second more
        return cast(func.extract("epoch", at - Event.occurred_at), Float) / 86400.0
    # SQLite would compute julianday(now) again for every row: pass the number
    now_jd = now.timestamp() / 86400.0 + 2440587.5
    return literal(now_jd, Float()) - func.julianday(Event.occurred_at)


def _engagement_select(
    rule: EngagementRule, config: ScoringConfig, now: datetime, postgres: bool, scope: Any
) -> Any:
    points: ColumnElement[float] = literal(rule.points, Float())
    if config.half_life_days:
        rate = math.log(2) / config.half_life_days
        points = points * func.exp(-rate * _age_days(postgres, now))
    total = func.sum(points)
    if rule.cap is not None:
        cap = literal(rule.cap, Float())
        total = func.least(total, cap) if postgres else func.min(total, cap)
    # An anti-join against the few recycled leads, not a join of every event with its lead.
    counted = ~exists().where(
        Lead.id == Event.lead_id,
        Lead.score_reset_at.is_not(None),
        Lead.score_reset_at >= Event.occurred_at,
    )
    where = [Event.type == rule.event, Event.occurred_at <= literal(now, UTCDateTime()), counted]
    if not rule.machine:
        where.append(human())
    if rule.url_contains:
        url = func.lower(Event.data["url"].as_string())
        where.append(
            or_(*[url.like(f"%{_like_escape(v)}%", escape="\\") for v in rule.url_contains])
        )
    for name, value in (rule.properties or {}).items():
        # As text: JSON numbers and strings alike (SQLite's json_extract keeps the type, and
        # gives a JSON true as 1 where PostgreSQL's ->> gives 'true').
        prop = func.lower(cast(Event.data[name].as_string(), String))
        if isinstance(value, bool):
            where.append(prop.in_(["true", "1"] if value else ["false", "0"]))
        else:
            where.append(prop == str(value).lower())
    if scope is not None:
        where.append(Event.lead_id.in_(scope))
    return (
        select(Event.lead_id, literal(rule.id), literal("engagement"), total)
        .where(*where)
        .group_by(Event.lead_id)
    )


async def score_leads(
    session: AsyncSession, config: ScoringConfig, now: datetime, lead_ids: list[int] | None = None
) -> int:
    """Recompute lead_scores for every lead (or only ``lead_ids``): one statement per rule.
    Returns how many rule rows were written."""
    postgres = is_postgres(session)
    scope = lead_ids
    cols = [LeadScore.lead_id, LeadScore.rule, LeadScore.kind, LeadScore.points]
    clear = delete(LeadScore)
    if scope is not None:
        clear = clear.where(LeadScore.lead_id.in_(scope))
    await session.execute(clear)
    if postgres:
        # Aggregating a million events by lead: in memory, not in sort files on disk.
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
    written = 0
    queries = []
    for rule in config.fit:
        query = select(Lead.id, literal(rule.id), literal("fit"), literal(float(rule.points)))
        query = query.where(fit_condition(rule))
        queries.append(query.where(Lead.id.in_(scope)) if scope is not None else query)
    queries += [_engagement_select(r, config, now, postgres, scope) for r in config.engagement]
    for query in queries:
        result = await session.execute(insert(LeadScore).from_select(cols, query))
        written += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return written


def score_total() -> ColumnElement[int]:
    return cast(func.round(func.sum(LeadScore.points)), Integer)


def totals() -> Any:
    """(lead_id, total) for every lead with points: its score."""
    return select(LeadScore.lead_id, score_total().label("total")).group_by(LeadScore.lead_id)


def score_of(lead_id: Any) -> Any:
    """A lead's score as a scalar subquery (0 without points)."""
    return (
        select(cast(func.round(func.coalesce(func.sum(LeadScore.points), 0)), Integer))
        .where(LeadScore.lead_id == lead_id)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class Breakdown:
    total: int
    rules: list[tuple[str, str, float]]  # (rule id, fit|engagement, points), biggest first

    def as_dict(self) -> dict[str, Any]:
        rules = [{"rule": r, "kind": k, "points": round(p, 1)} for r, k, p in self.rules]
        return {"total": self.total, "rules": rules}


async def breakdowns(session: AsyncSession, lead_ids: list[int]) -> dict[int, Breakdown]:
    """Which rule gave how many points, as of the last scoring pass, for each lead."""
    rules: dict[int, list[tuple[str, str, float]]] = {i: [] for i in lead_ids}
    for start in range(0, len(lead_ids), 5000):  # bound-parameter limits
        rows = await session.execute(
            select(LeadScore.lead_id, LeadScore.rule, LeadScore.kind, LeadScore.points)
            .where(LeadScore.lead_id.in_(lead_ids[start : start + 5000]))
            .order_by(LeadScore.lead_id, LeadScore.points.desc(), LeadScore.rule)
        )
        for r in rows:
            rules[r.lead_id].append((r.rule, r.kind, float(r.points)))
    return {i: Breakdown(round(sum(p for _, _, p in rs)), rs) for i, rs in rules.items()}


async def breakdown(session: AsyncSession, lead_id: int) -> Breakdown:
    return (await breakdowns(session, [lead_id]))[lead_id]
