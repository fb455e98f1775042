"""Claiming: at most the batch size, disjoint between dispatchers, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nurture.db import session_scope
from nurture.ledger.claims import claim_due, mark_sending
from tests.factories import enrolled_leads, touch_states

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_claim_takes_at_most_the_batch_size(settings):
    await enrolled_leads(settings, 45, MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = await claim_due(session, "a", MONDAY, 20, 300)
    assert len(ids) == 20
    assert await touch_states(settings) == {"claimed": 20, "scheduled": 25}


async def test_second_dispatcher_skips_claimed_touches(settings):
    await enrolled_leads(settings, 30, MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        first = await claim_due(session, "a", MONDAY, 20, 300)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        second = await claim_due(session, "b", MONDAY, 20, 300)
    assert len(first) == 20 and len(second) == 10 and not set(first) & set(second)


async def test_expired_claim_is_taken_over_and_the_old_holder_cannot_send(settings):
    await enrolled_leads(settings, 5, MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        old = await claim_due(session, "dead", MONDAY, 10, 60)
    later = MONDAY + timedelta(seconds=61)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        new = await claim_due(session, "alive", later, 10, 60)
    assert new == old
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await mark_sending(session, old, "dead", later, 60) == set()
        assert await mark_sending(session, new, "alive", later, 60) == set(new)
