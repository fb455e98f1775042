"""Moving enrollments along their sequence: the ledger row of an enrollment's next touch, and
after a send, the next step scheduled or the enrollment completed. Set-based: one insert for
the next touches of a whole chunk, one update for their enrollments."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig
from nurture.db import insert_ignoring_conflicts, update_by_id
from nurture.leads.events import EventType, event_row, record_events
from nurture.ledger.claims import Claimed
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.sequences.schedule import due_at


def next_step_index(
    step_ids: Sequence[str], current_step_id: str, had: Collection[str]
) -> int | None:
    """The step after ``current_step_id`` in the sequence's current order that the enrollment
    has not had (``had``: the step ids it has a touch row for); if that step is no longer in
    the sequence, the first one it has not had. None: the enrollment is done. The one rule
    for moving on, shared by the dispatcher and by ``nurture plan``'s forecast."""
    start = step_ids.index(current_step_id) + 1 if current_step_id in step_ids else 0
    return next((i for i in range(start, len(step_ids)) if step_ids[i] not in had), None)


def next_touch(
    enrollment_id: int,
    lead_id: int,
    lead_timezone: str | None,
    sequence: SequenceConfig,
    index: int,
    previous: datetime,
) -> dict[str, object]:
    """The ledger row for step ``index``, due after ``previous`` (as insert values)."""
    step = sequence.steps[index]
    return {
        "enrollment_id": enrollment_id,
        "lead_id": lead_id,
        "sequence_id": sequence.id,
        "step_id": step.id,
        "step_index": index,
        "state": TouchState.SCHEDULED,
        "due_at": due_at(previous, step, sequence.send_window, lead_timezone),
        "attempts": 0,
        "created_at": previous,
        "updated_at": previous,
    }


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
        ids = project.sequences[touch.sequence_id].step_ids
        index = next_step_index(ids, touch.step_id, had.get(touch.enrollment_id, set()))
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
                event_row(
                    lead_id, EventType.COMPLETED, now, sequence_id=sequence_id, after_step=steps
                )
                for lead_id, sequence_id in ended
            ],
        )
