"""Receipts: keys claimed once per source in the caller's transaction; pruned per source by
age, after which a key is new again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.db import session_scope
from nurture.receipts import Receipt, first_seen, prune

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def keys(url: str) -> set[tuple[str, str]]:
    async with session_scope(url) as session:
        return {(s, k) for s, k in await session.execute(select(Receipt.source, Receipt.key))}


async def test_prune_forgets_one_sources_old_keys(settings):
    url = settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        assert await first_seen(session, "a", ["old", "edge"], T0) == {"old", "edge"}
        assert await first_seen(session, "b", ["old"], T0) == {"old"}
        await first_seen(session, "a", ["young"], T0 + timedelta(minutes=30))
    async with session_scope(url) as session:
        # Claimed before the cut: gone; at or after it: kept; another source: untouched.
        assert await prune(session, "a", T0 + timedelta(seconds=1)) == 2
        assert await prune(session, "a", T0 + timedelta(seconds=1)) == 0
    assert await keys(url) == {("b", "old"), ("a", "young")}
    async with session_scope(url) as session:
        # A key forgotten is new again; one kept is not.
        assert await first_seen(session, "a", ["old", "young"], T0 + timedelta(hours=1)) == {"old"}


async def test_a_prune_rolls_back_with_its_transaction(settings):
    url = settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        await first_seen(session, "a", ["k"], T0)
    try:
        async with session_scope(url) as session:
            assert await prune(session, "a", T0 + timedelta(days=1)) == 1
            raise RuntimeError("the caller fails")
    except RuntimeError:
        pass
    assert await keys(url) == {("a", "k")}
