"""One inbox pass, in steps the Prefect flow runs as tasks (flows/inbox.py) and the CLI and
scheduler run in-process: list what is new, then per batch read -> record (one transaction)
-> mark processed, then forward the queued replies.

The batch's transaction commits before its messages are marked: a crash in between leaves
them unmarked, the next pass reads them again and their receipts make it record nothing (and
mark them). A pass that cannot reach the inbox raises ``InboxUnavailable`` with the reason,
having read and marked nothing; the replies already queued are forwarded all the same.

One message must never block the others: should the database refuse what a message holds
(its batch's transaction fails with a data error), the batch is recorded again one message
per transaction, and a message refused on its own is claimed by its hash as unreadable,
counted, logged and marked like the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DataError, StatementError

from nurture.config.project import Project, load_project
from nurture.db import chunked, session_scope
from nurture.inbox.classify import unreadable
from nurture.inbox.forward import forward_replies
from nurture.inbox.ingest import InboxReport, ingest, ingest_unreadable
from nurture.inbox.sources import InboxUnavailable, Source, source_from_url
from nurture.liveconfig.live import Checks, Live, load_live
from nurture.mail.backend import Transport
from nurture.mail.transports import transport_from_url
from nurture.settings import Settings

BATCH = 500  # messages a transaction records
log = logging.getLogger(__name__)


@dataclass
class InboxContext:
    db_url: str
    project: Project
    transport: Transport
    inbox_url: str
    batch_size: int = BATCH


def build_context(
    settings: Settings, transport: Transport | None = None, project: Project | None = None
) -> InboxContext:
    """A pass's context on the files as they are (tests); a running system's passes use
    live_context, which refuses files that do not validate."""
    return InboxContext(
        settings.database_url.get_secret_value(),
        project or load_project(settings.config_dir),
        transport or transport_from_url(settings.mail_url.get_secret_value()),
        settings.inbox_url.get_secret_value(),
        BATCH,
    )


async def live_context(
    settings: Settings,
    applied_by: str,
    checks: Checks,
    now: datetime,
    transport: Transport | None = None,
) -> tuple[InboxContext, Live]:
    """A pass's context on the live config (liveconfig/live.py). Raises ConfigError when no
    config validates."""
    live = await load_live(settings, applied_by, checks, now)
    return build_context(live.settings, transport, live.project), live


async def ingest_batch(
    c: InboxContext, source: Source, ids: Sequence[str], now: datetime
) -> InboxReport:
    messages = await source.read(ids)
    try:
        async with session_scope(c.db_url) as session:
            report = await ingest(session, c.project, messages, now)
    except _REFUSED as exc:
        if not _refused(exc):
            raise
        log.warning("inbox batch refused by the database (%s): one message at a time", exc)
        report = await _one_by_one(c, messages, now)
    await source.mark([name for name, _ in messages])
    return report


# Every error of a statement, and a driver's that cannot encode a value (aiosqlite raises it
# bare); _refused picks those about the data.
_REFUSED = (StatementError, UnicodeError)


def _refused(exc: Exception) -> bool:
    """The database refused what a statement carries (not: it is away, or a bug of ours)."""
    if isinstance(exc, UnicodeError | DataError):
        return True
    orig = getattr(exc, "orig", None)
    if isinstance(orig, UnicodeError):
        return True
    # SQLSTATE class 22, "data exception" (asyncpg's are not all mapped to DataError)
    return str(getattr(orig, "sqlstate", None) or "").startswith("22")


async def _one_by_one(
    c: InboxContext, messages: Sequence[tuple[str, bytes]], now: datetime
) -> InboxReport:
    report = InboxReport()
    for name, raw in messages:
        try:
            async with session_scope(c.db_url) as session:
                report.merge(await ingest(session, c.project, [(name, raw)], now))
        except _REFUSED as exc:
            if not _refused(exc):
                raise
            log.warning("inbox message %s refused by the database: %s", name, exc)
            async with session_scope(c.db_url) as session:
                report.merge(await ingest_unreadable(session, unreadable(raw, exc), now))
    return report


async def forward_step(c: InboxContext, now: datetime) -> InboxReport:
    return await forward_replies(c.db_url, c.transport, now)


Batch = Callable[[InboxContext, Source, Sequence[str], datetime], Awaitable[InboxReport]]
Forward = Callable[[InboxContext, datetime], Awaitable[InboxReport]]


async def run_inbox_pass(
    c: InboxContext,
    now: datetime,
    batch: Batch = ingest_batch,
    forward: Forward = forward_step,
) -> InboxReport:
    """Read and record everything new, then forward; the Prefect flow passes its tasks."""
    report = InboxReport()
    unavailable: InboxUnavailable | None = None
    source = source_from_url(c.inbox_url)
    try:
        await source.open()
        try:
            ids = await source.pending()
            for part in chunked(ids, c.batch_size):
                report.merge(await batch(c, source, list(part), now))
        finally:
            await source.close()
    except InboxUnavailable as exc:
        unavailable = exc
    try:
        report.merge(await forward(c, now))
    finally:
        await c.transport.close()
    if unavailable is not None:
        raise unavailable
    return report
