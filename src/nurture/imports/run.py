"""An import from its checked rows to the database: one transaction per chunk (a large file
never holds SQLite's one write lock for long, and a run cut short is finished by running it
again: the rows already in are unchanged), then the chunk's double opt-in emails."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from nurture.config.project import Project
from nurture.db import chunked, session_scope
from nurture.imports.confirm import send_confirmations
from nurture.imports.mapping import Row
from nurture.imports.service import CHUNK, ImportPlan, ImportTotals, import_rows
from nurture.leads.events import EventType, record_events
from nurture.rendering.compose import build_composer
from nurture.settings import Settings


class _DryRun(Exception):  # not an error: how a dry run rolls a chunk back
    def __init__(self, totals: ImportTotals):
        self.totals = totals


@dataclass
class ImportRun:
    totals: ImportTotals = field(default_factory=ImportTotals)
    sent: int = 0  # confirmation emails accepted by the mail server
    failed: int = 0


async def run_import(
    settings: Settings,
    project: Project | None,
    plan: ImportPlan,
    rows: Sequence[Row],
    now: datetime,
    *,
    dry_run: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> ImportRun:
    """Import ``rows``; ``dry_run``: every chunk is written and rolled back (the counts are
    what a real run would make, and no email goes out). ``advance``: called with each
    chunk's size, for a progress bar."""
    url = settings.database_url.get_secret_value()
    composer = build_composer(settings) if plan.confirm and not dry_run else None
    out = ImportRun()
    for part in chunked(rows, CHUNK):
        try:
            async with session_scope(url) as session:
                totals = await import_rows(session, plan, part, now)
                if dry_run:
                    raise _DryRun(totals)
        except _DryRun as rolled_back:
            totals = rolled_back.totals
        out.totals.add(totals)
        if totals.confirmations and composer is not None and plan.confirm is not None:
            assert project is not None
            mail_url = settings.mail_url.get_secret_value()
            events = await send_confirmations(
                composer, project, plan.confirm, mail_url, totals.confirmations, now
            )
            async with session_scope(url) as session:
                await record_events(session, events)
            sent = sum(e["type"] == EventType.CONFIRMATION_SENT for e in events)
            out.sent += sent
            out.failed += len(events) - sent
        advance(len(part))
    return out
