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
from nurture.db import update_by_id
from nurture.dispatch.outcome import RELEASED, Outcome, OutcomeKind, Policy, classify
from nurture.leads.events import event_row, record_events
from nurture.leads.models import Lead, SuppressionReason
from nurture.leads.service import suppress
from nurture.ledger.claims import Claimed, held, release
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment, Touch, TouchState
from nurture.ledger.progress import advance
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
    await _forget_replies(session, [r.touch.id for r in handed_over])
    await record_events(session, [_event(r, now) for r in handed_over])
    await _follow_up(session, handed_over, project, now)
    never = [r.touch.id for r in recorded if r.outcome.kind == RELEASED]
    await release(session, never, worker, now)
    return recorded


async def _forget_replies(session: AsyncSession, ids: list[int]) -> None:
    """A lead forgotten while its touch was on the wire: the server's reply, which may echo
    the address, is not kept (forget blanked the replies it found; this one came later)."""
    if not ids:
        return
    forgotten = select(Lead.id).where(Lead.suppression_reason == SuppressionReason.FORGOTTEN)
    await session.execute(
        update(Touch)
        .where(Touch.id.in_(ids), Touch.lead_id.in_(forgotten), Touch.smtp_reply.is_not(None))
        .values(smtp_reply=None)
        .execution_options(synchronize_session=False)
    )


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
    return event_row(
        r.touch.lead_id,
        r.outcome.kind,
        now,
        sequence_id=r.touch.sequence_id,
        step_id=r.touch.step_id,
        touch_id=r.touch.id,
        smtp_code=r.result.code,
        message_id=r.result.message.message_id,
    )


async def _follow_up(
    session: AsyncSession, recorded: list[Recorded], project: Project, now: datetime
) -> None:
    """What outcomes mean beyond their touches: a sent touch's enrollment moves on to its
    next step; a soft bounce ends this enrollment (with an 'exited' event), not the lead's
    others; a hard bounce suppresses the address and ends every enrollment of the lead."""
    sent = [r.touch for r in recorded if r.outcome.kind == OutcomeKind.SENT]
    await advance(session, sent, project, now)
    soft = [r.touch.enrollment_id for r in recorded if r.outcome.soft_bounce]
    if soft:
        await exit_matching(session, [Enrollment.id.in_(soft)], "soft_bounce", now)
    # Hard bounces last: they end every enrollment of the lead, including any just advanced.
    hard = {
        r.touch.lead_id: {"reply": r.result.reply[:200]} for r in recorded if r.outcome.hard_bounce
    }
    if hard:
        await suppress(session, hard, SuppressionReason.BOUNCED, now)
        lead_ids = list(hard)
        await exit_matching(
            session, [Enrollment.lead_id.in_(lead_ids)], SuppressionReason.BOUNCED, now
        )
