"""One dispatch batch: claim -> skip what may not go out -> render and build -> per chunk:
mark 'sending', hand to SMTP, record the replies and schedule the next steps.

See docs/delivery.md for what happens to a touch if the process dies at any point here.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import session_scope
from nurture.dispatch import claim
from nurture.dispatch.models import Touch, TouchState
from nurture.dispatch.record import Claimed, Policy, advance, record_results
from nurture.leads.models import Lead
from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import Transport, TransportUnavailable
from nurture.rendering.compose import Composer, lead_context
from nurture.sequences.enrollment import exit_enrollments
from nurture.sequences.models import Enrollment, EnrollmentState

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DispatchFailed(RuntimeError):
    """The batch could not do its work; touches not handed over stay due."""

    def __init__(self, reason: str, report: BatchReport | None = None):
        super().__init__(reason)
        self.report = report


@dataclass
class Dispatcher:
    """What a batch needs; built once per pass (see dispatch/run.py)."""

    db_url: str
    project: Project
    composer: Composer
    transport: Transport
    policy: Policy
    batch_size: int = 500
    chunk_size: int = 100
    lease_seconds: int = 300
    worker: str = field(default_factory=worker_id)


@dataclass
class BatchReport:
    claimed: int = 0
    in_doubt_expired: int = 0
    # (sequence id, step id, outcome) -> count; outcome: sent, retrying, bounced, skipped,
    # in_doubt, released (never handed over, still due).
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    error: str | None = None

    def total(self, outcome: str) -> int:
        return sum(n for (_, _, o), n in self.counts.items() if o == outcome)

    def merge(self, other: BatchReport) -> None:
        self.claimed += other.claimed
        self.in_doubt_expired += other.in_doubt_expired
        self.counts.update(other.counts)
        self.error = self.error or other.error


async def _load(session: AsyncSession, ids: list[int]) -> list[tuple[Touch, Lead, Enrollment]]:
    rows = await session.execute(
        select(Touch, Lead, Enrollment)
        .join(Lead, Lead.id == Touch.lead_id)
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .where(Touch.id.in_(ids))
        .order_by(Touch.id)
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


def _skip_reason(touch: Touch, lead: Lead, enrollment: Enrollment, project: Project) -> str | None:
    if lead.suppressed_at is not None:
        return f"suppressed_{lead.suppression_reason or 'lead'}"
    if enrollment.state != EnrollmentState.ACTIVE:
        return f"enrollment_{enrollment.state}"
    if touch.sequence_id not in project.sequences:
        return "sequence_removed"
    return None


async def _skip(
    session: AsyncSession,
    skipped: list[tuple[Touch, str]],
    project: Project,
    now: datetime,
    report: BatchReport,
) -> None:
    to_advance: list[tuple[Claimed, int]] = []
    for touch, reason in skipped:
        report.counts[(touch.sequence_id, touch.step_id, TouchState.SKIPPED)] += 1
        await session.execute(
            update(Touch)
            .where(Touch.id == touch.id)
            .values(
                state=TouchState.SKIPPED,
                reason=reason,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
        )
        if reason.startswith("suppressed"):
            await exit_enrollments(session, touch.lead_id, reason, now)
        elif reason == "sequence_removed":
            await session.execute(
                update(Enrollment)
                .where(Enrollment.id == touch.enrollment_id)
                .values(
                    state=EnrollmentState.EXITED, exit_reason=reason, ended_at=now, next_due_at=None
                )
            )
        elif reason == "step_removed":
            # The step left the config: go on with the step now at that position.
            to_advance.append((_claimed(touch, None), touch.step_index - 1))
    if to_advance:
        await advance(session, to_advance, project, now)


def _claimed(touch: Touch, timezone: str | None) -> Claimed:
    return Claimed(
        touch.id,
        touch.enrollment_id,
        touch.lead_id,
        timezone,
        touch.sequence_id,
        touch.step_id,
        touch.step_index,
        touch.attempts,
    )


async def dispatch_batch(d: Dispatcher, now: datetime) -> BatchReport:
    """Claim and send one batch of due touches. Raises DispatchFailed when SMTP is unreachable
    or a template fails, after recording everything that did happen."""
    report = BatchReport()
    async with session_scope(d.db_url) as session:
        report.in_doubt_expired = await claim.expire_sending(session, now)
        ids = await claim.claim_due(session, d.worker, now, d.batch_size, d.lease_seconds)
        report.claimed = len(ids)
        if not ids:
            return report
        rows = await _load(session, ids)
        skipped: list[tuple[Touch, str]] = []
        work: list[tuple[Claimed, dict[str, Any], str]] = []
        for touch, lead, enrollment in rows:
            reason = _skip_reason(touch, lead, enrollment, d.project)
            if reason is None:
                index = d.project.sequences[touch.sequence_id].step_index(touch.step_id)
                if index is None:
                    reason = "step_removed"
                else:
                    touch.step_index = index  # steps may have been reordered since scheduling
            if reason:
                skipped.append((touch, reason))
            else:
                work.append((_claimed(touch, lead.timezone), lead_context(lead), lead.public_id))
        await _skip(session, skipped, d.project, now, report)

    messages: list[OutgoingMessage] = []
    failed_render: list[int] = []
    for touch, lead_ctx, public_id in work:
        sequence = d.project.sequences[touch.sequence_id]
        try:
            messages.append(
                d.composer.compose(sequence, touch.step_index, lead_ctx, public_id, now, touch.id)
            )
        except (TemplateError, ValueError) as exc:
            failed_render.append(touch.id)
            report.error = f"{sequence.id}/{touch.step_id}: template does not render: {exc}"
    claimed = {c.id: c for c, _, _ in work}

    if messages:
        try:
            await d.transport.open()
        except TransportUnavailable as exc:
            await _release(d, [m.touch_id for m in messages], claimed, now, report)  # type: ignore[misc]
            messages = []
            report.error = str(exc)

    unavailable: str | None = None
    for start in range(0, len(messages), d.chunk_size):
        chunk = messages[start : start + d.chunk_size]
        if unavailable:  # the server went away: leave the rest due, untouched
            await _release(d, [m.touch_id for m in chunk], claimed, now, report)  # type: ignore[misc]
            continue
        async with session_scope(d.db_url) as session:
            ours = await claim.mark_sending(
                session,
                [m.touch_id for m in chunk],
                d.worker,
                now,
                d.lease_seconds,  # type: ignore[misc]
            )
        chunk = [m for m in chunk if m.touch_id in ours]
        results = await d.transport.send(chunk)
        async with session_scope(d.db_url) as session:
            counts, released = await record_results(
                session, results, claimed, d.project, d.policy, now
            )
            await claim.release(session, released, d.worker, now)
        report.counts.update(counts)
        not_sent = [r for r in results if r.status == "not_sent"]
        if not_sent:
            unavailable = not_sent[0].reply

    if failed_render:
        await _release(d, failed_render, claimed, now, report)
    report.error = unavailable or report.error
    if report.error:
        raise DispatchFailed(report.error, report)
    return report


async def _release(
    d: Dispatcher, ids: list[int], claimed: dict[int, Claimed], now: datetime, report: BatchReport
) -> None:
    async with session_scope(d.db_url) as session:
        await claim.release(session, ids, d.worker, now)
    for i in ids:
        report.counts[(claimed[i].sequence_id, claimed[i].step_id, "released")] += 1
