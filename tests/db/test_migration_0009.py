"""Migration 0009 (re-entry) keeps every enrollment and every send: on SQLite its table
rebuild must not cascade into sends."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import func, select

from nurture import migrate
from nurture.db import dispose_engines, get_engine, session_scope
from nurture.ledger.models import Enrollment, Touch
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_down_and_up_again_keeps_enrollments_and_sends(settings, db_url):
    await enrolled_leads(settings, 3, MONDAY)
    async with get_engine(db_url).begin() as conn:
        await conn.run_sync(migrate._run, command.downgrade, "0008")
    await dispose_engines()
    await migrate.upgrade(db_url)
    await dispose_engines()
    assert await migrate.is_current(db_url)
    async with session_scope(db_url) as session:
        assert await session.scalar(select(func.count()).select_from(Touch)) == 3
        entries = (await session.scalars(select(Enrollment.entry))).all()
    assert entries == [1, 1, 1]
