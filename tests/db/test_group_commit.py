"""GroupCommit: concurrent items share a transaction; a bad item fails alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from nurture.db import GroupCommit, session_scope, utcnow
from nurture.leads.events import record_events
from nurture.leads.models import Event
from nurture.leads.service import upsert_leads


async def _write(session, rows):
    await record_events(session, rows)
    return [row["type"] for row in rows]


async def test_items_share_transactions_and_a_bad_one_fails_alone(db_url):
    now = utcnow()
    async with session_scope(db_url) as session:
        [(lead, _)] = await upsert_leads(session, [("a@example.com", {}, now, None)])
    group = GroupCommit(db_url, _write)
    rows = [{"lead_id": lead.id, "type": f"t{i}", "occurred_at": now} for i in range(20)]
    rows[7] = {**rows[7], "lead_id": 999_999}  # no such lead: the foreign key refuses it
    results = await asyncio.gather(*(group.submit(r) for r in rows), return_exceptions=True)
    assert isinstance(results[7], IntegrityError)
    assert [r for i, r in enumerate(results) if i != 7] == [f"t{i}" for i in range(20) if i != 7]
    async with session_scope(db_url) as session:
        types = set(await session.scalars(select(Event.type)))
    assert types == {f"t{i}" for i in range(20) if i != 7}
    # all 20 queued before the writer ran: one batch, rolled back whole, then each alone
    assert group.transactions == 19


async def test_a_lone_item_is_written_at_once(db_url):
    now = utcnow()
    async with session_scope(db_url) as session:
        [(lead, _)] = await upsert_leads(session, [("b@example.com", {}, now, None)])
    group = GroupCommit(db_url, _write)
    row = {"lead_id": lead.id, "type": "one", "occurred_at": now}
    assert await asyncio.wait_for(group.submit(row), 10) == "one"
    async with session_scope(db_url) as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 1
    with pytest.raises(IntegrityError):
        await group.submit({**row, "lead_id": 999_999})
    assert group.transactions == 1
