"""Score every lead, set-based: one INSERT ... SELECT per rule into lead_scores, one UPDATE of
leads.score. No Python loop over leads; the database does the work where the events are.

A lead's score = the points of every fit rule it matches + for every engagement rule,
min(cap, sum over its events of points * 0.5 ** (age in days / half-life)). Engagement before
``leads.score_reset_at`` (set when sales recycles a lead) does not count. The same events and
config at the same instant give the same score: the breakdown is in lead_scores.
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
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import UTCDateTime, is_postgres
from nurture.leads.models import Event, Lead, LeadScore
from nurture.scoring.config import EngagementRule, FitRule, ScoringConfig


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
        return or_(*[func.lower(Lead.email).like(pattern.format(_like_escape(v)), escape="\\")
                     for v in values])  # fmt: skip
    column = _field(rule.field)
    if rule.present is not None:
        filled = and_(column.is_not(None), column != "")
        return filled if rule.present else ~filled
    if rule.in_:
        return func.lower(column).in_([v.lower() for v in rule.in_])
    return or_(*[func.lower(column).like(f"%{_like_escape(v)}%", escape="\\")
                 for v in rule.contains or []])  # fmt: skip


def _age_days(postgres: bool, now: datetime) -> ColumnElement[float]:
    at = literal(now, UTCDateTime())
    if postgres:
        return func.extract("epoch", at - Event.occurred_at) / 86400.0
    return func.julianday(at) - func.julianday(Event.occurred_at)


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
    counted = or_(Lead.score_reset_at.is_(None), Event.occurred_at > Lead.score_reset_at)
    where = [Event.type == rule.event, Event.occurred_at <= literal(now, UTCDateTime()), counted]
    if rule.url_contains:
        url = func.lower(Event.data["url"].as_string())
        where.append(or_(*[url.like(f"%{_like_escape(v)}%", escape="\\")
                           for v in rule.url_contains]))  # fmt: skip
    if scope is not None:
        where.append(Event.lead_id.in_(scope))
    return (
        select(Event.lead_id, literal(rule.id), literal("engagement"), total)
        .join(Lead, Lead.id == Event.lead_id)
        .where(*where)
        .group_by(Event.lead_id)
    )


async def score_leads(
    session: AsyncSession, config: ScoringConfig, now: datetime, lead_ids: list[int] | None = None
) -> int:
    """Recompute lead_scores and leads.score for every lead (or only ``lead_ids``).
    Returns how many leads' score changed."""
    postgres = is_postgres(session)
    scope = lead_ids
    cols = [LeadScore.lead_id, LeadScore.rule, LeadScore.kind, LeadScore.points]
    clear = delete(LeadScore)
    if scope is not None:
        clear = clear.where(LeadScore.lead_id.in_(scope))
    await session.execute(clear)
    for rule in config.fit:
        query = select(Lead.id, literal(rule.id), literal("fit"), literal(float(rule.points)))
        query = query.where(fit_condition(rule))
        if scope is not None:
            query = query.where(Lead.id.in_(scope))
        await session.execute(insert(LeadScore).from_select(cols, query))
    for rule in config.engagement:
        query = _engagement_select(rule, config, now, postgres, scope)
        await session.execute(insert(LeadScore).from_select(cols, query))
    total = (
        select(cast(func.round(func.coalesce(func.sum(LeadScore.points), 0)), Integer))
        .where(LeadScore.lead_id == Lead.id)
        .scalar_subquery()
    )
    change = update(Lead).where(Lead.score != total).values(score=total)
    if scope is not None:
        change = change.where(Lead.id.in_(scope))
    result = await session.execute(change.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Breakdown:
    total: int
    rules: list[tuple[str, str, float]]  # (rule id, fit|engagement, points), biggest first

    def as_dict(self) -> dict[str, Any]:
        rules = [{"rule": r, "kind": k, "points": round(p, 1)} for r, k, p in self.rules]
        return {"total": self.total, "rules": rules}


async def breakdown(session: AsyncSession, lead_id: int) -> Breakdown:
    """Which rule gave how many points, as of the last scoring pass."""
    rows = (await session.execute(
        select(LeadScore.rule, LeadScore.kind, LeadScore.points)
        .where(LeadScore.lead_id == lead_id)
        .order_by(LeadScore.points.desc(), LeadScore.rule)
    )).all()  # fmt: skip
    score = await session.scalar(select(Lead.score).where(Lead.id == lead_id))
    return Breakdown(int(score or 0), [(r.rule, r.kind, float(r.points)) for r in rows])
