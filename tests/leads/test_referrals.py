"""record_referrals: one `referred` event on a known referrer, never on an unknown one or
the new lead itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.models import Event
from nurture.leads.referrals import Referral, record_referrals
from nurture.leads.service import upsert_leads

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


async def test_only_a_known_referrer_other_than_the_lead_gets_the_event(settings):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await upsert_leads(session, [(f"{n}@firma.de", {}, NOW, None) for n in "ab"])
        (a, _), (b, _) = rows
        recorded = await record_referrals(
            session,
            [
                Referral(a.public_id, b.id, b.public_id, NOW),
                Referral("f" * 32, b.id, b.public_id, NOW),  # nobody's id
                Referral(b.public_id, b.id, b.public_id, NOW),  # itself
            ],
        )
        events = (await session.execute(select(Event.lead_id, Event.type, Event.data))).all()
    assert recorded == 1
    assert events == [(a.id, "referred", {"lead": b.public_id})]
