"""Claiming due touches with a lease, safely with many dispatchers at once.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent dispatchers take disjoint rows without
waiting. SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (see db.py), so claims are
serialised by the single writer lock. Either way the candidate rows are tested and held in
one step (PostgreSQL re-tests the WHERE of a row it locks after a concurrent change), so a
row is claimed by exactly one dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked
from nurture.leads.models import Lead
from nurture.ledger.models import CLAIMABLE, Enrollment, EnrollmentState, Touch, TouchState


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed touch with what recording and scheduling its next step need: plain values,
    not ORM objects, since they cross transactions (claimed in one, recorded in another)."""

    id: int
    enrollment_id: int
    lead_id: int
    lead_timezone: str | None
    sequence_id: str
    step_id: str
    step_index: int  # the step's index in the sequence as configured now
    attempts: int  # SMTP attempts before this one


# Core columns, not ORM attributes, in the statements a pass runs per batch and per chunk:
# an ORM-enabled UPDATE goes through the ORM's bulk machinery (~3% of a dispatcher's CPU).
T, E, L = Touch.__table__, Enrollment.__table__, Lead.__table__


async def expire_sending(session: AsyncSession, clock: datetime) -> int:
    """Touches still 'sending' after their lease belong to a dispatcher that died while
    handing them to SMTP: they may have gone out, so they are in doubt, never resent.
    ``clock``: the time leases are tested by (``Dispatcher.clock``)."""
    result = await session.execute(
        update(T)
        .where(T.c.state == TouchState.SENDING, T.c.lease_until < clock)
        .values(
            state=TouchState.IN_DOUBT,
            reason="dispatcher lost during SMTP hand-off",
            updated_at=clock,
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def claim_due(
    session: AsyncSession,
    worker: str,
    now: datetime,
    limit: int,
    lease_seconds: int,
    clock: datetime | None = None,
) -> list[int]:
    """Claim up to ``limit`` touches: claims whose lease ran out (their dispatcher died
    before handing them to SMTP: safe to take over), then due retries, then due first
    attempts, each oldest first. Returns their ids. ``now`` decides what is due; ``clock``
    (default ``now``) is the time leases are tested and taken by (``Dispatcher.clock``).

    One state at a time, so that each claim walks ix_sends_state_due (state, due_at) in
    order and reads ``limit`` rows; ``state IN (...) ORDER BY due_at`` made both databases
    sort the whole backlog for every batch (a 100k backlog: 21 ms a claim, now ~5).
    """
    clock = clock or now
    ids: list[int] = []
    for where, order_by in (
        ([T.c.state == TouchState.CLAIMED, T.c.lease_until < clock], T.c.lease_until),
        ([T.c.state == TouchState.RETRYING, T.c.due_at <= now], T.c.due_at),
        ([T.c.state == TouchState.SCHEDULED, T.c.due_at <= now], T.c.due_at),
    ):
        ids += await _claim(
            session, where, worker, clock, limit - len(ids), lease_seconds, order_by
        )
    return sorted(ids)


async def _claim(
    session: AsyncSession,
    where: list[ColumnElement[bool]],
    worker: str,
    now: datetime,
    limit: int,
    lease_seconds: int,
    order_by: ColumnElement[Any],
) -> list[int]:
    if limit <= 0:
        return []
    # A materialized CTE, not ``IN (SELECT ... LIMIT ... SKIP LOCKED)``: PostgreSQL may run
    # such a subquery once per outer row, each time skipping the rows it just locked, and so
    # claim far more than ``limit`` rows. The UPDATE need not test ``where`` again: the rows
    # are locked (PostgreSQL re-checks ``where`` on locking) or the writer lock is held
    # (SQLite), and a second test let SQLite scan the backlog instead of the ids.
    cte = (
        select(T.c.id)
        .where(*where)
        .order_by(order_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("candidates")
        .prefix_with("MATERIALIZED")
    )
    result = await session.execute(
        update(T)
        .where(T.c.id.in_(select(cte.c.id)))
        .values(
            state=TouchState.CLAIMED,
            claimed_by=worker,
            lease_until=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .returning(T.c.id)
    )
    return list(result.scalars().all())


async def mark_sending(
    session: AsyncSession, ids: list[int], worker: str, clock: datetime, lease_seconds: int
) -> set[int]:
    """Record, before SMTP, which touches are about to be handed over, with a fresh lease
    from ``clock``. Only touches this dispatcher still holds come back (a stalled dispatcher
    may have lost its claim), and only those whose lead is not suppressed and whose
    enrollment is still active: a lead may have bounced in an earlier chunk of this batch,
    or unsubscribed, since the batch was claimed."""
    if not ids:
        return set()
    active = select(E.c.id).where(E.c.id == T.c.enrollment_id, E.c.state == EnrollmentState.ACTIVE)
    suppressed = select(L.c.id).where(L.c.id == T.c.lead_id, L.c.suppressed_at.is_not(None))
    result = await session.execute(
        update(T)
        .where(
            T.c.id.in_(ids),
            T.c.claimed_by == worker,
            T.c.state == TouchState.CLAIMED,
            active.exists(),
            ~suppressed.exists(),
        )
        .values(
            state=TouchState.SENDING,
            lease_until=clock + timedelta(seconds=lease_seconds),
            updated_at=clock,
        )
        .returning(T.c.id)
    )
    return set(result.scalars().all())


async def held(session: AsyncSession, ids: list[int], worker: str) -> set[int]:
    """Of these touches handed to SMTP, the ones this dispatcher may record replies for:
    still claimed by it, in 'sending' or, if its lease ran out while they were being sent,
    'in_doubt' (the reply settles the doubt). Not those an operator or another dispatcher
    has moved on meanwhile. Locked until commit on PostgreSQL (SQLite: the writer lock is
    held already)."""
    if not ids:
        return set()
    rows = await session.execute(
        select(T.c.id)
        .where(
            T.c.id.in_(ids),
            T.c.claimed_by == worker,
            T.c.state.in_((TouchState.SENDING, TouchState.IN_DOUBT)),
        )
        .with_for_update()
    )
    return set(rows.scalars().all())


async def skip(session: AsyncSession, ids: list[int], reason: str, now: datetime) -> None:
    """Claimed touches that may not go out (``reason``: suppressed, enrollment ended, ...):
    final, with the claim cleared."""
    for part in chunked(ids):
        await session.execute(
            update(T)
            .where(T.c.id.in_(part))
            .values(
                state=TouchState.SKIPPED,
                reason=reason,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
        )


async def release(
    session: AsyncSession,
    ids: list[int],
    worker: str,
    now: datetime,
    due_at: datetime | None = None,
) -> list[int]:
    """Give touches back untouched (never handed to SMTP): due again as they were, or at
    ``due_at``. Only those this dispatcher still holds; returns their ids."""
    if not ids:
        return []
    released: list[int] = []
    for was_retrying in (False, True):
        result = await session.execute(
            update(T)
            .where(
                T.c.id.in_(ids),
                T.c.claimed_by == worker,
                T.c.state.in_((TouchState.CLAIMED, TouchState.SENDING, TouchState.IN_DOUBT)),
                (T.c.attempts > 0) if was_retrying else (T.c.attempts == 0),
            )
            .values(
                state=TouchState.RETRYING if was_retrying else TouchState.SCHEDULED,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
                **({"due_at": due_at} if due_at else {}),
            )
            .returning(T.c.id)
        )
        released += result.scalars().all()
    return released


async def defer(
    session: AsyncSession, due: list[tuple[int, datetime]], worker: str, now: datetime
) -> None:
    """Give claimed touches back, each due again at its own time (the contact policy's next
    allowed slot): a release with a new ``due_at``, attempts and state kept (a retry stays a
    retry). Only those this dispatcher still holds. One statement, run for all rows."""
    if not due:
        return
    await session.execute(
        update(T)
        .where(
            T.c.id == bindparam("touch_id"),
            T.c.claimed_by == worker,
            T.c.state == TouchState.CLAIMED,
        )
        .values(
            state=case((T.c.attempts > 0, TouchState.RETRYING), else_=TouchState.SCHEDULED),
            due_at=bindparam("new_due_at"),
            claimed_by=None,
            lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False),
        [{"touch_id": i, "new_due_at": at} for i, at in due],
    )
    # The enrollment's next touch is this one: its due time moves too (the lead's profile
    # shows when the drip goes on). Only for touches released just now (no longer claimed).
    await session.execute(
        update(E)
        .where(
            E.c.id
            == select(T.c.enrollment_id).where(T.c.id == bindparam("touch_id")).scalar_subquery(),
            select(T.c.id)
            .where(
                T.c.id == bindparam("touch_id"),
                T.c.claimed_by.is_(None),
                T.c.due_at == bindparam("new_due_at"),
            )
            .exists(),
        )
        .values(next_due_at=bindparam("new_due_at"))
        .execution_options(synchronize_session=False),
        [{"touch_id": i, "new_due_at": at} for i, at in due],
    )


async def count_due(session: AsyncSession, now: datetime) -> int:
    """How many touches a pass at ``now`` has to work through (for progress)."""
    return (
        await session.scalar(
            select(func.count())
            .select_from(Touch)
            .where(Touch.state.in_(CLAIMABLE), Touch.due_at <= now)
        )
        or 0
    )


async def next_due(session: AsyncSession, after: datetime | None = None) -> datetime | None:
    """The earliest due time of a touch waiting to be sent (for fast-forwarding)."""
    query = select(func.min(Touch.due_at)).where(Touch.state.in_(CLAIMABLE))
    if after is not None:
        query = query.where(Touch.due_at > after)
    return await session.scalar(query)
