"""``nurture sends``: touches in doubt after a crash (docs/delivery.md)."""

from __future__ import annotations

from typing import Any

import typer

from nurture.cli.common import fail, project_or_exit, run
from nurture.settings import get_settings

app = typer.Typer(help="The send ledger: touches in doubt.", no_args_is_help=True)


@app.command("in-doubt")
def in_doubt(limit: int = typer.Option(1000, help="Show at most this many.")) -> None:
    """List touches that may or may not have been delivered (a dispatcher died mid-send)."""
    from nurture.db import session_scope
    from nurture.dispatch.operator import list_in_doubt

    url = get_settings().database_url.get_secret_value()

    async def main() -> list[Any]:
        async with session_scope(url) as session:
            return await list_in_doubt(session, limit)

    rows = run(main())
    for r in rows:
        typer.echo(
            f"{r.id:>10}  {r.since:%Y-%m-%d %H:%M}  {r.sequence_id}/{r.step_id:<14} "
            f"{r.email}  {r.message_id or ''}  {r.reason or ''}"
        )
    typer.echo(f"{len(rows)} touch(es) in doubt")


@app.command("release")
def release(
    ids: list[int] = typer.Argument(None, help="Touch ids (from `sends in-doubt`)."),
    all_: bool = typer.Option(False, "--all", help="Every touch in doubt."),
    resend: bool = typer.Option(False, "--resend", help="Send again (may duplicate)."),
    as_sent: bool = typer.Option(False, "--as-sent", help="Record as delivered; drip goes on."),
) -> None:
    """Decide about touches in doubt: --resend or --as-sent, for IDS or --all."""
    from nurture.db import session_scope, utcnow
    from nurture.dispatch.operator import release_in_doubt

    if resend == as_sent:
        raise fail("choose one of --resend or --as-sent")
    if bool(ids) == all_:
        raise fail("give touch ids or --all")
    settings = get_settings()
    project = project_or_exit(settings)

    async def main() -> int:
        async with session_scope(settings.database_url.get_secret_value()) as session:
            return await release_in_doubt(
                session, None if all_ else ids, as_sent, project, utcnow()
            )

    count = run(main())
    typer.echo(f"released {count} touch(es) " + ("as sent" if as_sent else "for resending"))
