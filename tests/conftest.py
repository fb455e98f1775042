"""Fixtures: every DB test runs on SQLite and on PostgreSQL; mail goes to a real SMTP server."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from nurture import migrate
from nurture.db import dispose_engines, get_engine
from nurture.settings import Settings
from nurture.tables import metadata
from tests.smtp_server import SmtpServer

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
# The suite's own project (config/ and templates/, tests/fixtures/project/README.md): a marketer
# editing the shipped example at ROOT breaks only tests/test_shipped_content.py.
CONTENT = Path(__file__).resolve().parent / "fixtures" / "project"
SHIPPED = ROOT
PG_BASE = os.environ.get(
    "NURTURE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("NURTURE_REQUIRE_POSTGRES") == "1"


async def _pg_create(name: str) -> str:
    import asyncpg

    base = PG_BASE.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(base, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = PG_BASE.rsplit("/", 1)[0] + f"/{name}"
    await migrate.upgrade(url)
    await dispose_engines()
    return url


async def _pg_drop(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_BASE.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """A migrated PostgreSQL database for this test session, or None if none is reachable."""
    name = f"nurture_test_{os.getpid()}"
    try:
        url = asyncio.run(_pg_create(name))
    except (TimeoutError, OSError) as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (NURTURE_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        yield None
        return
    yield url
    asyncio.run(_pg_drop(name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    async def build() -> None:
        await migrate.upgrade(f"sqlite+aiosqlite:///{path}")
        await dispose_engines()

    asyncio.run(build())
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_url: str | None
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "nurture.db"
        shutil.copy(sqlite_template, target)
        url = f"sqlite+aiosqlite:///{target}"
    else:
        if pg_url is None:
            pytest.skip("PostgreSQL not reachable (CI sets NURTURE_REQUIRE_POSTGRES=1)")
        url = pg_url
        async with get_engine(url).begin() as conn:
            tables = ", ".join(t.name for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield url
    await dispose_engines()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        mail_url=f"memory://{uuid.uuid4().hex}",
        base_url="http://nurture.test",
        secret_key="test-secret-key",
        config_dir=CONTENT / "config",
        templates_dir=CONTENT / "templates",
        var_dir=tmp_path / "var",
        dispatch_batch_size=50,
        dispatch_chunk_size=10,
    )


API_KEY = "s3cret-key"  # the key the `api` fixture's app takes: "Bearer s3cret-key"


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The web app in-process with NURTURE_API_KEY set (the CRM and rights routes)."""
    from nurture.app import create_app

    app = create_app(settings.model_copy(update={"api_key": SecretStr(API_KEY)}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as client:
        yield client


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The web app in-process (ASGI), at the settings' base URL."""
    from nurture.app import create_app

    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as client:
        yield client
