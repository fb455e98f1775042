"""``nurture config check``: every file validated, every email rendered."""

from __future__ import annotations

import typer

from nurture.cli.common import fail, project_or_exit
from nurture.settings import get_settings

app = typer.Typer(help="Check config and templates.", no_args_is_help=True)


@app.command("check")
def config_check() -> None:
    """Validate every form and sequence, and render every email with sample leads."""
    from nurture.checks import config_checks
    from nurture.config.schemas import missing_modelines
    from nurture.rendering.compose import build_composer

    settings = get_settings()
    project = project_or_exit(settings)
    composer = build_composer(settings)
    problems = config_checks(project, composer)
    if problems:
        raise fail("\n".join(str(p) for p in problems))
    steps = sum(len(s.steps) for s in project.sequences.values())
    summary = (
        f"ok: {len(project.forms)} form(s), {len(project.sequences)} sequence(s), "
        f"{steps} email(s) render"
    )
    if project.scoring:
        rules = len(project.scoring.fit) + len(project.scoring.engagement)
        summary += f"; scoring: {rules} rule(s), MQL at {project.scoring.mql_threshold}"
    if project.sales:
        summary += (
            f"; sales: {len(project.sales.territories)} territory(ies), hand-off email renders"
        )
    typer.echo(summary)
    for note in missing_modelines(settings.config_dir):  # editor support, not an error
        typer.echo(f"note: {note} (docs/config.md#editor-support-json-schemas)")
