"""``nurture leads``: look a lead up, record a later stage."""

from __future__ import annotations

import typer

from nurture.cli.common import fail, run
from nurture.settings import get_settings

app = typer.Typer(help="Leads: profile, score and timeline.", no_args_is_help=True)


@app.command("show")
def show(
    email: str = typer.Argument(..., help="The lead's email address."),
    events: int = typer.Option(30, help="Timeline length."),
) -> None:
    """Print the lead, its stage, owner, score breakdown, drips and timeline."""
    from nurture.db import session_scope
    from nurture.reporting.lead import lead_profile, profile_text

    url = get_settings().database_url.get_secret_value()

    async def main() -> str | None:
        async with session_scope(url) as session:
            profile = await lead_profile(session, email, events)
            return profile_text(profile) if profile else None

    text = run(main())
    if text is None:
        raise fail(f"no lead {email!r}")
    typer.echo(text)


@app.command("stage")
def stage(
    email: str = typer.Argument(..., help="The lead's email address."),
    stage_: str = typer.Argument(..., metavar="STAGE", help="sql, opportunity or customer."),
    value: float | None = typer.Option(None, min=0, help="Deal value (pipeline or won)."),
) -> None:
    """Record a later stage from sales (as the CRM API does), with an optional deal value."""
    from nurture.db import session_scope, utcnow
    from nurture.leads.service import CRM_STAGES, find_by_email, record_crm_stage

    if stage_ not in CRM_STAGES:
        raise fail(f"stage must be one of {', '.join(CRM_STAGES)}")
    url = get_settings().database_url.get_secret_value()

    async def main() -> str | None:
        async with session_scope(url) as session:
            lead = await find_by_email(session, email)
            if lead is None:
                return None
            return await record_crm_stage(session, lead, stage_, utcnow(), value, "cli")

    previous = run(main())
    if previous is None:
        raise fail(f"no lead {email!r}")
    typer.echo(f"{email}: {previous} -> {stage_}" + (f" (value {value:,.2f})" if value else ""))
