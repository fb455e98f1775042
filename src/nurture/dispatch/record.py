"""Record what SMTP said about a chunk of touches, and schedule what comes next.

One transaction per chunk, set-based: bulk updates by primary key, bulk inserts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import update_by_id
from nurture.dispatch.models import Touch, TouchState
from nurture.leads.models import Lead
from nurture.leads.service import record_event, record_events
from nurture.mail.transports import SendResult
from nurture.sequences.enrollment import exit_enrollments, next_touch
from nurture.sequences.models import Enrollment, EnrollmentState
from nurture.sequences.schedule import retry_at


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
    session: AsyncSession, touches: list[tuple[Claimed, int]], project: Project, now: datetime
) -> None:
    """Schedule the step after each (touch, index) pair, or complete the enrollment."""
    new_rows: list[dict[str, Any]] = []
    enrollment_rows: list[dict[str, Any]] = []
    done: set[int] = set()  # enrollments that just sent their last step
    completed: list[dict[str, Any]] = []  # their events, written with one executemany
    for touch, index in touches:
        sequence = project.sequences[touch.sequence_id]
        nxt = index + 1
        if nxt < len(sequence.steps):
            row = next_touch(
                touch.enrollment_id, touch.lead_id, touch.lead_timezone, sequence, nxt, now
            )
            new_rows.append(row)
            enrollment_rows.append(
                {
                    "id": touch.enrollment_id,
                    "current_step": nxt,
                    "next_due_at": row["due_at"],
                    "updated_at": now,
                }
            )
        else:
            enrollment_rows.append(
                {
                    "id": touch.enrollment_id,
                    "current_step": nxt,
                    "next_due_at": None,
                    "updated_at": now,
                }
            )
            done.add(touch.enrollment_id)
            completed.append({"lead_id": touch.lead_id, "type": "completed",
                              "occurred_at": now, "sequence_id": touch.sequence_id,
                              "data": {"after_step": nxt}})  # fmt: skip
    if new_rows:
        await session.execute(insert(Touch.__table__), new_rows)  # Core: no ORM bulk path
    await update_by_id(
        session,
        Enrollment,
        [
            {**r, "state": EnrollmentState.COMPLETED, "ended_at": now} if r["id"] in done else r
            for r in enrollment_rows
        ],
    )
    await record_events(session, completed)


async def record_results(
    session: AsyncSession,
    results: list[SendResult],
    claimed: dict[int, Claimed],
    project: Project,
    policy: Policy,
    now: datetime,
) -> tuple[Counter[tuple[str, str, Outcome]], list[int]]:
    """Returns counts per (sequence, step, outcome) and the ids never handed to SMTP, which
    the caller releases (they stay due)."""
    counts: Counter[tuple[str, str, Outcome]] = Counter()
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    sent: list[tuple[Claimed, int]] = []
    bounced_leads: dict[int, str] = {}
    soft_bounced: list[Claimed] = []
    released: list[int] = []

    for result in results:
        touch = claimed[result.message.touch_id]  # type: ignore[index]
        attempts = touch.attempts + 1
        base = {"id": touch.id, "claimed_by": None, "lease_until": None, "updated_at": now,
                "smtp_code": result.code, "smtp_reply": result.reply[:500],
                "attempts": attempts, "sent_at": None, "message_id": None}  # fmt: skip
        outcome: Outcome
        changes: dict[str, Any]
        if result.status == "sent":
            outcome = TouchState.SENT
            changes = {"sent_at": now, "message_id": result.message.message_id, "reason": None}
            sent.append((touch, touch.step_index))
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
    for touch in soft_bounced:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == touch.enrollment_id)
            .values(
                state=EnrollmentState.EXITED,
                exit_reason="soft_bounce",
                ended_at=now,
                next_due_at=None,
                updated_at=now,
            )
        )
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
