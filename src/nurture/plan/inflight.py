"""The enrollments under way, as the forecast needs them: grouped in SQL by everything that
decides what they get next (sequence, the scheduled step and its due time, the lead's
timezone, the steps had), so a forecast is made once per group, not once per lead."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import is_postgres
from nurture.leads.models import Lead
from nurture.ledger.models import CLAIMABLE, Enrollment, EnrollmentState, Touch, TouchState


@dataclass(frozen=True)
class Group:
    sequence_id: str
    step_id: str  # the scheduled touch's step: where these enrollments are now
    due: datetime
    timezone: str | None
    had: frozenset[str]  # every step they have a touch row for, the scheduled one included
    enrollments: int


@dataclass(frozen=True)
class Waiting:
    """Per sequence: enrollments that have no scheduled touch to forecast."""

    pending: int = 0  # waiting for the double opt-in: they start at step 1 when confirmed
    in_progress: int = 0  # a dispatcher holds their touch right now


async def groups(session: AsyncSession, sequence_ids: Collection[str]) -> list[Group]:
    """The active enrollments of ``sequence_ids`` with a touch waiting to go out."""
    if not sequence_ids:
        return []
    T = Touch.__table__
    steps = (
        func.string_agg(T.c.step_id, aggregate_order_by(literal_column("','"), T.c.step_id))
        if is_postgres(session)
        else func.group_concat(T.c.step_id, ",")
    )
    # The steps had, of only the enrollments forecast (not the whole history of sends).
    wanted = (
        select(T.c.enrollment_id)
        .join(Enrollment, Enrollment.id == T.c.enrollment_id)
        .where(
            T.c.state.in_(CLAIMABLE),
            Enrollment.state == EnrollmentState.ACTIVE,
            T.c.sequence_id.in_(list(sequence_ids)),
        )
    )
    had = (
        select(T.c.enrollment_id, steps.label("steps"))
        .where(T.c.enrollment_id.in_(wanted))
        .group_by(T.c.enrollment_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            Touch.sequence_id,
            Touch.step_id,
            Touch.due_at,
            Lead.timezone,
            had.c.steps,
            func.count().label("n"),
        )
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .join(Lead, Lead.id == Touch.lead_id)
        .join(had, had.c.enrollment_id == Touch.enrollment_id)
        .where(
            Touch.state.in_(CLAIMABLE),
            Enrollment.state == EnrollmentState.ACTIVE,
            Touch.sequence_id.in_(list(sequence_ids)),
        )
        .group_by(Touch.sequence_id, Touch.step_id, Touch.due_at, Lead.timezone, had.c.steps)
        .order_by(Touch.sequence_id, Touch.due_at, Touch.step_id)
    )
    return [
        Group(r.sequence_id, r.step_id, r.due_at, r.timezone, frozenset(r.steps.split(",")), r.n)
        for r in rows
    ]


async def waiting(session: AsyncSession, sequence_ids: Collection[str]) -> dict[str, Waiting]:
    """Per sequence, the live enrollments the forecast does not cover, and why."""
    if not sequence_ids:
        return {}
    ids = list(sequence_ids)
    pending = await session.execute(
        select(Enrollment.sequence_id, func.count())
        .where(Enrollment.state == EnrollmentState.PENDING, Enrollment.sequence_id.in_(ids))
        .group_by(Enrollment.sequence_id)
    )
    held = await session.execute(
        select(Touch.sequence_id, func.count())
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .where(
            Enrollment.state == EnrollmentState.ACTIVE,
            Touch.sequence_id.in_(ids),
            Touch.state.in_((TouchState.CLAIMED, TouchState.SENDING)),
        )
        .group_by(Touch.sequence_id)
    )
    counts: dict[str, dict[str, int]] = {}
    for sequence_id, n in pending:
        counts.setdefault(sequence_id, {})["pending"] = n
    for sequence_id, n in held:
        counts.setdefault(sequence_id, {})["in_progress"] = n
    return {s: Waiting(**c) for s, c in counts.items()}
