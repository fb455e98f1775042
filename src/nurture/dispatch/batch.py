"""One dispatch batch: claim -> triage (skip what may not go out) -> per chunk: render, mark
'sending', hand to SMTP, record the replies and schedule the next steps.

See docs/delivery.md for what happens to a touch if the process dies at any point here.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jinja2 import TemplateError

from nurture.config.project import Project
from nurture.db import session_scope
from nurture.dispatch.outcome import RELEASED, OutcomeKind, Policy
from nurture.dispatch.record import record_replies
from nurture.dispatch.triage import Triage, triage
from nurture.dispatch.work import Work
from nurture.ledger import claims
from nurture.ledger.claims import Claimed
from nurture.mail.backend import SendResult, SendStatus, Transport, TransportUnavailable
from nurture.mail.message import OutgoingMessage
from nurture.rendering.compose import Composer


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
    # (sequence id, step id, outcome) -> count
    counts: Counter[tuple[str, str, OutcomeKind]] = field(default_factory=Counter)
    # Deferred touches by why (the gate's DeferReason): priority, quiet_day, cap, paused.
    deferred: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def count(self, touch: Claimed, outcome: OutcomeKind) -> None:
        self.counts[(touch.sequence_id, touch.step_id, outcome)] += 1

    def total(self, outcome: OutcomeKind) -> int:
        return sum(n for (_, _, o), n in self.counts.items() if o == outcome)

    def merge(self, other: BatchReport) -> None:
        self.claimed += other.claimed
        self.in_doubt_expired += other.in_doubt_expired
        self.counts.update(other.counts)
        self.deferred.update(other.deferred)
        self.error = self.error or other.error


async def dispatch_batch(d: Dispatcher, now: datetime) -> BatchReport:
    """Claim and send one batch of due touches. Raises DispatchFailed when SMTP is unreachable
    or a template fails, after recording everything that did happen."""
    report = BatchReport()
    async with session_scope(d.db_url) as session:  # delivery.md steps 1-4: one transaction
        clock = d.clock(now)
        report.in_doubt_expired = await claims.expire_sending(session, clock)
        ids = await claims.claim_due(session, d.worker, now, d.batch_size, d.lease_seconds, clock)
        report.claimed = len(ids)
        if not ids:
            return report
        batch = await triage(session, d.project, ids, now, d.worker, clock)
    for touch, _ in batch.skipped:
        report.count(touch, OutcomeKind.SKIPPED)
    for deferral in batch.deferred:
        report.count(deferral.touch, OutcomeKind.DEFERRED)
        report.deferred[deferral.reason] += 1
    report.error = batch.error
    await ChunkPipeline(d, now, batch, report).run()
    return report


class ChunkPipeline:
    """The rest of a batch after its claim (delivery.md steps 5-10), in chunks of
    ``chunk_size``; it fills the batch's report from here on. Its one rule is
    ``record_and_mark``: recording chunk k's replies and marking chunk k+1 'sending' share
    one transaction, so at any instant at most one chunk is 'sending' with its replies
    unrecorded. Chunk k+1 is rendered while chunk k is on the wire."""

    def __init__(self, d: Dispatcher, now: datetime, batch: Triage, report: BatchReport):
        self.d, self.now, self.report = d, now, report
        size = d.chunk_size
        self.chunks = [batch.work[i : i + size] for i in range(0, len(batch.work), size)]
        self.touches = {w.touch.id: w.touch for w in batch.work}
        self.touches.update({t.id: t for t in batch.unevaluated})
        # Due again after the retry delay: a condition or a template failed for them.
        self.failed = [t.id for t in batch.unevaluated]
        self.unavailable: str | None = None  # why the server went away mid-batch, if it did

    async def run(self) -> None:
        """Raises DispatchFailed, after recording everything that did happen: fatal if the
        server is unreachable, otherwise if a condition or a template failed for a touch."""
        if self.chunks:
            try:
                await self.d.transport.open()
            except TransportUnavailable as exc:
                await self._release(list(self.touches))
                self.report.error = str(exc)
                raise DispatchFailed(self.report.error, self.report) from exc
        await self._send_chunks()
        if self.failed:
            # Due again after the retry delay, not at once: the next batch would claim them
            # first (they are the oldest) and a pass would spin on one bad lead's data.
            later = self.now + timedelta(seconds=self.d.policy.retry_base_seconds)
            await self._release(self.failed, due_at=later)
        if self.unavailable:
            self.report.error = self.unavailable
            raise DispatchFailed(self.unavailable, self.report)
        if self.report.error:
            raise DispatchFailed(self.report.error, self.report, fatal=False)

    async def _send_chunks(self) -> None:
        on_wire: list[SendResult] = []  # the replies to the chunk handed over last
        rendered = await self._render(self.chunks[0]) if self.chunks else []
        for k in range(len(self.chunks)):
            sendable = await self.record_and_mark(on_wire, rendered)
            if self.unavailable:  # the server went away: leave the rest due, untouched
                rest = {w.touch.id for chunk in self.chunks[k:] for w in chunk}
                await self._release(sorted(rest - set(self.failed)))
                return
            send = self.d.transport.send
            sending = asyncio.create_task(send(sendable)) if sendable else None
            try:
                has_next = k + 1 < len(self.chunks)
                rendered = await self._render(self.chunks[k + 1]) if has_next else []
            finally:
                on_wire = await sending if sending else []
        await self.record_and_mark(on_wire, [])

    async def record_and_mark(
        self, replies: list[SendResult], chunk: list[OutgoingMessage]
    ) -> list[OutgoingMessage]:
        """Record chunk k's ``replies`` and mark chunk k+1 (``chunk``) 'sending', in one
        transaction. Returns the messages of ``chunk`` that may be handed to SMTP now: those
        whose touch this dispatcher still holds, whose lead is not suppressed and whose
        enrollment is active; none if the server went away during chunk k."""
        lost = next((r.reply for r in replies if r.status == SendStatus.NOT_SENT), None)
        ids = [] if lost else [m.touch_id for m in chunk if m.touch_id is not None]
        if not replies and not ids:
            return []
        d = self.d
        async with session_scope(d.db_url) as session:
            recorded = await record_replies(
                session, replies, self.touches, d.project, d.policy, self.now, d.worker
            )
            clock = d.clock(self.now)
            ours = await claims.mark_sending(session, ids, d.worker, clock, d.lease_seconds)
            # Lead suppressed or enrollment ended since the claim: give them back; the next
            # batch skips them with the reason. (Touches another dispatcher took over are
            # not ours to release: the guard in release() leaves them.)
            others = [i for i in ids if i not in ours]
            dropped = await claims.release(session, others, d.worker, self.now)
        for r in recorded:
            self.report.count(r.touch, r.outcome.kind)
        self._count_released(dropped)
        if lost:
            self.unavailable = lost
        return [m for m in chunk if m.touch_id in ours]

    async def _render(self, chunk: list[Work]) -> list[OutgoingMessage]:
        """Compose a chunk's messages, yielding now and then so the chunk on the wire moves
        on meanwhile. A touch whose template fails, with any error, joins ``failed``."""
        messages = []
        for i, work in enumerate(chunk):
            if i % 8 == 7:
                await asyncio.sleep(0)
            touch = work.touch
            sequence = self.d.project.sequences[touch.sequence_id]
            try:
                message = self.d.composer.compose(
                    sequence,
                    touch.step_index,
                    work.lead,
                    work.public_id,
                    self.now,
                    touch.id,
                    variant=work.variant,
                )
            except Exception as exc:  # e.g. TypeError from `{% if lead.custom.size > 50 %}`
                self.failed.append(touch.id)
                where = f"{sequence.id}/{touch.step_id}"
                self.report.error = f"{where}: template does not render: {_describe(exc)}"
            else:
                messages.append(message)
        return messages

    async def _release(self, ids: list[int], due_at: datetime | None = None) -> None:
        """Give touches never handed to SMTP back, due as they were or at ``due_at``."""
        if not ids:
            return
        async with session_scope(self.d.db_url) as session:
            released = await claims.release(session, ids, self.d.worker, self.now, due_at)
        self._count_released(released)

    def _count_released(self, ids: list[int]) -> None:
        for i in ids:
            self.report.count(self.touches[i], RELEASED)


def _describe(exc: Exception) -> str:
    """A template error says what it is; any other error is named (TypeError: ...)."""
    return (
        str(exc) if isinstance(exc, TemplateError | ValueError) else f"{type(exc).__name__}: {exc}"
    )
