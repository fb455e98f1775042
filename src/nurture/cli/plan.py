"""``nurture plan``: what the config in the working tree would change in what is sending."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer

from nurture.cli.common import fail, instant, run
from nurture.config.yamlfile import ConfigError
from nurture.settings import get_settings

app = typer.Typer()


@app.command("plan")
def plan(
    against: str | None = typer.Option(
        None,
        "--against",
        metavar="GIT-REF",
        help="Compare with the config and templates at this git ref instead of what is live "
        "(the snapshot the running system applied last).",
    ),
    format: str = typer.Option("text", "--format", help="text or json."),
    now: str | None = typer.Option(
        None,
        help="Plan at this time (ISO 8601): what overdue touches count from, what is scored; "
        "default now.",
    ),
) -> None:
    """Show what the config in the working tree would change for the leads in flight: steps
    added, removed, moved or re-timed and what each group of enrollments gets instead, emails
    whose text changes, forms that enrol elsewhere, leads that would cross the MQL threshold.
    Exits 1 when the new config does not validate (a CI gate for config changes)."""
    from nurture.checks import config_checks
    from nurture.db import session_scope, utcnow
    from nurture.liveconfig.live import judge
    from nurture.plan.build import build_plan, read_in_flight
    from nurture.plan.output import plan_json, plan_text
    from nurture.plan.sources import Side, SourceError, git_files, live_files, snapshot_side

    if format not in ("text", "json"):
        raise fail("--format is text or json", 2)
    settings = get_settings()
    # Checked and loaded once, from the tree's own copy (liveconfig.judge, as a pass would):
    # what is planned is what was checked, whatever is saved meanwhile.
    _, _, verdict = judge(settings, config_checks)
    if isinstance(verdict, ConfigError):
        problems = verdict.problems
        if format == "json":
            typer.echo(
                json.dumps(
                    {"format": 1, "valid": False, "problems": [str(p) for p in problems]}, indent=2
                )
            )
            raise typer.Exit(1)
        raise fail(
            f"the new config has {len(problems)} problem(s):\n" + "\n".join(map(str, problems))
        )
    at = instant(now) or utcnow()

    async def build() -> str:
        assert not isinstance(verdict, ConfigError)
        new = Side("working tree", verdict.project, verdict.composer, verdict.settings)
        url = settings.database_url.get_secret_value()
        if against is not None:
            label = f"git {against}"
            files = git_files(against, settings.config_dir, settings.templates_dir)
        with tempfile.TemporaryDirectory(prefix="nurture-plan-") as folder:
            # One short session for every read (on SQLite a session holds the write lock):
            # the rendering and the forecast run outside it, the trial scoring in its own.
            async with session_scope(url) as session:
                if against is None:
                    label, files = await live_files(session)
                live = snapshot_side(settings, label, files, Path(folder))
                in_flight = await read_in_flight(session, live.project, new.project)
            result = await build_plan(url, live, new, at, in_flight)
        if format == "json":
            return json.dumps(plan_json(result), indent=2, ensure_ascii=False)
        return plan_text(result)

    try:
        typer.echo(run(build()), nl=format == "json")
    except SourceError as exc:
        raise fail(str(exc), 2) from None
