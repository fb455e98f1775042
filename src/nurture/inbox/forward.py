"""Send the queued replies on (``reply_forwards``) to the lead's owner or sender, at most once
each.

1. Claim: pending rows become ``sending`` (attempts + 1) in a transaction of their own that
   commits before anything is sent; a second worker skips them (FOR UPDATE SKIP LOCKED on
   PostgreSQL, one writer at a time on SQLite) and finds them no longer pending.
2. Send through the configured mail transport.
3. Record: accepted rows become ``sent`` (their text is dropped) with a ``reply_forwarded``
   event; refused ones go back to ``pending`` with the error and a ``reply_forward_failed``
   event, tried again by the next pass, ``failed`` after ``MAX_ATTEMPTS`` (at once for a 5xx
   or a forward that cannot be built, e.g. an owner address that is none); one whose
   connection broke during DATA stays ``sending``: in doubt.

A process that dies between 1 and 3 leaves its rows ``sending``: the mail server may or may
not have them, so they are not resent (never twice) but counted as in doubt in every pass.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from nurture.db import session_scope
from nurture.inbox.ingest import InboxReport
from nurture.inbox.models import MAX_ATTEMPTS, ForwardState, ReplyForward
from nurture.leads.events import EventType, event_row, record_events
from nurture.mail.backend import SendStatus, Transport, TransportUnavailable
from nurture.mail.message import OutgoingMessage, build_message, check_address

IN_DOUBT_AFTER = timedelta(minutes=15)  # a claim older than this without a result


def forward_message(row: dict[str, Any], now: datetime) -> OutgoingMessage:
    """The forward: from the sequence's sender address (our domain: it passes SPF/DMARC),
    Reply-To the lead, so the owner answers the lead directly."""
    subject = row["subject"] or "(ohne Betreff)"
    where = f"{row['sequence_id']} / {row['step_id']}" if row["sequence_id"] else "-"
    head = (
        f"{row['from_name'].removesuffix(' (via nurture)')} <{row['reply_email']}> hat auf "
        f"eine E-Mail geantwortet (Sequenz / Schritt: {where}).\n"
        f"Betreff: {subject}\n\n"
    )
    text = head + (row["body"] or "")
    try:
        reply_to: str | None = check_address(row["reply_email"])
    except ValueError:
        reply_to = None
    return build_message(
        from_name=row["from_name"],
        from_addr=row["from_email"],
        to_name=None,
        to_addr=row["recipient"],
        subject=f"Antwort: {subject}",
        html=f'<pre style="white-space:pre-wrap;font-family:sans-serif">{html.escape(text)}</pre>',
        text=text,
        date=now,
        reply_to=reply_to,
        # RFC 3834: an automatic message; autoresponders do not answer it, and should it
        # land in the inbox we read, it is an auto-reply there, never forwarded again.
        headers={"Auto-Submitted": "auto-generated"},
    )


_COLUMNS = (
    "id",
    "lead_id",
    "touch_id",
    "sequence_id",
    "step_id",
    "recipient",
    "from_name",
    "from_email",
    "reply_email",
    "subject",
    "body",
    "attempts",
)


async def _claim(db_url: str, now: datetime, limit: int) -> list[dict[str, Any]]:
    async with session_scope(db_url) as session:
        rows = (
            await session.execute(
                select(*(getattr(ReplyForward, c) for c in _COLUMNS))
                .where(ReplyForward.state == ForwardState.PENDING)
                .order_by(ReplyForward.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        claimed = [dict(r._mapping) for r in rows]
        if claimed:
            await session.execute(
                update(ReplyForward)
                .where(ReplyForward.id.in_([r["id"] for r in claimed]))
                .values(
                    state=ForwardState.SENDING,
                    claimed_at=now,
                    attempts=ReplyForward.attempts + 1,
                )
            )
    return claimed


async def forward_replies(
    db_url: str, transport: Transport, now: datetime, limit: int = 200
) -> InboxReport:
    """Send what is queued, ``limit`` at a time, until nothing is pending or a send fails."""
    report = InboxReport()
    while True:
        claimed = await _claim(db_url, now, limit)
        if claimed:
            await _send(db_url, transport, claimed, now, report)
        if len(claimed) < limit or report.forward_failed:
            break
    async with session_scope(db_url) as session:
        report.forwards_in_doubt = int(
            await session.scalar(
                select(func.count())
                .select_from(ReplyForward)
                .where(
                    ReplyForward.state == ForwardState.SENDING,
                    ReplyForward.claimed_at < now - IN_DOUBT_AFTER,
                )
            )
            or 0
        )
    return report


async def _send(
    db_url: str,
    transport: Transport,
    claimed: list[dict[str, Any]],
    now: datetime,
    report: InboxReport,
) -> None:
    messages: dict[int, OutgoingMessage] = {}
    errors: dict[int, str] = {}
    for row in claimed:
        try:
            messages[row["id"]] = forward_message(row, now)
        except ValueError as exc:  # e.g. an owner address that is no address: never sendable
            errors[row["id"]] = f"cannot build the forward: {exc}"
    failed_reply = "not sent"
    results = []
    if messages:
        try:
            await transport.open()
            results = await transport.send(list(messages.values()))
        except TransportUnavailable as exc:
            failed_reply = str(exc)
    by_message = {r.message.message_id: r for r in results}
    sent, retry, give_up, events = [], [], [], []
    for row in claimed:
        message = messages.get(row["id"])
        result = by_message.get(message.message_id) if message else None
        where = {
            "sequence_id": row["sequence_id"],
            "step_id": row["step_id"],
            "touch_id": row["touch_id"],
        }
        if result is not None and result.status == SendStatus.SENT:
            sent.append(row["id"])
            events.append(
                event_row(
                    row["lead_id"], EventType.REPLY_FORWARDED, now, **where, to=row["recipient"]
                )
            )
            continue
        if row["id"] not in errors:
            detail = f"{result.status} {result.code}: {result.reply}" if result else failed_reply
            errors[row["id"]] = detail[:500]
        if result is not None and result.status == SendStatus.IN_DOUBT:
            pass  # the server may have it: stays sending, counted in doubt, never resent
        elif (
            message is None
            or (result is not None and result.status == SendStatus.BOUNCED)
            or row["attempts"] + 1 >= MAX_ATTEMPTS  # attempts was counted at the claim
        ):
            give_up.append(row["id"])
        else:
            retry.append(row["id"])
        events.append(
            event_row(
                row["lead_id"],
                EventType.REPLY_FORWARD_FAILED,
                now,
                **where,
                to=row["recipient"],
                error=errors[row["id"]][:200],
                attempt=row["attempts"] + 1,
            )
        )
    async with session_scope(db_url) as session:
        if sent:
            await session.execute(
                update(ReplyForward)
                .where(ReplyForward.id.in_(sent))
                .values(state=ForwardState.SENT, sent_at=now, body=None, last_error=None)
            )
        for state, ids in ((ForwardState.PENDING, retry), (ForwardState.FAILED, give_up)):
            # one statement per distinct error: usually one (the server was down)
            by_error: dict[str, list[int]] = {}
            for i in ids:
                by_error.setdefault(errors[i], []).append(i)
            for error, part in by_error.items():
                await session.execute(
                    update(ReplyForward)
                    .where(ReplyForward.id.in_(part))
                    .values(state=state, last_error=error)
                )
        await record_events(session, events)
    report.forwarded += len(sent)
    report.forward_failed += len(claimed) - len(sent)
