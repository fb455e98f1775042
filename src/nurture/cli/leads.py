"""``nurture leads``: look a lead up, record a later stage, export or forget a lead."""

from __future__ import annotations

from pathlib import Path

import typer

from nurture.cli.common import fail, run
from nurture.settings import get_settings

app = typer.Typer(help="Leads: profile, score and timeline.", no_args_is_help=True)


def _print_profile_schema(value: bool) -> None:
    # eager: `leads show --schema` needs no EMAIL
    if value:
        from nurture.reporting.schemas import schema_json

        typer.echo(schema_json("lead-profile"), nl=False)
        raise typer.Exit()


@app.command("show")
def show(
    email: str = typer.Argument(..., help="The lead's email address."),
    events: int = typer.Option(30, help="Timeline length."),
    json_: bool = typer.Option(False, "--json", help="As JSON (see --schema)."),
    schema: bool = typer.Option(
        False,
        "--schema",
        is_eager=True,
        callback=_print_profile_schema,
        help="Print the JSON Schema of --json.",
    ),
) -> None:
    """Print the lead, its stage, owner, score breakdown, drips and timeline."""
    from nurture.db import session_scope
    from nurture.reporting.lead import lead_profile, profile_json, profile_text

    url = get_settings().database_url.get_secret_value()

    async def main() -> str | None:
        async with session_scope(url) as session:
            profile = await lead_profile(session, email, events)
            if profile is None:
                return None
            return profile_json(profile) if json_ else profile_text(profile)

    text = run(main())
    if text is None:
        raise fail(f"no lead {email!r}")
    typer.echo(text)


@app.command("deal")
def deal(
    email: str = typer.Argument(..., help="The lead's email address."),
    value: float = typer.Argument(..., min=0, max=1e12, help="What was won."),
    date: str | None = typer.Option(None, "--date", help="Day it was won, YYYY-MM-DD (today)."),
    currency: str = typer.Option("EUR", help="ISO 4217 code."),
    deal_id: str | None = typer.Option(
        None, "--id", help="The CRM's deal id (default: cli:DATE:VALUE, so a rerun is harmless)."
    ),
) -> None:
    """Record a won deal (as POST /api/leads/{lead_id}/deals does): a repeat purchase, or the
    first, which makes the lead a customer."""
    import datetime as dt

    from nurture.config.project import load_project
    from nurture.crm.service import DealIn, record_deal
    from nurture.db import session_scope, utcnow
    from nurture.journeys.goals import apply_goals
    from nurture.leads.service import find_by_email

    try:
        closed_on = dt.date.fromisoformat(date) if date else utcnow().date()
    except ValueError:
        raise fail(f"--date {date!r}: use YYYY-MM-DD") from None
    if len(currency) != 3 or not currency.isalpha():
        raise fail(f"--currency {currency!r}: use an ISO 4217 code such as EUR")
    wanted = DealIn(
        deal_id or f"cli:{closed_on.isoformat()}:{value:.2f}", value, currency.upper(), closed_on
    )
    settings = get_settings()
    project = load_project(settings.config_dir)
    url = settings.database_url.get_secret_value()

    async def main() -> tuple[bool, str] | None:
        async with session_scope(url) as session:
            lead = await find_by_email(session, email)
            if lead is None:
                return None
            now = utcnow()
            recorded = await record_deal(session, lead, wanted, now, "cli")
            # as the API does: a new customer's nurture ends now, not at the next pass
            await apply_goals(session, project, now, [lead.id])
            return recorded.created, recorded.stage

    result = run(main())
    if result is None:
        raise fail(f"no lead {email!r}")
    created, now_stage = result
    what = "recorded" if created else "recorded before, nothing changed"
    typer.echo(
        f"{email}: deal {wanted.external_id} {value:,.2f} {wanted.currency} on {closed_on} "
        f"{what}; stage {now_stage}"
    )


@app.command("stage")
def stage(
    email: str = typer.Argument(..., help="The lead's email address."),
    stage_: str = typer.Argument(..., metavar="STAGE", help="sql, opportunity or customer."),
    value: float | None = typer.Option(None, min=0, help="Deal value (pipeline or won)."),
) -> None:
    """Record a later stage from sales (as the CRM API does), with an optional deal value."""
    from nurture.config.project import load_project
    from nurture.db import session_scope, utcnow
    from nurture.journeys.goals import apply_goals
    from nurture.leads.service import find_by_email, record_crm_stage
    from nurture.leads.stages import CRM_STAGES

    if stage_ not in CRM_STAGES:
        raise fail(f"stage must be one of {', '.join(CRM_STAGES)}")
    settings = get_settings()
    project = load_project(settings.config_dir)
    url = settings.database_url.get_secret_value()

    async def main() -> str | None:
        async with session_scope(url) as session:
            lead = await find_by_email(session, email)
            if lead is None:
                return None
            now = utcnow()
            previous = await record_crm_stage(session, lead, stage_, now, value, "cli")
            # as the API does: the drips whose goal this stage reaches end now
            await apply_goals(session, project, now, [lead.id])
            return previous

    previous = run(main())
    if previous is None:
        raise fail(f"no lead {email!r}")
    typer.echo(f"{email}: {previous} -> {stage_}" + (f" (value {value:,.2f})" if value else ""))


def _print_export_schema(value: bool) -> None:
    if value:
        from nurture.rights.export import schema_json

        typer.echo(schema_json(), nl=False)
        raise typer.Exit()


@app.command("export")
def export(
    who: str = typer.Argument(..., metavar="EMAIL", help="The lead's address (or its lead id)."),
    out: Path | None = typer.Option(None, "--out", help="Write the JSON to this file."),
    schema: bool = typer.Option(
        False,
        "--schema",
        is_eager=True,
        callback=_print_export_schema,
        help="Print the JSON Schema of the export.",
    ),
) -> None:
    """Everything held on the lead, as JSON (records an ``exported`` event)."""
    from nurture.db import session_scope, utcnow
    from nurture.leads.service import InvalidEmail, normalise_email
    from nurture.rights.export import export_lead
    from nurture.rights.find import find_lead
    from nurture.rights.forget import forgotten_at

    settings = get_settings()
    url = settings.database_url.get_secret_value()

    async def main() -> str:
        async with session_scope(url) as session:
            lead = await find_lead(session, who)
            if lead is not None:
                return (await export_lead(session, lead, utcnow(), "cli")).model_dump_json(indent=2)
            try:
                when = await forgotten_at(
                    session, normalise_email(who), settings.resolved_secret_key()
                )
            except InvalidEmail:
                when = None
        if when is None:
            raise fail(f"no lead {who!r}")
        raise fail(
            f"{who} was forgotten on {when:%Y-%m-%d %H:%M} UTC: nothing is held on it but a "
            "keyed hash of the address (the anonymous record is exported by its lead id)",
            code=2,
        )

    document = run(main())
    if out is None:
        typer.echo(document)
    else:
        out.write_text(document + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")


@app.command("forget")
def forget(
    who: str = typer.Argument(..., metavar="EMAIL", help="The lead's address (or its lead id)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Erase the lead's personal data everywhere (an anonymous record and a keyed hash of the
    address stay: nothing mails it again without a new, confirmed consent)."""
    from nurture.db import session_scope, utcnow
    from nurture.leads.service import InvalidEmail, normalise_email
    from nurture.rights.find import find_lead
    from nurture.rights.forget import Forgetting, forget_lead, forgotten_at, scrub

    settings = get_settings()
    url = settings.database_url.get_secret_value()
    if not yes:
        typer.confirm(f"Erase everything held on {who}? This cannot be undone", abort=True)

    async def main() -> Forgetting | None:
        async with session_scope(url) as session:
            lead = await find_lead(session, who, lock=True)
            if lead is not None:
                done = await forget_lead(
                    session, lead, settings.resolved_secret_key(), utcnow(), "cli"
                )
            else:
                try:
                    email = normalise_email(who)
                except InvalidEmail:
                    return None
                when = await forgotten_at(session, email, settings.resolved_secret_key())
                done = None if when is None else Forgetting("", when, already=True)
        if done is not None:
            scrubbed = await scrub(url)
            if url.startswith("sqlite") and not scrubbed.complete:
                typer.secho(
                    "the database file still holds erased bytes (another process kept it "
                    "busy): run forget again later to finish",
                    fg="yellow",
                    err=True,
                )
        return done

    done = run(main())
    if done is None:
        raise fail(f"no lead {who!r}")
    when = f"{done.forgotten_at:%Y-%m-%d %H:%M} UTC"
    if done.already:
        typer.echo(f"{who}: forgotten already ({when})")
    else:
        typer.echo(f"{who}: forgotten; anonymous record {done.public_id}")
