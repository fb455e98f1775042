"""Running nurture: ``serve``, ``tick`` and ``db upgrade``."""

from __future__ import annotations

import logging
from datetime import datetime

import typer

from nurture.cli.common import fail, instant, project_or_exit, run
from nurture.settings import get_settings, masked_url

app = typer.Typer()
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    scheduler: bool = typer.Option(True, help="Run the dispatch scheduler in this process."),
) -> None:
    """Run the web app (landing pages, links) and the dispatch scheduler."""
    import gc

    import uvicorn

    from nurture import migrate
    from nurture.app import create_app
    from nurture.scheduler import prefect_api_url, start_scheduler

    settings = get_settings()
    project_or_exit(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Prefect client calls, one per line

    async def main() -> None:
        await migrate.upgrade(settings.database_url.get_secret_value())
        # What is loaded by now lives as long as the process: keep it out of the collector's
        # scans, and collect young objects less often (each request makes thousands; the
        # default threshold of 700 had full collections stall requests: p99 190 ms -> 55 ms).
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        jobs = start_scheduler(settings) if scheduler else None
        where = prefect_api_url() or "no Prefect API: passes run in-process"
        mail = masked_url(settings.mail_url)
        typer.echo(f"nurture: http://{host}:{port}/  mail: {mail}  prefect: {where}")
        config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="info")
        try:
            await uvicorn.Server(config).serve()
        finally:
            if jobs:
                jobs.shutdown(wait=False)

    run(main())


@app.command()
def tick(
    now: str | None = typer.Option(
        None, help="Pretend it is this time (ISO 8601, UTC if no offset)."
    ),
    until: str | None = typer.Option(
        None,
        help="Fast-forward: run a pass at each due time up to this time, as if the days went by.",
    ),
    prefect: bool | None = typer.Option(
        None,
        "--prefect/--no-prefect",
        help="Run as a Prefect flow (default: when a Prefect API is configured).",
    ),
) -> None:
    """Run one dispatch pass and one scoring and hand-off pass now (or at --now), or at every
    due time up to --until; first an inbox pass when NURTURE_INBOX_URL is set."""
    from nurture import migrate
    from nurture.db import session_scope, utcnow
    from nurture.dispatch.batch import DispatchFailed
    from nurture.inbox.sources import InboxUnavailable
    from nurture.ledger.claims import next_due
    from nurture.scheduler import dispatch_once, handoff_once, inbox_once

    settings = get_settings()
    project_or_exit(settings)
    start, end = instant(now), instant(until)
    url = settings.database_url.get_secret_value()

    async def one(moment: datetime | None) -> str:
        # the inbox first: a reply that came in ends its drip before the next step goes out
        read = ""
        if settings.inbox_url.get_secret_value():
            read = f"inbox: {await inbox_once(settings, moment, prefect)}; "
        sent = await dispatch_once(settings, moment, prefect)
        return f"{read}{sent}; {await handoff_once(settings, moment, prefect)}"

    async def main() -> None:
        await migrate.upgrade(url)
        if end is None:
            typer.echo(await one(start))
            return
        moment = start or utcnow()
        while moment <= end:
            typer.echo(f"{moment:%a %Y-%m-%d %H:%M} UTC: {await one(moment)}")
            async with session_scope(url) as session:
                found = await next_due(session, moment)
            if found is None:
                break
            moment = found

    try:
        run(main())
    except DispatchFailed as exc:
        raise fail(f"dispatch failed (touches not handed to SMTP stay due): {exc}") from None
    except InboxUnavailable as exc:
        raise fail(f"inbox not read (nothing marked, nothing lost): {exc}") from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""
    from nurture import migrate

    settings = get_settings()
    run(migrate.upgrade(settings.database_url.get_secret_value()))
    typer.echo(f"database at {masked_url(settings.database_url)} is up to date")
