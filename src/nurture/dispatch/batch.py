"""One dispatch batch: claim -> skip what may not go out -> render and build -> per chunk:
mark 'sending', hand to SMTP, record the replies and schedule the next steps.

See docs/delivery.md for what happens to a touch if the process dies at any point here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import session_scope
from nurture.dispatch.record import Claimed, Policy, advance, record_results
from nurture.leads.models import Lead
from nurture.ledger import claims
from nurture.ledger.enrollment import exit_enrollments, exit_matching
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import SendResult, Transport, TransportUnavailable
from nurture.rendering.compose import LEAD_FIELDS, Composer, lead_context
from nurture.scoring.score import score_of
from nurture.sequences.conditions import Engagement, evaluate, load_engagement

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DispatchFailed(RuntimeError):
    """The batch could not do all its work; touches not handed over stay due. ``fatal``: the
    pass cannot go on (SMTP unreachable). Otherwise only some touches failed (a template or a
    condition that fails for them): they are due again after the retry delay, the pass goes
    on with the others and fails at its end."""

    def __init__(self, reason: str, report: BatchReport | None = None, fatal: bool = True):
        super().__init__(reason)
        self.report = report
        self.fatal = fatal


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
    started: float = field(default_factory=time.monotonic)

    def clock(self, now: datetime) -> datetime:
        """The time leases are taken and tested by: the pass's ``now`` advanced by the time
        since this dispatcher was built (once per pass). ``now`` alone stays fixed for the
        whole pass, so a long pass would claim work whose lease had already run out, and a
        concurrent pass would mark its chunk in doubt before it was even sent. In production
        ``now`` is the wall clock at the start of the pass, so this is the wall clock; tests
        fast-forward ``now`` and the clock runs on from there."""
        return now + timedelta(seconds=time.monotonic() - self.started)


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


async def _load(session: AsyncSession, ids: list[int]) -> list[Row[Any]]:
    """One plain row per claimed touch with what rendering and the skip rules need (Core,
    not ORM objects: a batch loads thousands)."""
    columns = [getattr(Lead, f) for f in LEAD_FIELDS]
    rows = await session.execute(
        select(
            Touch.id, Touch.enrollment_id, Touch.lead_id, Touch.sequence_id, Touch.step_id,
            Touch.step_index, Touch.attempts, Lead.public_id, Lead.custom, Lead.suppressed_at,
            Lead.suppression_reason, Enrollment.state.label("enrollment_state"),
            score_of(Lead.id).label("score"), *columns,
        )
        .join(Lead, Lead.id == Touch.lead_id)
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .where(Touch.id.in_(ids))
        .order_by(Touch.id)
    )  # fmt: skip
    return list(rows.all())


def _skip_reason(row: Row[Any], project: Project) -> str | None:
    if row.suppressed_at is not None:
        return f"suppressed_{row.suppression_reason or 'lead'}"
    if row.enrollment_state != EnrollmentState.ACTIVE:
        return f"enrollment_{row.enrollment_state}"
    if row.sequence_id not in project.sequences:
        return "sequence_removed"
    if project.sequences[row.sequence_id].step_index(row.step_id) is None:
        return "step_removed"
    return None


async def _skip(
    session: AsyncSession,
    skipped: list[tuple[Claimed, str]],
    project: Project,
    now: datetime,
    report: BatchReport,
) -> None:
    to_advance: list[Claimed] = []
    for touch, reason in skipped:
        report.counts[(touch.sequence_id, touch.step_id, TouchState.SKIPPED)] += 1
        await session.execute(
            update(Touch)
            .where(Touch.id == touch.id)
            .values(state=TouchState.SKIPPED, reason=reason, claimed_by=None, lease_until=None,
                    updated_at=now)
        )  # fmt: skip
        if reason.startswith("suppressed"):
            await exit_enrollments(session, touch.lead_id, reason, now)
        elif reason == "sequence_removed":
            await exit_matching(session, [Enrollment.id == touch.enrollment_id], reason, now)
        elif reason in ("condition_false", "step_removed"):
            to_advance.append(touch)  # advance() finds the next step by id
    if to_advance:
        await advance(session, to_advance, project, now)


async def _conditions(
    session: AsyncSession,
    project: Project,
    work: list[Work],
    skipped: list[tuple[Claimed, str]],
    report: BatchReport,
) -> tuple[list[Work], list[int]]:
    """Drop the touches whose step condition is false now (they join ``skipped``). Returns
    the rest and the ids of those whose condition could not be evaluated (kept due)."""

    def condition(w: Work) -> str | None:
        return project.sequences[w[0].sequence_id].steps[w[0].step_index].condition

    pairs = {(w[0].lead_id, w[0].sequence_id) for w in work if condition(w)}
    if not pairs:
        return work, []
    engagement = await load_engagement(session, pairs)
    keep, broken = [], []
    for item in work:
        touch, lead, _ = item
        sequence = project.sequences[touch.sequence_id]
        done = engagement.get((touch.lead_id, touch.sequence_id), Engagement())
        try:
            go = evaluate(sequence, touch.step_index, lead, done)
        except Exception as exc:
            report.error = f"{sequence.id}/{touch.step_id}: condition cannot be evaluated: {exc}"
            broken.append(touch.id)
            continue
        if go:
            keep.append(item)
        else:
            skipped.append((touch, "condition_false"))
    return keep, broken


def _claimed(row: Row[Any], step_index: int) -> Claimed:
    return Claimed(row.id, row.enrollment_id, row.lead_id, row.timezone, row.sequence_id,
                   row.step_id, step_index, row.attempts)  # fmt: skip


async def dispatch_batch(d: Dispatcher, now: datetime) -> BatchReport:
    """Claim and send one batch of due touches. Raises DispatchFailed when SMTP is unreachable
    or a template fails, after recording everything that did happen."""
    report = BatchReport()
    async with session_scope(d.db_url) as session:
        clock = d.clock(now)
        report.in_doubt_expired = await claims.expire_sending(session, clock)
        ids = await claims.claim_due(session, d.worker, now, d.batch_size, d.lease_seconds, clock)
        report.claimed = len(ids)
        if not ids:
            return report
        rows = await _load(session, ids)
        skipped: list[tuple[Claimed, str]] = []
        work: list[tuple[Claimed, dict[str, Any], str]] = []
        for row in rows:
            reason = _skip_reason(row, d.project)
            if reason:
                skipped.append((_claimed(row, row.step_index), reason))
                continue
            # Steps are matched by id: they may have been reordered since scheduling.
            index = d.project.sequences[row.sequence_id].step_index(row.step_id)
            work.append((_claimed(row, index), lead_context(row), row.public_id))  # type: ignore[arg-type]
        work, failed_condition = await _conditions(session, d.project, work, skipped, report)
        await _skip(session, skipped, d.project, now, report)

    claimed = {c.id: c for c, _, _ in work}
    claimed.update({_claimed(r, r.step_index).id: _claimed(r, r.step_index)
                    for r in rows if r.id in set(failed_condition)})  # fmt: skip
    failed_render: list[int] = list(failed_condition)
    if work:
        try:
            await d.transport.open()
        except TransportUnavailable as exc:
            await _release(d, list(claimed), claimed, now, report)
            report.error = str(exc)
            raise DispatchFailed(report.error, report) from exc

    unavailable = await _send_chunks(d, work, claimed, now, report, failed_render)
    if failed_render:
        # Due again after the retry delay, not at once: the next batch would claim them
        # first (they are the oldest) and a pass would spin on one bad lead's data.
        later = now + timedelta(seconds=d.policy.retry_base_seconds)
        await _release(d, failed_render, claimed, now, report, due_at=later)
    if unavailable:
        report.error = unavailable
        raise DispatchFailed(unavailable, report)
    if report.error:
        raise DispatchFailed(report.error, report, fatal=False)
    return report


Work = tuple[Claimed, dict[str, Any], str]


async def _render(
    d: Dispatcher, items: list[Work], now: datetime, report: BatchReport, failed: list[int]
) -> list[OutgoingMessage]:
    """Compose a chunk's messages, yielding now and then so the previous chunk's SMTP
    conversations move on meanwhile (rendering and sending overlap)."""
    out = []
    for i, (touch, lead_ctx, public_id) in enumerate(items):
        if i % 8 == 7:
            await asyncio.sleep(0)
        sequence = d.project.sequences[touch.sequence_id]
        try:
            out.append(d.composer.compose(sequence, touch.step_index, lead_ctx, public_id, now,
                                          touch.id))  # fmt: skip
        except Exception as exc:  # e.g. TypeError from `{% if lead.custom.size > 50 %}`
            # This touch stays due; the chunk in flight still gets its replies recorded.
            failed.append(touch.id)
            kind = "" if isinstance(exc, TemplateError | ValueError) else f"{type(exc).__name__}: "
            report.error = f"{sequence.id}/{touch.step_id}: template does not render: {kind}{exc}"
    return out


async def _send_chunks(
    d: Dispatcher,
    work: list[Work],
    claimed: dict[int, Claimed],
    now: datetime,
    report: BatchReport,
    failed: list[int],
) -> str | None:
    """Per chunk: mark 'sending' (committed) -> SMTP -> record. Recording chunk k and marking
    chunk k+1 share one transaction, so at any instant at most one chunk is 'sending'
    unrecorded (docs/delivery.md); chunk k+1 is rendered while chunk k is on the wire.
    Returns why the server became unreachable, if it did."""
    chunks = [work[i : i + d.chunk_size] for i in range(0, len(work), d.chunk_size)]
    results: list[SendResult] = []
    rendered = await _render(d, chunks[0], now, report, failed) if chunks else []
    for k in range(len(chunks) + 1):
        messages, not_sent = rendered, [r for r in results if r.status == "not_sent"]
        unavailable = not_sent[0].reply if not_sent else None
        async with session_scope(d.db_url) as session:
            if results:
                counts, released = await record_results(
                    session, results, claimed, d.project, d.policy, now, d.worker
                )
                await claims.release(session, released, d.worker, now)
            ids = [m.touch_id for m in messages if m.touch_id is not None]
            ours: set[int] = set()
            dropped: list[int] = []
            if ids and not unavailable:
                ours = await claims.mark_sending(
                    session, ids, d.worker, d.clock(now), d.lease_seconds
                )
                # Lead suppressed or enrollment ended since the claim: give them back; the
                # next batch skips them with the reason. (Touches another dispatcher took
                # over are not ours to release: the guard in release() leaves them.)
                dropped = await claims.release(
                    session, [i for i in ids if i not in ours], d.worker, now
                )
        if results:
            report.counts.update(counts)
        _count_released(report, claimed, dropped)
        if unavailable:  # the server went away: leave the rest due, untouched
            rest = {c.id for chunk in chunks[k:] for c, _, _ in chunk} - set(failed)
            if rest:
                await _release(d, sorted(rest), claimed, now, report)
            return unavailable
        batch = [m for m in messages if m.touch_id in ours]
        sending = asyncio.create_task(d.transport.send(batch)) if batch else None
        try:
            rendered = (await _render(d, chunks[k + 1], now, report, failed)
                        if k + 1 < len(chunks) else [])  # fmt: skip
        finally:
            results = await sending if sending else []
    return None


async def _release(
    d: Dispatcher,
    ids: list[int],
    claimed: dict[int, Claimed],
    now: datetime,
    report: BatchReport,
    due_at: datetime | None = None,
) -> None:
    async with session_scope(d.db_url) as session:
        ids = await claims.release(session, ids, d.worker, now, due_at)
    _count_released(report, claimed, ids)


def _count_released(report: BatchReport, claimed: dict[int, Claimed], ids: list[int]) -> None:
    for i in ids:
        report.counts[(claimed[i].sequence_id, claimed[i].step_id, "released")] += 1
