"""Apply bounce and complaint reports to the leads and the ledger, set-based.

A report names the send it is about by our Message-ID (what providers echo back and what a
bounce report quotes), or by the touch id, else only by the recipient's address. Each becomes
an event on the lead tied to that send (``bounced``, ``soft_bounced``, ``complained``); a hard
bounce suppresses the address (``bounced``), a complaint too (``complained``, never lifted by a
form), and enough soft bounces within the configured window count as a hard one. A suppressed
lead's drips end. Idempotency is the caller's: it claims each report's key in
``nurture.receipts`` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.signals import BounceSignals
from nurture.db import chunked
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.leads.service import normalise_email, suppress
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment, Touch


class FeedbackKind(StrEnum):
    HARD_BOUNCE = "hard_bounce"  # the address does not exist, or never will accept
    SOFT_BOUNCE = "soft_bounce"  # mailbox full, greylisted, ...: counted
    COMPLAINT = "complaint"  # the recipient marked the mail as spam


_EVENT = {
    FeedbackKind.HARD_BOUNCE: EventType.BOUNCED,
    FeedbackKind.SOFT_BOUNCE: EventType.SOFT_BOUNCED,
    FeedbackKind.COMPLAINT: EventType.COMPLAINED,
}


@dataclass(frozen=True)
class Feedback:
    kind: FeedbackKind
    at: datetime
    source: str  # "ses", "postmark", "sendgrid", "mailgun", "generic", "inbox"
    message_id: str | None = None  # our Message-ID of the send, with or without <>
    touch_id: int | None = None
    email: str | None = None  # the recipient, when nothing else names the send
    detail: str = ""  # what the provider or the report says (status, diagnostic)


@dataclass
class FeedbackReport:
    recorded: int = 0
    unmatched: list[Feedback] = field(default_factory=list)
    suppressed: int = 0
    exited: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """What a report resolved to: the lead, and the send when it named one."""

    lead_id: int
    touch_id: int | None = None
    sequence_id: str | None = None
    step_id: str | None = None


def bare_message_id(value: str) -> str:
    return value.strip().strip("<>").strip()


async def resolve(
    session: AsyncSession,
    message_ids: Iterable[str] = (),
    touch_ids: Iterable[int] = (),
    emails: Iterable[str] = (),
) -> tuple[dict[str, Target], dict[int, Target], dict[str, Target]]:
    """Look up sends by Message-ID (bare, without <>) and touch id, and leads by address
    (normalised): three queries per chunk at most, whatever the number."""
    by_message: dict[str, Target] = {}
    by_touch: dict[int, Target] = {}
    by_email: dict[str, Target] = {}
    columns = (Touch.id, Touch.lead_id, Touch.sequence_id, Touch.step_id, Touch.message_id)
    ids = list(dict.fromkeys(bare_message_id(m) for m in message_ids if m))
    for part in chunked(ids, 2000):
        wanted = [f"<{m}>" for m in part] + list(part)
        for row in await session.execute(select(*columns).where(Touch.message_id.in_(wanted))):
            target = Target(row.lead_id, row.id, row.sequence_id, row.step_id)
            by_message[bare_message_id(row.message_id)] = target
    for part in chunked(list(dict.fromkeys(touch_ids))):
        for row in await session.execute(select(*columns).where(Touch.id.in_(part))):
            by_touch[row.id] = Target(row.lead_id, row.id, row.sequence_id, row.step_id)
    addresses: dict[str, str] = {}
    for email in emails:
        try:
            addresses[normalise_email(email)] = email
        except ValueError:
            continue
    for part in chunked(list(addresses)):
        for row in await session.execute(select(Lead.id, Lead.email).where(Lead.email.in_(part))):
            by_email[row.email] = Target(row.id)
    return by_message, by_touch, by_email


def _target(
    item: Feedback,
    found: tuple[dict[str, Target], dict[int, Target], dict[str, Target]],
) -> Target | None:
    by_message, by_touch, by_email = found
    if item.message_id and bare_message_id(item.message_id) in by_message:
        return by_message[bare_message_id(item.message_id)]
    if item.touch_id is not None and item.touch_id in by_touch:
        return by_touch[item.touch_id]
    if item.email:
        try:
            return by_email.get(normalise_email(item.email))
        except ValueError:
            return None
    return None


async def apply_feedback(
    session: AsyncSession, items: Sequence[Feedback], config: BounceSignals, now: datetime
) -> FeedbackReport:
    """Record each report as an event on its lead, suppress and end the drips of hard
    bounces, complaints and addresses over the soft-bounce limit. Reports that match no
    lead are returned as ``unmatched`` (nothing to record them on)."""
    report = FeedbackReport()
    found = await resolve(
        session,
        [i.message_id for i in items if i.message_id],
        [i.touch_id for i in items if i.touch_id is not None],
        [i.email for i in items if i.email],
    )
    events: list[dict[str, Any]] = []
    hard: dict[int, dict[str, Any]] = {}
    complained: dict[int, dict[str, Any]] = {}
    softened: set[int] = set()
    for item in items:
        target = _target(item, found)
        if target is None:
            report.unmatched.append(item)
            continue
        data = {"source": item.source, "detail": item.detail[:500]}
        events.append(
            event_row(
                target.lead_id,
                _EVENT[item.kind],
                item.at,
                sequence_id=target.sequence_id,
                step_id=target.step_id,
                touch_id=target.touch_id,
                **data,
            )
        )
        report.by_kind[item.kind] = report.by_kind.get(item.kind, 0) + 1
        if item.kind == FeedbackKind.HARD_BOUNCE:
            hard.setdefault(target.lead_id, data)
        elif item.kind == FeedbackKind.COMPLAINT:
            complained.setdefault(target.lead_id, data)
        else:
            softened.add(target.lead_id)
    await record_events(session, events)
    report.recorded = len(events)
    for lead_id, soft in (await _over_soft_limit(session, softened, config, now)).items():
        hard.setdefault(lead_id, {"source": "soft_bounces", "soft_bounces": soft})
    # A complaint outranks a bounce: the address is suppressed as complained.
    for lead_id in complained:
        hard.pop(lead_id, None)
    for reason, leads in (
        (SuppressionReason.COMPLAINED, complained),
        (SuppressionReason.BOUNCED, hard),
    ):
        if leads:
            report.suppressed += len(await suppress(session, leads, reason, now))
            report.exited += await exit_matching(
                session, [Enrollment.lead_id.in_(list(leads))], reason, now
            )
    return report


async def _over_soft_limit(
    session: AsyncSession, lead_ids: set[int], config: BounceSignals, now: datetime
) -> dict[int, int]:
    """Leads with at least ``soft_limit`` soft bounces in the window, and how many."""
    since = now - timedelta(days=config.soft_window_days)
    over: dict[int, int] = {}
    for part in chunked(sorted(lead_ids)):
        count = func.count()
        rows = await session.execute(
            select(Event.lead_id, count)
            .where(
                Event.lead_id.in_(part),
                Event.type == EventType.SOFT_BOUNCED,
                Event.occurred_at >= since,
            )
            .group_by(Event.lead_id)
            .having(count >= config.soft_limit)
        )
        over.update({r[0]: int(r[1]) for r in rows})
    return over
