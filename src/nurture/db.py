"""The one place that creates engines and sessions.

Services take an ``AsyncSession`` and never commit; whoever calls them (a flow task, a CLI
command, an HTTP handler) opens ``session_scope`` and owns the short transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    MetaData,
    Row,
    Table,
    TextClause,
    bindparam,
    event,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")
R = TypeVar("R")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC)


_engines: dict[str, AsyncEngine] = {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what runs: one writer
    # at a time, waiting (busy_timeout) instead of failing when two dispatchers tick at once.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def get_engine(url: str) -> AsyncEngine:
    """One engine per URL per process (engines own the connection pool)."""
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = create_engine(url)
    return engine


async def dispose_engines() -> None:
    _makers.clear()
    _sqlite_locks.clear()
    while _engines:
        _, engine = _engines.popitem()
        await engine.dispose()


_makers: dict[str, async_sessionmaker[AsyncSession]] = {}
# Per event loop (a Lock belongs to one), held weakly: keyed by id(loop), a new loop could
# reuse a closed one's id and get a Lock bound to that dead loop.
_sqlite_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_lock(url: str) -> asyncio.Lock:
    # SQLite has one writer. Left to itself, a second BEGIN IMMEDIATE sleep-polls (up to
    # 100 ms a try); queueing this process's transactions on a lock hands over at once.
    locks = _sqlite_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(url)
    if lock is None:
        lock = locks[url] = asyncio.Lock()
    return lock


@asynccontextmanager
async def session_scope(url: str) -> AsyncIterator[AsyncSession]:
    """A short transaction: commits on success, rolls back on any exception."""
    maker = _makers.get(url)
    if maker is None:
        maker = _makers[url] = async_sessionmaker(get_engine(url), expire_on_commit=False)
    if url.startswith("sqlite"):
        async with _sqlite_lock(url), maker() as session, session.begin():
            yield session
        return
    async with maker() as session, session.begin():
        yield session


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# Ids per ``IN (...)`` list or rows per statement: well inside every backend's limit on bound
# parameters (SQLite 32766, asyncpg 32767).
PARAM_CHUNK = 5000


def chunked(items: Sequence[T], size: int = PARAM_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@lru_cache(maxsize=256)
def _values_insert(
    table: Table, columns: tuple[str, ...], rows: int, tail: str, returning: tuple[str, ...]
) -> TextClause:
    values = ", ".join("(" + ", ".join(f":{c}_{i}" for c in columns) + ")" for i in range(rows))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {values} {tail}"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    typed = [bindparam(f"{c}_{i}", type_=table.c[c].type) for i in range(rows) for c in columns]
    return text(sql).bindparams(*typed).columns(*(table.c[c] for c in returning))


async def insert_values(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    tail: str = "",
    returning: Sequence[str] = (),
) -> list[Row[Any]]:
    """One multi-row ``INSERT ... VALUES (row 0), (row 1), ... {tail} RETURNING ...``, the
    statement cached per row count as text. Why not SQLAlchemy's constructs: it cannot cache
    the compiled form of a dialect's ON CONFLICT, compiling that cost more than running it, and
    its RETURNING in parameter order goes row by row on SQLite. RETURNING order is not
    promised: match the rows by a key."""
    if not rows:
        return []
    stmt = _values_insert(table, tuple(columns), len(rows), tail, tuple(returning))
    params = {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in columns}
    result = await session.execute(stmt, params)
    return list(result.all()) if returning else []


def insert_ignoring_conflicts(session: AsyncSession, table: Any, *columns: str) -> Any:
    """``INSERT ... ON CONFLICT (columns) DO NOTHING`` in the session's dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if is_postgres(session) else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(columns))


async def update_by_id(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], *where: ColumnElement[bool]
) -> None:
    """Update many rows by primary key ``id`` with one executemany per shape of row (Core,
    not the ORM's bulk machinery: a dispatch batch updates thousands of rows); ``where``:
    conditions a row must also meet to be updated."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    t = table.__table__
    for keys, group in shapes.items():
        values = {k: bindparam(f"p_{k}") for k in keys if k != "id"}
        stmt = update(t).where(t.c.id == bindparam("p_id"), *where).values(values)
        await session.execute(stmt, [{f"p_{k}": v for k, v in r.items()} for r in group])


class GroupCommit(Generic[T, R]):
    """Group commit: items that concurrent callers submit while a transaction is being written
    go together into the next one, written by ``write(session, items)`` (which returns a result
    per item). One transaction then carries many form posts: on SQLite one writer at a time,
    and on both databases the per-statement and per-commit costs are shared.

    Nothing waits for a batch to fill: a lone item is written at once. If a batch fails, its
    transaction rolls back whole and each item is written alone, so one bad item fails only
    its own caller.
    """

    def __init__(
        self,
        url: str,
        write: Callable[[AsyncSession, list[T]], Awaitable[list[R]]],
        max_batch: int = 64,
    ):
        self.url, self.write, self.max_batch = url, write, max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0  # committed, for tests and benchmarks

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not future.get_loop():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                await self._write(batch)
            except Exception:
                if len(batch) == 1:
                    continue
                for one in batch:
                    with contextlib.suppress(Exception):
                        await self._write([one])
            except BaseException as exc:  # cancelled: the callers must not wait forever
                for _, future in batch + self._queue:
                    if not future.done():
                        future.set_exception(exc)
                raise

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            async with session_scope(self.url) as session:
                results = await self.write(session, [item for item, _ in batch])
            self.transactions += 1
        except Exception as exc:
            if len(batch) == 1 and not batch[0][1].done():
                batch[0][1].set_exception(exc)
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # a caller that went away (cancelled) needs no answer
                future.set_result(result)
