"""Record what SMTP said about a chunk of touches, and schedule what comes next.

Runs in the transaction that also marks the next chunk 'sending' (``ChunkPipeline`` in
dispatch/batch.py). Set-based: bulk updates by primary key, bulk inserts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import insert_ignoring_conflicts, update_by_id
from nurture.dispatch.outcome import RELEASED, Outcome, Policy, classify
from nurture.dispatch.work import Claimed
from nurture.leads.events import record_events
from nurture.leads.models import Lead
from nurture.ledger.claims import held, release
from nurture.ledger.enrollment import exit_matching, next_touch
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.mail.transports import SendResult
from nurture.sequences.schedule import retry_at

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One reply recorded: the touch, what SMTP said, and where that left the touch."""

    touch: Claimed
    result: SendResult
    outcome: Outcome


async def record_replies(
    session: AsyncSession,
    replies: list[SendResult],
    touches: dict[int, Claimed],
    project: Project,
    policy: Policy,
    now: datetime,
    worker: str,
) -> list[Recorded]:
    """Record a chunk's replies (``touches``: the batch's touches by id): each touch's new
    state and an event, the drip moved on for those sent, enrollments ended for bounces; the
    touches never handed over (server went away) are given back, due as they were. Only
    touches this dispatcher still holds are recorded (see ``claims.held``); the others are
    logged and left as they are."""
    if not replies:
        return []
    ids = [r.message.touch_id for r in replies if r.message.touch_id is not None]
    ours = await held(session, ids, worker)
    recorded: list[Recorded] = []
    for result in replies:
        touch = touches[result.message.touch_id]  # type: ignore[index]
        if touch.id not in ours:
            log.warning(
                "touch %d (%s/%s): %s by SMTP, but no longer held by this dispatcher "
                "(its lease ran out while it was being sent): left as it is",
                touch.id,
                touch.sequence_id,
                touch.step_id,
                result.status,
            )
            continue
        outcome = classify(result, touch.attempts + 1, policy, _retry_due(project, touch, now))
        recorded.append(Recorded(touch, result, outcome))
    handed_over = [r for r in recorded if r.outcome.kind != RELEASED]
    await update_by_id(session, Touch, [_touch_row(r, now) for r in handed_over])
    await record_events(session, [_event(r, now) for r in handed_over])
    await _follow_up(session, handed_over, project, now)
    never = [r.touch.id for r in recorded if r.outcome.kind == RELEASED]
    await release(session, never, worker, now)
    return recorded


def _retry_due(project: Project, touch: Claimed, now: datetime) -> Callable[[timedelta], datetime]:
    def due(delay: timedelta) -> datetime:
        sequence = project.sequences[touch.sequence_id]
        step = sequence.steps[touch.step_index]
        return retry_at(now, delay, step, sequence.send_window, touch.lead_timezone)

    return due


def _touch_row(r: Recorded, now: datetime) -> dict[str, Any]:
    result, outcome = r.result, r.outcome
    row = {
        "id": r.touch.id,
        "state": outcome.kind,
        "reason": outcome.reason,
        "claimed_by": None,
        "lease_until": None,
        "updated_at": now,
        "smtp_code": result.code,
        "smtp_reply": result.reply[:500],
        "attempts": r.touch.attempts + 1,
        "sent_at": now if outcome.kind == TouchState.SENT else None,
        "message_id": result.message.message_id if outcome.may_have_arrived else None,
    }
    if outcome.due_at is not None:
        row["due_at"] = outcome.due_at
    return row


def _event(r: Recorded, now: datetime) -> dict[str, Any]:
    return {
        "lead_id": r.touch.lead_id,
        "type": r.outcome.kind,
        "occurred_at": now,
        "sequence_id": r.touch.sequence_id,
        "step_id": r.touch.step_id,
        "data": {"smtp_code": r.result.code, "message_id": r.result.message.message_id},
    }


async def _follow_up(
    session: AsyncSession, recorded: list[Recorded], project: Project, now: datetime
) -> None:
    """What outcomes mean beyond their touches: a sent touch's enrollment moves on to its
    next step; a soft bounce ends this enrollment (with an 'exited' event), not the lead's
    others; a hard bounce suppresses the address and ends every enrollment of the lead."""
    sent = [r.touch for r in recorded if r.outcome.kind == TouchState.SENT]
    await advance(session, sent, project, now)
    soft = [r.touch.enrollment_id for r in recorded if r.outcome.soft_bounce]
    if soft:
        await exit_matching(session, [Enrollment.id.in_(soft)], "soft_bounce", now)
    # Hard bounces last: they end every enrollment of the lead, including any just advanced.
    hard = {r.touch.lead_id: r.result.reply[:200] for r in recorded if r.outcome.hard_bounce}
    if hard:
        L = Lead.__table__
        await session.execute(
            update(L)
            .where(L.c.id.in_(list(hard)), L.c.suppressed_at.is_(None))
            .values(suppressed_at=now, suppression_reason="bounced", updated_at=now)
        )
        await record_events(
            session,
            [
                {
                    "lead_id": lead_id,
                    "type": "suppressed",
                    "occurred_at": now,
                    "data": {"reason": "bounced", "reply": reply},
                }
                for lead_id, reply in hard.items()
            ],
        )
        await exit_matching(session, [Enrollment.lead_id.in_(list(hard))], "bounced", now)


async def advance(
    session: AsyncSession, touches: list[Claimed], project: Project, now: datetime
) -> None:
    """Schedule the next step of each touch's enrollment, or complete the enrollment.

    The next step is the first one after the touch's step, in the sequence's current order,
    that the enrollment has not had yet; if the touch's step is no longer in the sequence,
    the first step the enrollment has not had. Steps are matched by id because a marketer
    may reorder, add or remove them while leads are under way; a lead never gets a step
    twice. Only active enrollments move on: one that ended meanwhile (bounce, unsubscribe)
    stays ended.
    """
    planned: dict[int, tuple[Claimed, int]] = {}  # enrollment -> (touch, next index)
    unplanned: list[Claimed] = []
    for touch in touches:
        index = project.sequences[touch.sequence_id].step_index(touch.step_id)
        if index is None:
            unplanned.append(touch)
        else:
            planned[touch.enrollment_id] = (touch, index + 1)
    # Common case: the step right after has no row yet. If it has one (steps reordered),
    # the insert is skipped, not failed: this transaction also records SMTP replies.
    scheduled = await _schedule(session, list(planned.values()), project, now)
    unplanned += [
        t
        for e, (t, i) in planned.items()
        if e not in scheduled and i < len(project.sequences[t.sequence_id].steps)
    ]
    if unplanned:
        scheduled.update(await _schedule_unplanned(session, unplanned, project, now))
    finished = [t for t in touches if t.enrollment_id not in scheduled]
    await update_by_id(
        session,
        Enrollment,
        [
            {"id": e, "current_step": index, "next_due_at": due, "updated_at": now}
            for e, (index, due) in scheduled.items()
        ],
        Enrollment.state == EnrollmentState.ACTIVE,
    )
    await _complete(session, finished, project, now)


async def _schedule(
    session: AsyncSession, plan: list[tuple[Claimed, int]], project: Project, now: datetime
) -> dict[int, tuple[int, datetime]]:
    """Insert the touch for step ``index`` of each enrollment where it has no row yet.
    Returns enrollment -> (index, due) for those inserted."""
    rows = []
    for touch, index in plan:
        sequence = project.sequences[touch.sequence_id]
        if index < len(sequence.steps):
            rows.append(
                next_touch(
                    touch.enrollment_id, touch.lead_id, touch.lead_timezone, sequence, index, now
                )
            )
    if not rows:
        return {}
    T = Touch.__table__
    stmt = insert_ignoring_conflicts(session, T, "enrollment_id", "step_id")
    result = await session.execute(stmt.returning(T.c.enrollment_id), rows)
    inserted = set(result.scalars().all())
    return {
        r["enrollment_id"]: (r["step_index"], r["due_at"])  # type: ignore[misc]
        for r in rows
        if r["enrollment_id"] in inserted
    }


async def _schedule_unplanned(
    session: AsyncSession, touches: list[Claimed], project: Project, now: datetime
) -> dict[int, tuple[int, datetime]]:
    """The slow path after a config change: look up which steps each enrollment has had."""
    T = Touch.__table__
    had: dict[int, set[str]] = {}
    rows = await session.execute(
        select(T.c.enrollment_id, T.c.step_id).where(
            T.c.enrollment_id.in_({t.enrollment_id for t in touches})
        )
    )
    for enrollment_id, step_id in rows:
        had.setdefault(enrollment_id, set()).add(step_id)
    plan = []
    for touch in touches:
        steps = project.sequences[touch.sequence_id].steps
        current = project.sequences[touch.sequence_id].step_index(touch.step_id)
        start = 0 if current is None else current + 1
        done = had.get(touch.enrollment_id, set())
        index = next((i for i in range(start, len(steps)) if steps[i].id not in done), None)
        if index is not None:
            plan.append((touch, index))
    return await _schedule(session, plan, project, now)


async def _complete(
    session: AsyncSession, touches: list[Claimed], project: Project, now: datetime
) -> None:
    """End the enrollments that had their last step, with a ``completed`` event each (only
    for those still active)."""
    by_length: dict[int, list[int]] = {}
    for touch in touches:
        steps = len(project.sequences[touch.sequence_id].steps)
        by_length.setdefault(steps, []).append(touch.enrollment_id)
    E = Enrollment.__table__
    for steps, ids in by_length.items():
        ended = await session.execute(
            update(E)
            .where(E.c.id.in_(ids), E.c.state == EnrollmentState.ACTIVE)
            .values(
                state=EnrollmentState.COMPLETED,
                current_step=steps,
                next_due_at=None,
                ended_at=now,
                updated_at=now,
            )
            .returning(E.c.lead_id, E.c.sequence_id)
        )
        await record_events(
            session,
            [
                {
                    "lead_id": lead_id,
                    "type": "completed",
                    "occurred_at": now,
                    "sequence_id": sequence_id,
                    "data": {"after_step": steps},
                }
                for lead_id, sequence_id in ended
            ],
        )
