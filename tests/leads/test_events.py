"""The one event writer."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.events import EventType, record_event
from nurture.leads.models import Event
from nurture.leads.service import upsert_leads


async def test_text_from_outside_that_a_database_cannot_store_is_dropped(db_url):
    """NUL and lone surrogates (an undecodable header, a webhook's detail): PostgreSQL refuses
    them in JSONB, SQLite takes them; the event writer drops them, so both store the same."""
    at = datetime(2026, 12, 1, tzinfo=UTC)
    async with session_scope(db_url) as session:
        [(lead, _)] = await upsert_leads(session, [("nul@firma.de", {}, at, None)])
        await record_event(
            session, lead.id, EventType.REPLIED, at, subject="Re:\x00 hi", words=["a\udcffb"]
        )
    async with session_scope(db_url) as session:
        data = await session.scalar(select(Event.data).where(Event.type == EventType.REPLIED))
    assert data == {"subject": "Re: hi", "words": ["ab"]}
