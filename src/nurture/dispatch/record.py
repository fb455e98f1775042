"""Record what SMTP said about a chunk of touches, and schedule what comes next.

One transaction per chunk, set-based: bulk updates by primary key, bulk inserts.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import insert_ignoring_conflicts, update_by_id
from nurture.leads.events import record_event, record_events
from nurture.leads.models import Lead
from nurture.ledger.claims import held
from nurture.ledger.enrollment import exit_enrollments, exit_matching, next_touch
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.mail.transports import SendResult
from nurture.sequences.schedule import retry_at

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed touch with what recording needs (no ORM objects cross transactions)."""

    id: int
    enrollment_id: int
    lead_id: int
    lead_timezone: str | None
    sequence_id: str
    step_id: str
    step_index: int
    attempts: int


@dataclass(frozen=True)
class Policy:
    retry_base_seconds: int
    max_attempts: int


Outcome = str  # sent, retrying, bounced, skipped, in_doubt, released


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
        [{"id": e, "current_step": index, "next_due_at": due, "updated_at": now}
         for e, (index, due) in scheduled.items()],
        Enrollment.state == EnrollmentState.ACTIVE,
    )  # fmt: skip
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
            rows.append(next_touch(touch.enrollment_id, touch.lead_id, touch.lead_timezone,
                                   sequence, index, now))  # fmt: skip
    if not rows:
        return {}
    T = Touch.__table__
    stmt = insert_ignoring_conflicts(session, T, "enrollment_id", "step_id")
    result = await session.execute(stmt.returning(T.c.enrollment_id), rows)
    inserted = set(result.scalars().all())
    return {r["enrollment_id"]: (r["step_index"], r["due_at"])  # type: ignore[misc]
            for r in rows if r["enrollment_id"] in inserted}  # fmt: skip


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
            .values(state=EnrollmentState.COMPLETED, current_step=steps, next_due_at=None,
                    ended_at=now, updated_at=now)
            .returning(E.c.lead_id, E.c.sequence_id)
        )  # fmt: skip
        await record_events(session, [
            {"lead_id": lead_id, "type": "completed", "occurred_at": now,
             "sequence_id": sequence_id, "data": {"after_step": steps}}
            for lead_id, sequence_id in ended
        ])  # fmt: skip


async def record_results(
    session: AsyncSession,
    results: list[SendResult],
    claimed: dict[int, Claimed],
    project: Project,
    policy: Policy,
    now: datetime,
    worker: str,
) -> tuple[Counter[tuple[str, str, Outcome]], list[int]]:
    """Returns counts per (sequence, step, outcome) and the ids never handed to SMTP, which
    the caller releases (they stay due). Only touches this dispatcher still holds are
    recorded (see ``claim.held``)."""
    counts: Counter[tuple[str, str, Outcome]] = Counter()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    sent: list[Claimed] = []
    bounced_leads: dict[int, str] = {}
    soft_bounced: list[Claimed] = []
    released: list[int] = []
    ids = [r.message.touch_id for r in results if r.message.touch_id is not None]
    ours = await held(session, ids, worker)

    for result in results:
        touch = claimed[result.message.touch_id]  # type: ignore[index]
        if touch.id not in ours:
            log.warning("touch %d (%s/%s): %s by SMTP, but no longer held by this dispatcher "
                        "(its lease ran out while it was being sent): left as it is", touch.id,
                        touch.sequence_id, touch.step_id, result.status)  # fmt: skip
            continue
        attempts = touch.attempts + 1
        base = {"id": touch.id, "claimed_by": None, "lease_until": None, "updated_at": now,
                "smtp_code": result.code, "smtp_reply": result.reply[:500],
                "attempts": attempts, "sent_at": None, "message_id": None}  # fmt: skip
        outcome: Outcome
        changes: dict[str, Any]
        if result.status == "sent":
            outcome = TouchState.SENT
            changes = {"sent_at": now, "message_id": result.message.message_id, "reason": None}
            sent.append(touch)
        elif result.status == "retry" and attempts < policy.max_attempts:
            outcome = TouchState.RETRYING
            sequence = project.sequences[touch.sequence_id]
            delay = timedelta(seconds=policy.retry_base_seconds * 2 ** (attempts - 1))
            step = sequence.steps[touch.step_index]
            due = retry_at(now, delay, step, sequence.send_window, touch.lead_timezone)
            changes = {"reason": "smtp_4xx", "due_at": due}
        elif result.status in ("retry", "bounced"):
            outcome = TouchState.BOUNCED
            soft = result.status == "retry"
            changes = {"reason": "soft_bounce" if soft else "hard_bounce"}
            if soft:
                soft_bounced.append(touch)
            else:
                bounced_leads[touch.lead_id] = result.reply[:200]
        elif result.status == "in_doubt":
            outcome = TouchState.IN_DOUBT
            changes = {"message_id": result.message.message_id,
                       "reason": "connection lost during DATA"}  # fmt: skip
        else:  # not_sent: never handed over
            outcome = "released"
            released.append(touch.id)
        counts[(touch.sequence_id, touch.step_id, outcome)] += 1
        if outcome != "released":
            updates.append({**base, "state": outcome, **changes})
            events.append(
                {
                    "lead_id": touch.lead_id,
                    "type": outcome,
                    "occurred_at": now,
                    "sequence_id": touch.sequence_id,
                    "step_id": touch.step_id,
                    "data": {"smtp_code": result.code, "message_id": result.message.message_id},
                }
            )

    await update_by_id(session, Touch, updates)
    await record_events(session, events)
    await advance(session, sent, project, now)
    if soft_bounced:  # this enrollment ends (with an 'exited' event), not the lead's others
        ended = [t.enrollment_id for t in soft_bounced]
        await exit_matching(session, [Enrollment.id.in_(ended)], "soft_bounce", now)
    # Hard bounces last: they end every enrollment of the lead, including any just advanced.
    for lead_id, reply in bounced_leads.items():
        await session.execute(
            update(Lead)
            .where(Lead.id == lead_id, Lead.suppressed_at.is_(None))
            .values(suppressed_at=now, suppression_reason="bounced", updated_at=now)
        )
        await record_event(session, lead_id, "suppressed", now, reason="bounced", reply=reply)
        await exit_enrollments(session, lead_id, "bounced", now)
    return counts, released
