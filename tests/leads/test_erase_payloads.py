"""erase_payloads: a forgotten lead's events keep their rows and only the vocabulary of their
data; other leads' events are untouched."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.events import (
    EventType,
    anonymous_data,
    erase_payloads,
    event_row,
    record_events,
)
from nurture.leads.models import Event
from nurture.leads.service import upsert_leads

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_only_vocabulary_keys_with_words_or_numbers_stay():
    data = {
        "stage": "customer",
        "value": 1200.5,
        "via": "api",
        "pending": True,
        "reason": "550 5.1.1 <max@firma.de> unknown",  # a kept key, a value that is no word
        "form": "Leitfaden Max",
        "subject": "Re: Hallo",
        "url": "https://x.example/?email=max@firma.de",
        "first_name": "Max",
    }
    assert anonymous_data(data) == {
        "stage": "customer",
        "value": 1200.5,
        "via": "api",
        "pending": True,
    }
    assert anonymous_data(None) == {}


async def test_erase_changes_only_these_leads_payloads(db_url):
    async with session_scope(db_url) as session:
        rows = await upsert_leads(
            session, [(e, {}, NOW, None) for e in ("a@firma.de", "b@firma.de")]
        )
        a, b = (lead.id for lead, _ in rows)
        await record_events(
            session,
            [
                event_row(a, EventType.REPLIED, NOW, subject="Hallo", snippet="Max hier"),
                event_row(a, EventType.STAGE_CHANGED, NOW, stage="sql", previous="mql"),
                event_row(b, EventType.REPLIED, NOW, subject="Hallo"),
            ],
        )
        assert await erase_payloads(session, [a]) == 1
        assert await erase_payloads(session, [a]) == 0
    async with session_scope(db_url) as session:
        found = (
            await session.execute(select(Event.lead_id, Event.type, Event.data).order_by(Event.id))
        ).all()
    assert [tuple(r) for r in found] == [
        (a, EventType.REPLIED, {}),
        (a, EventType.STAGE_CHANGED, {"stage": "sql", "previous": "mql"}),
        (b, EventType.REPLIED, {"subject": "Hallo"}),
    ]


def test_a_referral_keeps_the_referred_lead_s_public_id():
    """The report counts a referrer's referrals by the referred lead's public id: forgetting
    the referrer must not change that total."""
    referred = "0f" * 16  # a public id: uuid4 hex
    assert anonymous_data({"lead": referred}) == {"lead": referred}
    assert anonymous_data({"lead": "Max Muster <max@firma.de>"}) == {}
