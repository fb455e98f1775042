"""Visitors: unknown visitors' calls wait, a join moves them into the lead's events exactly
once, the retention forgets the unknown; a tracked click joins only a person's browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from nurture.db import session_scope
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.receipts import first_seen
from nurture.visitors.models import Visitor, VisitorEvent
from nurture.visitors.service import (
    TRACK_RECEIPTS,
    Call,
    click_visit,
    expire,
    join,
    page_data,
    record,
    track_type,
)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


async def leads(url: str, *emails: str) -> list[int]:
    async with session_scope(url) as session:
        rows = [Lead(email=e) for e in emails]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


def page(anonymous_id: str | None, url: str, at: datetime, lead_id: int | None = None) -> Call:
    return Call(EventType.PAGE, at, page_data(url, None, "T", None), lead_id, anonymous_id)


async def events(url: str, lead_id: int) -> list[tuple[str, dict]]:
    async with session_scope(url) as session:
        rows = await session.execute(
            select(Event.type, Event.data).where(Event.lead_id == lead_id).order_by(Event.id)
        )
        return [(r.type, r.data) for r in rows.all()]


async def waiting(url: str) -> int:
    async with session_scope(url) as session:
        return int(await session.scalar(select(func.count()).select_from(VisitorEvent)) or 0)


def test_track_names_become_custom_events() -> None:
    assert track_type("Demo Booked") == "custom.demo_booked"
    assert track_type("demoBooked") == "custom.demo_booked"
    assert track_type("pricing-viewed!") == "custom.pricing_viewed"
    for bad in ("!!!", "x" * 40, "1st visit"):
        try:
            track_type(bad)
        except ValueError as exc:
            assert "custom" in str(exc)
        else:
            raise AssertionError(bad)


async def test_join_moves_the_earlier_page_views_exactly_once(db_url) -> None:
    ada, bob = await leads(db_url, "ada@example.com", "bob@example.com")
    async with session_scope(db_url) as session:
        await record(
            session,
            [
                page("aid-1", "https://site.example/preise", NOW - timedelta(hours=2)),
                page("aid-1", "https://site.example/demo", NOW - timedelta(hours=1)),
                page("aid-2", "https://site.example/blog", NOW - timedelta(hours=1)),
            ],
            NOW,
        )
    assert await events(db_url, ada) == [] and await waiting(db_url) == 3
    async with session_scope(db_url) as session:
        assert await join(session, ["aid-1", "aid-2"], ada, NOW, "form") == 2
    async with session_scope(db_url) as session:  # twice, and to another lead: nothing
        assert await join(session, "aid-1", ada, NOW) == 0
        assert await join(session, "aid-1", bob, NOW) == 0
    got = await events(db_url, ada)
    pages = [d["url"] for t, d in got if t == EventType.PAGE]
    assert sorted(pages) == [
        "https://site.example/blog",
        "https://site.example/demo",
        "https://site.example/preise",
    ]
    identified = sorted((d["anonymous_id"], d["events"]) for t, d in got if t == "identified")
    assert identified == [("aid-1", 2), ("aid-2", 1)]
    assert await events(db_url, bob) == []
    assert await waiting(db_url) == 0
    # Later calls of a joined browser are the lead's at once.
    async with session_scope(db_url) as session:
        await record(session, [page("aid-1", "https://site.example/kontakt", NOW)], NOW)
    assert (await events(db_url, ada))[-1][1]["url"] == "https://site.example/kontakt"
    assert await waiting(db_url) == 0


async def test_a_new_id_joined_before_any_call_takes_the_lead(db_url) -> None:
    [ada] = await leads(db_url, "ada@example.com")
    async with session_scope(db_url) as session:
        assert await join(session, "fresh", ada, NOW, "click") == 1
        await record(session, [page("fresh", "https://site.example/", NOW)], NOW)
    assert [t for t, _ in await events(db_url, ada)] == [EventType.IDENTIFIED, EventType.PAGE]


async def test_unknown_visitors_are_forgotten_after_the_retention(db_url) -> None:
    [ada] = await leads(db_url, "ada@example.com")
    async with session_scope(db_url) as session:
        await record(
            session,
            [
                page("old", "https://site.example/a", NOW - timedelta(days=31)),
                page("recent", "https://site.example/b", NOW - timedelta(days=29)),
                page(None, "https://site.example/c", NOW - timedelta(days=90), lead_id=ada),
            ],
            NOW - timedelta(days=31),
        )
        await first_seen(session, TRACK_RECEIPTS, ["old-call"], NOW - timedelta(days=31))
        await first_seen(session, TRACK_RECEIPTS, ["recent-call"], NOW - timedelta(days=29))
    async with session_scope(db_url) as session:
        assert await expire(session, 30, NOW) == 1
        # the old messageId's receipt went with it; the recent one still holds
        assert await first_seen(session, TRACK_RECEIPTS, ["old-call", "recent-call"], NOW) == {
            "old-call"
        }
    async with session_scope(db_url) as session:
        left = (await session.scalars(select(Visitor.anonymous_id))).all()
    assert left == ["recent"]  # the "old" visitor had nothing left and was not seen since
    assert await waiting(db_url) == 1
    assert len(await events(db_url, ada)) == 1  # a lead's events are never expired


def test_a_machines_click_joins_nothing_and_sets_no_cookie() -> None:
    assert click_visit("abc", 1, human=False, at=NOW) is None
    kept = click_visit("abc", 1, human=True, at=NOW)
    assert kept is not None and (kept.anonymous_id, kept.new) == ("abc", False)
    fresh = click_visit("bad value;", 1, human=True, at=NOW)
    assert fresh is not None and fresh.new and len(fresh.anonymous_id) == 32


async def test_the_scoring_pass_expires_unknown_visitors(settings) -> None:
    url = settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        old = NOW - timedelta(days=45)
        await record(session, [page("old", "https://site.example/a", old)], old)
    report = await run_handoff_pass(build_context(settings), NOW)
    assert report.visitor_events_expired == 1
    assert await waiting(url) == 0
