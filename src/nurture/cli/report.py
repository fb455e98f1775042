"""``nurture report``: the funnel, from the event log."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import typer

from nurture.cli.common import fail, instant, project_or_exit, run
from nurture.settings import get_settings

app = typer.Typer()


class Format(StrEnum):
    text = "text"
    json = "json"
    html = "html"


@app.command()
def report(
    sequence: str | None = typer.Option(None, help="Only this sequence's steps."),
    since: str | None = typer.Option(None, help="From (ISO 8601; default: 30 days ago)."),
    until: str | None = typer.Option(None, help="Until, exclusive (ISO 8601; default: now)."),
    format_: Format = typer.Option(Format.text, "--format", help="text, json or html."),
    out: Path | None = typer.Option(None, help="Write to this file instead of printing."),
    schema: bool = typer.Option(False, "--schema", help="Print the JSON Schema of --format json."),
    min_difference: float = typer.Option(
        0.02,
        "--min-difference",
        help="Experiments: the difference of rates (0.02 = 2 points) the sends still "
        "needed are for.",
    ),
) -> None:
    """Where leads drop out: per step, per stage, per sales rep and per lead source."""
    from nurture.db import session_scope, utcnow
    from nurture.reporting.funnel import funnel_report
    from nurture.reporting.funnel_format import as_html, as_json, as_text
    from nurture.reporting.funnel_models import FunnelReport
    from nurture.reporting.schemas import schema_json

    if schema:
        typer.echo(schema_json("funnel-report"), nl=False)
        return

    settings = get_settings()
    project = project_or_exit(settings)
    if sequence and sequence not in project.sequences:
        raise fail(f"no sequence {sequence!r}; there are: {', '.join(project.sequences)}")
    end = instant(until) or utcnow()
    start = instant(since) or end - timedelta(days=30)
    if start >= end:
        raise fail("--since must be before --until")
    if not 0 < min_difference < 1:
        raise fail("--min-difference is a difference of rates between 0 and 1 (0.02: 2 points)")

    async def main() -> FunnelReport:
        async with session_scope(settings.database_url.get_secret_value()) as session:
            return await funnel_report(session, project, start, end, sequence, min_difference)

    data = run(main())
    if format_ is Format.json:
        text = as_json(data)
    elif format_ is Format.html:
        text = as_html(data)
    else:
        text = as_text(data)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
