"""Claiming: at most the batch size, disjoint between dispatchers, leases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from nurture.db import session_scope
from nurture.ledger.claims import claim_due, defer, mark_sending
from nurture.ledger.models import Enrollment, Touch, TouchState
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


async def test_defer_gives_each_touch_its_own_due_time_and_keeps_a_retry_a_retry(settings):
    await enrolled_leads(settings, 3, MONDAY)
    url = settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        a, b, c = await claim_due(session, "me", MONDAY, 10, 300)
        await session.execute(update(Touch).where(Touch.id == b).values(attempts=1))
    later = [MONDAY + timedelta(days=1), MONDAY + timedelta(days=2), MONDAY + timedelta(days=3)]
    async with session_scope(url) as session:
        # c is not ours to give back: another dispatcher's claim stays as it is.
        await defer(session, [(a, later[0]), (b, later[1])], "me", MONDAY)
        await defer(session, [(c, later[2])], "someone-else", MONDAY)
    async with session_scope(url) as session:
        rows = (await session.execute(select(Touch).order_by(Touch.id))).scalars().all()
        got = [(t.state, t.due_at, t.claimed_by) for t in rows]
    assert got == [
        (TouchState.SCHEDULED, later[0], None),
        (TouchState.RETRYING, later[1], None),
        (TouchState.CLAIMED, MONDAY, "me"),
    ]
    async with session_scope(url) as session:
        due = dict((await session.execute(select(Enrollment.id, Enrollment.next_due_at))).all())
        touches = (await session.execute(select(Touch.enrollment_id).order_by(Touch.id))).all()
    # the enrollments whose touch was deferred show its new time; the other's is as it was
    assert [due[e] for (e,) in touches] == [later[0], later[1], MONDAY]
