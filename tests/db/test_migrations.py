"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from nurture.db import get_engine
from nurture.migrate import is_current
from nurture.tables import metadata


async def test_migrated_database_matches_the_models(db_url):
    assert await is_current(db_url)
    async with get_engine(db_url).connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), metadata)
        )
    assert diff == []
