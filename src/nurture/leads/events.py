"""The event log's vocabulary and its one writer.

Every event type the code records is an ``EventType``; config that names an event (scoring
rules, goals) is checked against it at load, so a typo is an error with its file and line
instead of a rule that silently never matches. Custom events (a CRM or the website reporting
what a lead did) live in their own namespace, ``custom.<name>``, so they can never be mistaken
for, or collide with, an event nurture records itself.

``event_row`` is the one place an event row is spelled; ``record_events`` writes many with one
executemany, ``record_event`` one. Events are append-only: nothing deletes them, and there
are two updates: ``mark_machine``, an open or click judged a person's until a burst it belonged
to showed it was a machine's, and ``erase_payloads``, a forgotten lead's payloads reduced to
what holds nothing personal (the rows, their types and times stay: the report's counts too).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from sqlalchemy import ColumnElement, Insert, Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked, update_by_id
from nurture.leads.models import Event


class EventType(StrEnum):
    # capture and consent
    CAPTURED = "captured"  # a form was submitted (data: form, source)
    RESUBSCRIBED = "resubscribed"  # a suppressed address opted in again through a form
    CONFIRMATION_SENT = "confirmation_sent"
    CONFIRMATION_FAILED = "confirmation_failed"
    CONFIRMED = "confirmed"  # the double opt-in link was confirmed
    STAGE_CHANGED = "stage_changed"  # data: stage, previous, and why (form, score, rep, via)
    SUPPRESSED = "suppressed"  # no more marketing mail (data: reason)
    UNSUBSCRIBED = "unsubscribed"
    # drips
    ENROLLED = "enrolled"
    EXITED = "exited"  # ended early (data: reason, after_step)
    COMPLETED = "completed"  # had its last step
    SENT = "sent"
    RETRYING = "retrying"
    BOUNCED = "bounced"  # hard: SMTP 5xx, or a provider's or the inbox's bounce report
    IN_DOUBT = "in_doubt"
    RELEASED = "released"  # an operator decided about a touch in doubt
    # engagement (each open and click carries a verdict: events.machine, see MachineReason)
    OPEN = "open"
    CLICK = "click"
    # what the mail system and the lead send back (signals: docs/signals.md)
    SOFT_BOUNCED = "soft_bounced"  # a temporary failure reported after delivery
    COMPLAINED = "complained"  # marked as spam (a provider's or an ARF feedback report)
    REPLIED = "replied"  # a person answered (data: subject, snippet)
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic answer
    REPLY_FORWARDED = "reply_forwarded"  # the reply went on to the lead's owner or sender
    REPLY_FORWARD_FAILED = "reply_forward_failed"  # not accepted by the mail server: retried
    # website behaviour
    PAGE = "page"  # a page view (data: url, title, referrer)
    IDENTIFIED = "identified"  # an anonymous visitor became this lead (data: anonymous_id)
    # hand-off to sales
    HANDED_OFF = "handed_off"
    HANDOFF_NOTIFIED = "handoff_notified"
    HANDOFF_REMINDED = "handoff_reminded"
    HANDOFF_NOTIFY_FAILED = "handoff_notify_failed"
    HANDOFF_ACCEPTED = "handoff_accepted"
    HANDOFF_REJECTED = "handoff_rejected"
    HANDOFF_REASSIGNED = "handoff_reassigned"
    WEBHOOK_DELIVERED = "webhook_delivered"
    WEBHOOK_FAILED = "webhook_failed"
    # after the sale, and the lead's own choices (docs/lifecycle.md)
    NPS_SCORED = "nps_scored"  # a one-click satisfaction score (data: score 0-10)
    DEAL_RECORDED = "deal_recorded"  # a purchase the CRM reported (data: deal, value, date)
    REFERRED = "referred"  # a new lead came through this lead's referral link (data: lead)
    PREFERENCES_CHANGED = "preferences_changed"  # topics, a pause (data: what was chosen)
    IMPORTED = "imported"  # created or updated by a CSV import (data: source, file, line)
    EXPORTED = "exported"  # everything held on the lead was exported (data: via)
    FORGOTTEN = "forgotten"  # personal data erased; the anonymous record stays (data: via)


ENGAGEMENT = (EventType.OPEN, EventType.CLICK)


class MachineReason(StrEnum):
    """Why an open or a click was a machine's, not a person's (events.machine; NULL: human).
    Each signal is described in docs/signals.md."""

    AT_DELIVERY = "at_delivery"  # fetched within seconds of delivery
    HIDDEN_LINK = "hidden_link"  # the link no person can see, or in its burst
    LINK_BURST = "link_burst"  # several links of one message within seconds
    HEAD_REQUEST = "head_request"  # a HEAD request: checks a link, reads nothing
    KNOWN_AGENT = "known_agent"  # a scanner's or image proxy's user agent
    KNOWN_NETWORK = "known_network"  # from a scanner's or image proxy's network
    BOT = "bot"  # a generic crawler or bot user agent


CUSTOM_PREFIX = "custom."
# events.type is 32 characters wide: "custom." and at most 25 more.
_CUSTOM = re.compile(r"^custom\.[a-z][a-z0-9_]{0,24}$")


def check_event_name(value: str) -> str:
    """An ``EventType`` value or ``custom.<name>``; anything else is a ValueError that says
    what was probably meant."""
    try:
        return EventType(value)
    except ValueError:
        pass
    if value.startswith(CUSTOM_PREFIX):
        if _CUSTOM.match(value):
            return value
        raise ValueError(
            f"custom event {value!r}: after 'custom.' use lower-case letters, digits and _ "
            "(at most 25 characters), e.g. custom.webinar_registered"
        )
    raise ValueError(
        f"unknown event {value!r}; {did_you_mean(value, EventType)}events are "
        f"{', '.join(EventType)}, or custom.<name> for events your CRM or website reports"
    )


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """'did you mean X? ' for the closest of ``choices``, or '' when none is close."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""


# For config models: a str that is a known or a custom event; in the config's JSON Schemas
# (nurture schema) the names an editor offers, or the custom pattern.
EventName = Annotated[
    str,
    AfterValidator(check_event_name),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": [str(t) for t in EventType]},
                {"type": "string", "pattern": _CUSTOM.pattern, "examples": ["custom.demo_booked"]},
            ],
            "description": "An event nurture records, or custom.<name> for one your CRM or "
            "website reports.",
        },
        mode="validation",
    ),
]


_COLUMNS = (
    "lead_id",
    "type",
    "occurred_at",
    "sequence_id",
    "step_id",
    "touch_id",
    "machine",
    "data",
)


# What PostgreSQL cannot store in text or JSONB: NUL, and lone surrogates (undecodable bytes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with NUL and lone surrogates removed from every string in it: data from
    outside (a header, a webhook's detail) must not make one database refuse what the other
    takes."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def event_row(
    lead_id: int,
    type_: EventType | str,
    at: datetime,
    *,
    sequence_id: str | None = None,
    step_id: str | None = None,
    touch_id: int | None = None,
    machine: MachineReason | None = None,
    **data: Any,
) -> dict[str, Any]:
    """One events row as insert values: the only spelling of an event in the code.
    ``touch_id``: the send it is about (engagement, replies, bounces); ``machine``: for opens
    and clicks, why a machine did it (None: a person)."""
    return {
        "lead_id": lead_id,
        "type": type_,
        "occurred_at": at,
        "sequence_id": sequence_id,
        "step_id": step_id,
        "touch_id": touch_id,
        "machine": machine,
        "data": storable(data),
    }


async def record_events(session: AsyncSession, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append many events (rows from ``event_row``) with one executemany."""
    rows = list(rows)
    if rows:
        await session.execute(insert(Event.__table__), rows)


def insert_events_from(query: Select[Any]) -> Insert:
    """``INSERT INTO events ... SELECT``: events made in SQL from other rows, set-based (the
    query's columns: lead_id, type, occurred_at, sequence_id, step_id, touch_id, machine,
    data)."""
    return insert(Event.__table__).from_select(list(_COLUMNS), query)


def human() -> ColumnElement[bool]:
    """Events a person caused: every event but the opens and clicks judged a machine's."""
    return Event.machine.is_(None)


async def mark_machine(session: AsyncSession, reasons: Mapping[int, MachineReason]) -> None:
    """Judge opens and clicks recorded as a person's to be a machine's after all (a burst
    seen later): the one change ever made to an event row, and only to its verdict."""
    by_reason: dict[MachineReason, list[int]] = {}
    for event_id, reason in reasons.items():
        by_reason.setdefault(reason, []).append(event_id)
    for reason, ids in by_reason.items():
        await session.execute(
            update(Event)
            .where(Event.id.in_(ids), Event.machine.is_(None))
            .values(machine=reason)
            .execution_options(synchronize_session=False)
        )


# What a forgotten lead's events keep of their data: the keys the report and the ledger read
# (a stage, a deal value, why a drip ended, where a bounce report came from), and of those only
# numbers, booleans and lower-case words; a form value, a subject, a URL, a server's reply that
# echoes the address, an anonymous id are gone.
KEPT_KEYS = frozenset(
    {"form", "stage", "previous", "value", "via", "reason", "after_step", "source", "pending"}
    | {"score", "territory", "events"}
    # a referred lead's public id (32 hex digits, kept on its row too): the report's referrals
    | {"lead"}
)
_WORD = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")


def anonymous_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """An event's data reduced to what is not personal (see ``KEPT_KEYS``)."""
    kept: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if key not in KEPT_KEYS:
            continue
        if (
            isinstance(value, bool | int | float)
            or value is None
            or (isinstance(value, str) and _WORD.match(value))
        ):
            kept[key] = value
    return kept


async def erase_payloads(session: AsyncSession, lead_ids: Iterable[int]) -> int:
    """Erase the personal data in these leads' events (the lead asked to be forgotten): the
    second sanctioned change to event rows, after ``mark_machine``. Every row stays, with its
    type, time, sequence, step, touch and verdict; its data keeps only ``anonymous_data``.
    One SELECT and one executemany per chunk of leads. Returns how many rows changed."""
    changed = 0
    for part in chunked(list(lead_ids)):
        rows = await session.execute(select(Event.id, Event.data).where(Event.lead_id.in_(part)))
        updates = [
            {"id": r.id, "data": kept}
            for r in rows
            if (kept := anonymous_data(r.data)) != (r.data or {})
        ]
        await update_by_id(session, Event, updates)
        changed += len(updates)
    return changed


async def record_event(
    session: AsyncSession,
    lead_id: int,
    type_: EventType | str,
    at: datetime,
    *,
    sequence_id: str | None = None,
    step_id: str | None = None,
    touch_id: int | None = None,
    **data: Any,
) -> None:
    """Append one event."""
    row = event_row(
        lead_id, type_, at, sequence_id=sequence_id, step_id=step_id, touch_id=touch_id, **data
    )
    await record_events(session, [row])
