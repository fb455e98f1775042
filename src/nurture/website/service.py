"""POST /api/track without HTTP: check a body of Segment calls, then write many bodies in one
transaction (the route's group commit).

Checking decides everything that needs no database: each call's type, whose it is, its time
(``timestamp``, corrected by ``sentAt`` for the client's clock, at most ``FUTURE_SKEW`` ahead
and ``MAX_AGE`` back), its event type and data. A body with one bad call is rejected whole,
with a message per call and field (``loc``: body, batch, index, field): a client that retries
a batch after fixing it must not find half of it recorded already. Writing then resolves the
userIds (a lead's public id or address; an unknown one rejects its body the same way), claims
the messageIds (``receipts``: a retried batch records nothing twice), joins anonymous ids to
leads (identify, or a call with both ids) and records the page and track calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.leads.events import EventType
from nurture.leads.models import Lead
from nurture.leads.service import InvalidEmail, normalise_email
from nurture.receipts import first_seen
from nurture.visitors.service import (
    TRACK_RECEIPTS,
    Call,
    join_many,
    page_data,
    record,
    track_type,
)
from nurture.website.schemas import BatchIn, CallIn, CallType

FUTURE_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)
MAX_PROPERTIES = 8192  # characters of JSON per call

Loc = list[str | int]


class CallErrors(ValueError):
    """Per-call, per-field messages; ``status``: 403 (the write key may not do this) or 422."""

    def __init__(self, errors: list[tuple[Loc, str]], status: int = 422):
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))
        self.errors, self.status = errors, status


@dataclass(frozen=True)
class Checked:
    type: CallType
    at: datetime
    event_type: str | None = None  # page and track: the event to record
    data: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None  # normalised: an address lower-cased
    anonymous_id: str | None = None
    receipt: str | None = None  # the messageId's key in receipts


@dataclass(frozen=True)
class Batch:
    """The checked calls of one request (``loc``: where each came from in the body)."""

    calls: list[Checked]
    locs: list[Loc]
    received_at: datetime


@dataclass(frozen=True)
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    errors: list[tuple[Loc, str]] = field(default_factory=list)


def parse(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise CallErrors([(["body"], "not valid JSON")]) from None


def check(body: Any, browser: bool, now: datetime) -> tuple[list[Checked], list[Loc]]:
    """The calls of a body (one call or {"batch": [...]}); CallErrors with every problem.
    ``browser``: authenticated with the public write key (page and track of anonymous ids
    only)."""
    if isinstance(body, dict) and "batch" in body:
        try:
            items = BatchIn.model_validate(body).batch
        except ValidationError as exc:
            raise CallErrors(_pydantic(exc, ["body"])) from None
        locs: list[Loc] = [["body", "batch", i] for i in range(len(items))]
        if not items:
            raise CallErrors([(["body", "batch"], "an empty batch")])
    elif isinstance(body, dict):
        items, locs = [body], [["body"]]
    else:
        raise CallErrors([(["body"], 'send a call object or {"batch": [...]}')])
    checked: list[Checked] = []
    errors: list[tuple[Loc, str]] = []
    forbidden: list[tuple[Loc, str]] = []
    for item, loc in zip(items, locs, strict=True):
        try:
            call = CallIn.model_validate(item)
        except ValidationError as exc:
            errors += _pydantic(exc, loc)
            continue
        try:
            checked.append(_check(call, loc, browser, now))
        except CallErrors as exc:
            (forbidden if exc.status == 403 else errors).extend(exc.errors)
    if forbidden:
        raise CallErrors(forbidden, 403)
    if errors:
        raise CallErrors(errors)
    return checked, locs


def _pydantic(exc: ValidationError, loc: Loc) -> list[tuple[Loc, str]]:
    return [([*loc, *e["loc"]], e["msg"]) for e in exc.errors()]


def _check(call: CallIn, loc: Loc, browser: bool, now: datetime) -> Checked:
    if browser:
        if call.type == CallType.IDENTIFY:
            reason = "identify needs the API key: the write key is public, anyone could send it"
            raise CallErrors([([*loc, "type"], reason)], 403)
        if call.userId is not None:
            reason = "userId needs the API key: with the public write key, send anonymousId"
            raise CallErrors([([*loc, "userId"], reason)], 403)
    errors: list[tuple[Loc, str]] = []
    user_id = None
    if call.userId is not None:
        user_id = call.userId.strip()
        if "@" in user_id:
            try:
                user_id = normalise_email(user_id)
            except InvalidEmail as exc:
                errors.append(([*loc, "userId"], f"not a lead id or an address: {exc}"))
    if call.type == CallType.IDENTIFY and user_id is None:
        errors.append(([*loc, "userId"], "identify needs the userId of the lead"))
    elif user_id is None and call.anonymousId is None:
        errors.append(([*loc, "anonymousId"], "a call needs a userId or an anonymousId"))
    try:
        at = _time(call, now)
    except OverflowError:
        at = None
    if at is None:
        errors.append(([*loc, "timestamp"], "out of range"))
    elif at > now + FUTURE_SKEW:
        errors.append(([*loc, "timestamp"], "in the future (more than 5 minutes ahead)"))
    elif at < now - MAX_AGE:
        errors.append(([*loc, "timestamp"], "more than 365 days ago"))
    event_type, data = None, {}
    if call.type == CallType.TRACK:
        if call.event is None:
            errors.append(([*loc, "event"], "a track call needs the event's name"))
        else:
            try:
                event_type = track_type(call.event)
            except ValueError as exc:
                errors.append(([*loc, "event"], str(exc)))
        data = call.properties
        if _json_length(data) > MAX_PROPERTIES:
            errors.append(([*loc, "properties"], f"at most {MAX_PROPERTIES} characters of JSON"))
    elif call.type == CallType.PAGE:
        event_type, data = EventType.PAGE, _page(call)
    if errors or at is None:
        raise CallErrors(errors)
    receipt = None
    if call.messageId is not None:
        # Scoped by sender: a browser that reuses another's messageId cannot block it.
        who = f"{user_id or ''}\n{call.anonymousId or ''}\n{call.messageId}"
        receipt = hashlib.sha256(who.encode()).hexdigest()
    return Checked(call.type, at, event_type, data, user_id, call.anonymousId, receipt)


def _json_length(value: Any) -> int:
    try:
        return len(json.dumps(value, default=str))
    except (ValueError, RecursionError):  # nested too deep to store
        return MAX_PROPERTIES + 1


def _time(call: CallIn, now: datetime) -> datetime:
    at = _aware(call.timestamp) if call.timestamp else now
    if call.timestamp and call.sentAt:
        at += now - _aware(call.sentAt)  # Segment's clock-skew correction
    return at


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _page(call: CallIn) -> dict[str, Any]:
    props, ctx = call.properties, call.context.page

    def pick(key: str) -> str | None:
        value = props.get(key)
        value = value if isinstance(value, str) else getattr(ctx, key)
        return value[:2000] if value else None

    return page_data(pick("url"), pick("path"), pick("title"), pick("referrer"))


async def _leads(session: AsyncSession, user_ids: set[str]) -> dict[str, int]:
    """Lead id by userId (a public id or an address), one query."""
    if not user_ids:
        return {}
    emails = sorted(u for u in user_ids if "@" in u)
    public = sorted(u for u in user_ids if "@" not in u)
    rows = await session.execute(
        select(Lead.id, Lead.public_id, Lead.email).where(
            or_(Lead.public_id.in_(public), Lead.email.in_(emails))
        )
    )
    out: dict[str, int] = {}
    for r in rows.all():
        out[r.public_id] = out[r.email] = r.id
    return out


async def write(session: AsyncSession, batches: Sequence[Batch]) -> list[Outcome]:
    """Write the bodies of many requests with a fixed number of statements; a body naming an
    unknown lead gets its errors back and writes nothing."""
    if not batches:
        return []
    now = max(b.received_at for b in batches)
    leads = await _leads(session, {c.user_id for b in batches for c in b.calls if c.user_id})
    outcomes: dict[int, Outcome] = {}
    good: list[int] = []
    for i, b in enumerate(batches):
        unknown = [
            ([*loc, "userId"], "no lead with this id or address")
            for c, loc in zip(b.calls, b.locs, strict=True)
            if c.user_id and c.user_id not in leads
        ]
        if unknown:
            outcomes[i] = Outcome(errors=unknown)
        else:
            good.append(i)
    keys = [c.receipt for i in good for c in batches[i].calls if c.receipt]
    new = await first_seen(session, TRACK_RECEIPTS, keys, now) if keys else set()
    joins: list[tuple[str, int]] = []
    calls: list[Call] = []
    for i in good:
        accepted = duplicates = 0
        for c in batches[i].calls:
            if c.receipt is not None:
                if c.receipt not in new:
                    duplicates += 1
                    continue
                new.discard(c.receipt)  # the first call with a messageId takes it
            accepted += 1
            lead_id = leads.get(c.user_id) if c.user_id else None
            if lead_id is not None and c.anonymous_id:
                joins.append((c.anonymous_id, lead_id))
            if c.event_type is not None:
                calls.append(Call(c.event_type, c.at, c.data, lead_id, c.anonymous_id))
        outcomes[i] = Outcome(accepted, duplicates)
    # Joins first: a page view sent with the identify that makes its visitor known is the lead's.
    await join_many(session, joins, now, "identify")
    await record(session, calls, now)
    return [outcomes[i] for i in range(len(batches))]


def errors_body(errors: Sequence[tuple[Loc, str]]) -> list[Mapping[str, Any]]:
    return [{"loc": loc, "msg": msg} for loc, msg in errors]
