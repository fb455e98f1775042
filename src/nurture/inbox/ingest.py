"""Record a batch of incoming messages, set-based, in the caller's transaction.

Each message is claimed by its key in ``receipts`` first: only the ones never seen before are
recorded, so a message read twice (a restart before it was marked, two workers) records one
event. Bounce and complaint reports go through ``feedback.apply_feedback`` (events on the
send, suppression, drips ended); an automatic answer is an ``auto_reply`` event only; a
person's reply is a ``replied`` event tied to our send, ends the lead's drips whose sequence
says ``on_reply: exit``, and is queued for forwarding (``reply_forwards``) in the same
transaction. The queries are a fixed number per batch, whatever its size.

Anyone can mail the inbox, so what it says about a lead must name one of our sends: a report
that quotes a Message-ID counts only when it is one of ours (a complaint always needs one),
and a reply matched by the sender's address alone counts only when the receiving server
authenticated the From domain; an unauthenticated one is forwarded, marked so, and recorded
nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig
from nurture.db import chunked
from nurture.feedback.service import (
    Feedback,
    FeedbackKind,
    Target,
    apply_feedback,
    bare_message_id,
    resolve,
)
from nurture.inbox.classify import Classified, Kind, classify_bytes, unreadable
from nurture.inbox.models import ForwardState, ReplyForward
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Lead
from nurture.leads.service import normalise_email
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment, Touch
from nurture.receipts import first_seen

log = logging.getLogger(__name__)

SOURCE = "inbox"
_REPORTS = (Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE, Kind.COMPLAINT)
FORWARD_TEXT = 100_000  # characters of a reply kept for forwarding
UNVERIFIED = (
    "Achtung: Absender nicht bestätigt. Die Antwort nennt keine unserer E-Mails und der "
    "Mailserver hat die Absenderdomain nicht authentifiziert (DMARC/DKIM); nurture hat sie "
    "deshalb nicht als Antwort gezählt.\n\n"
)


@dataclass
class InboxReport:
    read: int = 0
    duplicates: int = 0  # read before (their receipt was taken): nothing recorded
    replies: int = 0
    auto_replies: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0
    notices: int = 0  # delivery reports without a failure (delayed, delivered), read receipts
    unreadable: int = 0  # messages no parser could read or the database refused: claimed, marked
    unverified: int = 0  # replies by address only, From not authenticated: forwarded only
    unmatched: int = 0  # about no lead and no send of ours
    exited: int = 0  # drips ended (replies, bounces, complaints)
    suppressed: int = 0
    forwards_queued: int = 0
    forwarded: int = 0
    forward_failed: int = 0
    forwards_in_doubt: int = 0  # claimed by a sender that died mid-send: never resent

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def merge(self, other: InboxReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def summary(self) -> str:
        return (
            f"{self.read} read: {self.replies} replies, {self.auto_replies} auto-replies, "
            f"{self.hard_bounces} hard and {self.soft_bounces} soft bounces, "
            f"{self.complaints} complaints, {self.unmatched} unmatched, "
            f"{self.unverified} unverified, {self.unreadable} unreadable; "
            f"{self.forwarded} forwarded, {self.forward_failed} forward(s) failed"
        )


def classify_all(messages: Sequence[tuple[str, bytes]]) -> list[Classified]:
    out = []
    for name, raw in messages:
        try:
            out.append(classify_bytes(raw))
        except Exception as exc:  # a message no parser can read must not block the inbox
            log.warning("inbox message %s unreadable: %s", name, exc)
            out.append(unreadable(raw, exc))
    return out


def _target(
    item: Classified, found: tuple[dict[str, Target], Any, dict[str, Target]]
) -> tuple[Target | None, bool]:
    """The send (or only the lead) a reply is about, and whether it names one of our sends."""
    by_message, _, by_email = found
    for ref in item.refs:
        if ref in by_message:
            return by_message[ref], True
    try:
        return (by_email.get(normalise_email(item.sender)) if item.sender else None), False
    except ValueError:
        return None, False


async def _feedback(
    session: AsyncSession, reports: list[Classified], now: datetime
) -> tuple[list[Feedback], int]:
    """The reports that may be applied, and how many may not: one that quotes a Message-ID
    must quote one of ours (else anyone could suppress any address by mail), a complaint
    always (it is permanent); a bounce that quotes none is matched by its recipient."""
    quoted, _, _ = await resolve(session, [i.refs[0] for i in reports if i.refs])
    feedback, refused = [], 0
    for i in reports:
        ours = bool(i.refs) and bare_message_id(i.refs[0]) in quoted
        if (i.refs or i.kind == Kind.COMPLAINT) and not ours:
            refused += 1
            continue
        feedback.append(
            Feedback(
                kind=FeedbackKind(i.kind),
                at=now,
                source=SOURCE,
                message_id=i.refs[0] if ours else None,
                email=None if ours else i.recipient or None,
                detail=i.detail,
            )
        )
    return feedback, refused


async def ingest(
    session: AsyncSession,
    project: Project,
    messages: Sequence[tuple[str, bytes]],
    now: datetime,
) -> InboxReport:
    """Classify and record ``messages`` ((source id, raw bytes)); never commits."""
    report = InboxReport(read=len(messages))
    unique: dict[str, Classified] = {}
    # CPU-bound (parsing, HTML): in a thread, off the event loop that serves HTTP too
    for item in await asyncio.to_thread(classify_all, messages):
        unique.setdefault(item.key, item)
    new = await first_seen(session, SOURCE, list(unique), now)
    fresh = [item for key, item in unique.items() if key[:255] in new]
    report.duplicates = len(messages) - len(fresh)

    reports = [i for i in fresh if i.kind in _REPORTS]
    feedback, refused = await _feedback(session, reports, now) if reports else ([], 0)
    report.unmatched += refused
    if feedback:
        applied = await apply_feedback(session, feedback, project.signals.bounces, now)
        report.unmatched += len(applied.unmatched)
        report.suppressed += applied.suppressed
        report.exited += applied.exited
        report.hard_bounces += applied.by_kind.get(FeedbackKind.HARD_BOUNCE, 0)
        report.soft_bounces += applied.by_kind.get(FeedbackKind.SOFT_BOUNCE, 0)
        report.complaints += applied.by_kind.get(FeedbackKind.COMPLAINT, 0)
    report.notices += sum(1 for i in fresh if i.kind == Kind.NOTICE and i.readable)
    report.unreadable += sum(1 for i in fresh if not i.readable)

    answers = [i for i in fresh if i.kind in (Kind.REPLY, Kind.AUTO_REPLY)]
    if not answers:
        return report
    found = await resolve(
        session, [r for i in answers for r in i.refs], (), [i.sender for i in answers if i.sender]
    )
    events: list[dict[str, Any]] = []
    replies: list[tuple[Classified, Target]] = []
    unverified: list[tuple[Classified, Target]] = []
    for item in answers:
        target, named = _target(item, found)
        if target is None:
            report.unmatched += 1
            continue
        if item.kind == Kind.REPLY and not named and not item.authenticated:
            report.unverified += 1  # a From anyone can write: forwarded, never counted
            unverified.append((item, target))
            continue
        where = {
            "sequence_id": target.sequence_id,
            "step_id": target.step_id,
            "touch_id": target.touch_id,
        }
        if item.kind == Kind.AUTO_REPLY:
            report.auto_replies += 1
            events.append(
                event_row(
                    target.lead_id,
                    EventType.AUTO_REPLY,
                    now,
                    **where,
                    subject=item.subject[:200],
                    signal=item.signal,
                )
            )
        else:
            report.replies += 1
            replies.append((item, target))
            events.append(
                event_row(
                    target.lead_id,
                    EventType.REPLIED,
                    now,
                    **where,
                    subject=item.subject[:200],
                    snippet=item.snippet,
                )
            )
    await record_events(session, events)
    if replies:
        report.exited += await _end_drips(session, project, {t.lead_id for _, t in replies}, now)
    if replies or unverified:
        report.forwards_queued += await _queue_forwards(session, project, replies, now, unverified)
    return report


async def ingest_unreadable(session: AsyncSession, item: Classified, now: datetime) -> InboxReport:
    """Claim a message that cannot be recorded (``classify.unreadable``) and count it."""
    new = await first_seen(session, SOURCE, [item.key], now)
    return InboxReport(read=1, unreadable=len(new), duplicates=1 - len(new))


async def _end_drips(
    session: AsyncSession, project: Project, lead_ids: set[int], now: datetime
) -> int:
    exiting = [s.id for s in project.sequences.values() if s.on_reply == "exit"]
    if not exiting:
        return 0
    ended = 0
    for part in chunked(sorted(lead_ids)):
        ended += await exit_matching(
            session,
            [Enrollment.lead_id.in_(part), Enrollment.sequence_id.in_(exiting)],
            EventType.REPLIED,
            now,
        )
    return ended


async def _queue_forwards(
    session: AsyncSession,
    project: Project,
    replies: list[tuple[Classified, Target]],
    now: datetime,
    unverified: list[tuple[Classified, Target]],
) -> int:
    """A reply_forwards row per reply: to the lead's owner, else to the sender of the
    sequence the reply answers (for a reply matched by address only: the lead's latest
    send's sequence), Reply-To whoever wrote it (a colleague of the lead too); unverified
    replies say so at the top. Two queries for the batch."""
    doubtful = {id(item) for item, _ in unverified}
    replies = [*replies, *unverified]
    lead_ids = sorted({t.lead_id for _, t in replies})
    leads: dict[int, Any] = {}
    latest: dict[int, str] = {}
    for part in chunked(lead_ids):
        rows = await session.execute(
            select(Lead.id, Lead.email, Lead.first_name, Lead.last_name, Lead.owner_email).where(
                Lead.id.in_(part)
            )
        )
        leads.update({r.id: r for r in rows})
        unmatched = [t.lead_id for _, t in replies if t.sequence_id is None and t.lead_id in part]
        if unmatched:
            rank = func.row_number().over(partition_by=Touch.lead_id, order_by=Touch.id.desc())
            sent = (
                select(Touch.lead_id, Touch.sequence_id, rank.label("n"))
                .where(Touch.lead_id.in_(unmatched), Touch.sent_at.is_not(None))
                .subquery()
            )
            found = await session.execute(
                select(sent.c.lead_id, sent.c.sequence_id).where(sent.c.n == 1)
            )
            latest.update({r.lead_id: r.sequence_id for r in found})
    fallback = next(iter(sorted(project.sequences.items())), (None, None))[1]
    rows = []
    for item, target in replies:
        lead = leads[target.lead_id]
        sequence_id = target.sequence_id or latest.get(target.lead_id)
        sequence: SequenceConfig | None = project.sequences.get(sequence_id or "") or fallback
        if sequence is None:
            continue  # no sequence, so no sender to write as: nothing to forward from
        recipient = lead.owner_email or str(sequence.sender.email)
        author = item.sender or lead.email
        if author == lead.email:
            who = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
        else:  # someone else answered our mail to the lead (a colleague, an assistant)
            who = item.sender_name or author
        body = (UNVERIFIED if id(item) in doubtful else "") + item.text
        rows.append(
            {
                "message_key": item.key[:255],
                "lead_id": target.lead_id,
                "touch_id": target.touch_id,
                "sequence_id": target.sequence_id,
                "step_id": target.step_id,
                "recipient": recipient,
                "from_name": f"{who} (via nurture)"[:200],
                "from_email": str(sequence.sender.email),
                "reply_email": author[:320],
                "subject": item.subject[:300],
                "body": body[:FORWARD_TEXT],
                "state": ForwardState.PENDING,
                "attempts": 0,
                "created_at": now,
            }
        )
    if rows:
        await session.execute(insert(ReplyForward.__table__), rows)
    return len(rows)
