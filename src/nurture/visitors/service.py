"""Record what website visitors do, join anonymous visitors to leads, forget the unknown.

A call of a known visitor (a lead's id or address, or an anonymous id already joined to a
lead) goes straight into the lead's events. A call of an unknown visitor waits in
``visitor_events``; when the visitor becomes a lead (a form post with its anonymous id, an
identify call, a person's tracked click), ``join`` moves those events into the lead's, once:
the visitor row takes the lead (``lead_id``, never changed after), its events are copied with
one ``INSERT ... SELECT`` and deleted, and an ``identified`` event says so. A second join of
the same id finds it joined and does nothing; an id joined to one lead is not moved to another
(the first lead keeps the browser: a shared computer or a forwarded email must not hand one
person's browsing to someone else). ``expire`` deletes what unknown visitors did after the
retention (config/signals.yaml, website.anonymous_retention_days).

Functions take a session and never commit.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, delete, exists, func, insert, literal, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from nurture.db import (
    JSONType,
    UTCDateTime,
    chunked,
    insert_ignoring_conflicts,
    insert_values,
    is_postgres,
    update_by_id,
)
from nurture.leads.events import (
    CUSTOM_PREFIX,
    EventType,
    check_event_name,
    event_row,
    insert_events_from,
    record_events,
)
from nurture.ledger.models import Touch
from nurture.receipts import Receipt
from nurture.visitors.models import Visitor, VisitorEvent

# The first-party cookie t.js keeps and a tracked click sets: a random id, nothing else.
COOKIE = "nurture_aid"
COOKIE_MAX_AGE = 390 * 86400  # 13 months, the longest the CNIL and most DPAs accept
# Segment's anonymousId is any string; ours are hex, others' UUIDs: a conservative alphabet
# keeps cookie values and log lines clean.
ANONYMOUS_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# receipts' source for POST /api/track's messageIds: kept as long as unknown visitors' events.
TRACK_RECEIPTS = "track"


def new_anonymous_id() -> str:
    return secrets.token_hex(16)


def valid_anonymous_id(value: object) -> str | None:
    return value if isinstance(value, str) and ANONYMOUS_ID.match(value) else None


def track_type(name: str) -> str:
    """The event type of a track call: "Demo Booked" -> custom.demo_booked (ValueError with
    the reason if it cannot be one)."""
    snake = re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    return check_event_name(CUSTOM_PREFIX + snake.strip("_"))


@dataclass(frozen=True)
class Call:
    """One page view or track call, checked: its event type (``EventType.PAGE`` or
    ``custom.<name>``) and data, and whose it is (a lead's id, else an anonymous id)."""

    type: str
    at: datetime
    data: dict[str, Any]
    lead_id: int | None = None
    anonymous_id: str | None = None


def page_data(
    url: str | None, path: str | None, title: str | None, referrer: str | None
) -> dict[str, Any]:
    return {"url": url, "path": path, "title": title, "referrer": referrer}


async def _visitors(
    session: AsyncSession, anonymous_ids: Iterable[str], now: datetime
) -> dict[str, tuple[int, int | None]]:
    """Each anonymous id's (visitor id, lead id), the visitor created if new: one upsert that
    also waits for (PostgreSQL: row lock) and then sees a join running at the same time."""
    ids = sorted(set(anonymous_ids))  # sorted: two writers lock rows in the same order
    out: dict[str, tuple[int, int | None]] = {}
    for part in chunked(ids, 2000):
        rows = await insert_values(
            session,
            Visitor.__table__,
            ("anonymous_id", "seen_at"),
            [{"anonymous_id": a, "seen_at": now} for a in part],
            "ON CONFLICT (anonymous_id) DO UPDATE SET seen_at = excluded.seen_at",
            ("id", "anonymous_id", "lead_id"),
        )
        out.update({r.anonymous_id: (r.id, r.lead_id) for r in rows})
    return out


async def record(session: AsyncSession, calls: Sequence[Call], now: datetime) -> int:
    """Write page and track calls: a known visitor's into the lead's events, an unknown
    one's into visitor_events. Returns how many were written."""
    anonymous = [c for c in calls if c.lead_id is None]
    visitors = await _visitors(session, (c.anonymous_id or "" for c in anonymous), now)
    lead_rows, waiting = [], []
    for c in calls:
        lead_id = c.lead_id
        visitor_id = None
        if lead_id is None:
            visitor_id, lead_id = visitors[c.anonymous_id or ""]
        if lead_id is not None:
            lead_rows.append(event_row(lead_id, c.type, c.at, **c.data))
        else:
            waiting.append(
                {"visitor_id": visitor_id, "type": c.type, "occurred_at": c.at, "data": c.data}
            )
    await record_events(session, lead_rows)
    if waiting:
        await session.execute(insert(VisitorEvent.__table__), waiting)
    return len(lead_rows) + len(waiting)


async def join(
    session: AsyncSession,
    anonymous_ids: str | Iterable[str],
    lead_id: int,
    now: datetime,
    via: str = "identify",
) -> int:
    """Join anonymous visitors to a lead: see ``join_many``."""
    ids = [anonymous_ids] if isinstance(anonymous_ids, str) else list(anonymous_ids)
    return await join_many(session, [(a, lead_id) for a in ids], now, via)


async def join_many(
    session: AsyncSession, pairs: Iterable[tuple[str, int]], now: datetime, via: str
) -> int:
    """Join each (anonymous id, lead id): the visitors not yet joined take the lead and their
    waiting events move into its events, with an ``identified`` event each (data:
    anonymous_id, via, events moved). An id already joined (to this lead or another) is left
    alone. A fixed number of statements, whatever the number of pairs. Returns how many
    visitors were joined."""
    wanted: dict[str, int] = {}
    for anonymous_id, lead in pairs:
        if valid_anonymous_id(anonymous_id):
            wanted.setdefault(anonymous_id, lead)  # the first lead named in a batch wins
    if not wanted:
        return 0
    ids = sorted(wanted)
    query = select(Visitor.id, Visitor.anonymous_id, Visitor.lead_id).where(
        Visitor.anonymous_id.in_(ids)
    )
    if is_postgres(session):
        # A join of the same id at the same time waits here, then sees it joined.
        # Locked in the order the upserts take them: by anonymous id, bytewise as Python sorts.
        query = query.order_by(Visitor.anonymous_id.collate("C")).with_for_update()
    existing = {r.anonymous_id: r for r in (await session.execute(query)).all()}
    joined: dict[int, tuple[str, int]] = {}  # visitor id -> (anonymous id, lead id)
    for a, row in existing.items():
        if row.lead_id is None:
            joined[row.id] = (a, wanted[a])
    await update_by_id(
        session,
        Visitor,
        [{"id": v, "lead_id": lead, "joined_at": now} for v, (_, lead) in joined.items()],
    )
    new = [a for a in ids if a not in existing]
    # A visitor seen for the first time (a new cookie from a tracked click, a form post from
    # a page that sent nothing yet) is joined as it is created: its later calls are the lead's.
    created = await insert_values(
        session,
        Visitor.__table__,
        ("anonymous_id", "lead_id", "seen_at", "joined_at"),
        [{"anonymous_id": a, "lead_id": wanted[a], "seen_at": now, "joined_at": now} for a in new],
        "ON CONFLICT (anonymous_id) DO NOTHING",
        ("id", "anonymous_id", "lead_id"),
    )
    moved: dict[int, int] = {}
    if joined:
        counts = await session.execute(
            select(VisitorEvent.visitor_id, func.count())
            .where(VisitorEvent.visitor_id.in_(list(joined)))
            .group_by(VisitorEvent.visitor_id)
        )
        moved = {visitor_id: n for visitor_id, n in counts.all()}
    if moved:
        waiting = VisitorEvent.visitor_id.in_(list(moved))
        await session.execute(
            insert_events_from(
                select(
                    Visitor.lead_id,
                    VisitorEvent.type,
                    VisitorEvent.occurred_at,
                    null(),
                    null(),
                    null(),
                    null(),
                    VisitorEvent.data,
                )
                .join(Visitor, Visitor.id == VisitorEvent.visitor_id)
                .where(waiting)
                .order_by(VisitorEvent.id)
            )
        )
        await session.execute(
            delete(VisitorEvent).where(waiting).execution_options(synchronize_session=False)
        )
    events = [
        event_row(lead, EventType.IDENTIFIED, now, anonymous_id=a, via=via, events=moved.get(v, 0))
        for v, (a, lead) in joined.items()
    ] + [
        event_row(r.lead_id, EventType.IDENTIFIED, now, anonymous_id=r.anonymous_id, via=via)
        for r in created
    ]
    await record_events(session, events)
    return len(events)


async def expire(session: AsyncSession, retention_days: float, now: datetime) -> int:
    """Delete what unknown visitors did more than ``retention_days`` ago, the visitors left
    with nothing (joined visitors stay: they tie the cookie to its lead), and the tracking
    calls' messageId receipts as old (a client retries within hours, not weeks). Returns how
    many events were deleted."""
    cutoff = now - timedelta(days=retention_days)
    result = await session.execute(
        delete(VisitorEvent)
        .where(VisitorEvent.occurred_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Visitor)
        .where(
            Visitor.lead_id.is_(None),
            Visitor.seen_at < cutoff,
            ~exists().where(VisitorEvent.visitor_id == Visitor.id),
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Receipt)
        .where(Receipt.source == TRACK_RECEIPTS, Receipt.received_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ClickVisit:
    """A person's tracked click: the browser (its cookie's id, or a new one to set) joins
    the lead the email went to."""

    touch_id: int
    anonymous_id: str
    at: datetime
    new: bool


def click_visit(cookie: str | None, touch_id: int, human: bool, at: datetime) -> ClickVisit | None:
    """What a click means for the browser: None for a machine's (a scanner must neither join
    nor get a cookie); else the cookie's id, or a new one that the redirect sets."""
    if not human:
        return None
    existing = valid_anonymous_id(cookie)
    return ClickVisit(touch_id, existing or new_anonymous_id(), at, existing is None)


def set_cookie(response: Response, anonymous_id: str, domain: str = "") -> None:
    """The ``nurture_aid`` cookie as t.js keeps it (Lax: sent on the top-level navigation
    from the email; readable by t.js, which holds nothing secret)."""
    response.set_cookie(
        COOKIE,
        anonymous_id,
        max_age=COOKIE_MAX_AGE,
        path="/",
        domain=domain or None,
        samesite="lax",
        httponly=False,
    )


_sends = Touch.__table__
_IDENTIFIED_BY_CLICK = insert_events_from(
    select(
        _sends.c.lead_id,
        literal(EventType.IDENTIFIED.value, String()),
        bindparam("at", type_=UTCDateTime()),
        null(),
        null(),
        null(),
        null(),
        bindparam("data", type_=JSONType),
    ).where(_sends.c.id == bindparam("touch_id"))
)


async def join_clicks(session: AsyncSession, visits: Sequence[ClickVisit]) -> list[None]:
    """Join the browsers of many clicks to the leads of their sends (a group commit's batch).
    A browser that had no cookie gets a new visitor bound to the lead in one statement for
    the batch (nothing to look up: the id was just made); one with a cookie joins as any
    visitor does (``join_many``)."""
    if not visits:
        return []
    new = [v for v in visits if v.new]
    if new:
        bound = select(
            bindparam("anonymous_id", type_=String()),
            _sends.c.lead_id,
            bindparam("at", type_=UTCDateTime()),
            bindparam("at", type_=UTCDateTime()),
        ).where(_sends.c.id == bindparam("touch_id"))
        rows = [
            {
                "anonymous_id": v.anonymous_id,
                "touch_id": v.touch_id,
                "at": v.at,
                "data": {"anonymous_id": v.anonymous_id, "via": "click"},
            }
            for v in new
        ]
        await session.execute(
            insert_ignoring_conflicts(session, Visitor.__table__, "anonymous_id").from_select(
                ["anonymous_id", "lead_id", "seen_at", "joined_at"], bound
            ),
            rows,
        )
        # its `identified` event, as join_many records for a visitor it creates
        await session.execute(_IDENTIFIED_BY_CLICK, rows)
    known = [v for v in visits if not v.new]
    if known:
        leads = dict(
            (
                await session.execute(
                    select(Touch.id, Touch.lead_id).where(
                        Touch.id.in_(sorted({v.touch_id for v in known}))
                    )
                )
            ).all()
        )
        pairs = [(v.anonymous_id, leads[v.touch_id]) for v in known if v.touch_id in leads]
        await join_many(session, pairs, max(v.at for v in known), "click")
    return [None] * len(visits)
