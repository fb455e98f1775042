"""Database migrations (Alembic), run programmatically: ``nurture db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from nurture.db import get_engine

FOLDER = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    return config


def _run(connection: Any, fn: Any, *args: Any) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    fn(config, *args)


async def upgrade(db_url: str, revision: str = "head") -> None:
    async with get_engine(db_url).begin() as conn:
        await conn.run_sync(_run, command.upgrade, revision)


async def revision(db_url: str, message: str) -> None:
    """Autogenerate a migration from the models (developers only)."""
    async with get_engine(db_url).begin() as conn:
        await conn.run_sync(_run, command.revision, message, True)


async def is_current(db_url: str) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with get_engine(db_url).connect() as conn:
        current = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    return current == head
