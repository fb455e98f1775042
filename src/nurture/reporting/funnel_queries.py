"""The SQL pieces the funnel's parts share: the time range, when each lead reached a stage,
the median time between two stages and each lead's latest deal value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import UTCDateTime, is_postgres
from nurture.leads.events import EventType
from nurture.leads.models import Event
from nurture.leads.stages import Stage


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def in_range(since: datetime, until: datetime) -> Any:
    return and_(
        Event.occurred_at >= literal(since, UTCDateTime()),
        Event.occurred_at < literal(until, UTCDateTime()),
    )


def _seconds(postgres: bool, later: Any, earlier: Any) -> Any:
    if postgres:
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def stage_at(stage: str, since: datetime, until: datetime) -> Any:
    """(lead_id, first time it reached ``stage`` in the range)."""
    if stage == Stage.SUBSCRIBER:
        kind = Event.type == EventType.CAPTURED
    else:
        kind = and_(Event.type == EventType.STAGE_CHANGED, Event.data["stage"].as_string() == stage)
    return (
        select(Event.lead_id, func.min(Event.occurred_at).label("at"))
        .where(kind, in_range(since, until))
        .group_by(Event.lead_id)
        .subquery()
    )


async def median_seconds(
    session: AsyncSession, start: str, end: str, since: datetime, until: datetime
) -> float | None:
    """The median time from reaching ``start`` to reaching ``end``: the durations computed
    and sorted in SQL, the middle one taken here (SQLite has no percentile function)."""
    a, b = stage_at(start, since, until), stage_at(end, since, until)
    duration = _seconds(is_postgres(session), b.c.at, a.c.at)
    values = list(
        await session.scalars(
            select(duration)
            .join_from(a, b, a.c.lead_id == b.c.lead_id)
            .where(b.c.at >= a.c.at)
            .order_by(duration)
        )
    )
    if not values:
        return None
    n = len(values)
    middle = values[(n - 1) // 2 : n // 2 + 1]
    return round(sum(float(v) for v in middle) / len(middle), 1)


def latest_values(stage: str, since: datetime | None, until: datetime | None) -> Any:
    """(lead_id, value): each lead's latest deal value reported for ``stage`` (a CRM may
    report a stage again with a corrected value)."""
    kind = and_(Event.type == EventType.STAGE_CHANGED, Event.data["stage"].as_string() == stage)
    where = [kind] + ([in_range(since, until)] if since and until else [])
    latest = select(func.max(Event.id)).where(*where).group_by(Event.lead_id)
    value = func.coalesce(Event.data["value"].as_float(), 0.0)
    return select(Event.lead_id, value.label("value")).where(Event.id.in_(latest)).subquery()
