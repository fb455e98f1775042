"""The ``nurture`` command: one module per command group, all registered here and only here.

The group modules import ``cli.common`` and services, never this module.
"""

from __future__ import annotations

import typer

from nurture.cli import config, imports, leads, marketing, plan, report, schema, sends, system

app = typer.Typer(help="Lead-nurture sequences as code.", no_args_is_help=True)
# Commands at the top level (serve, tick; preview, schedule, test-send; report), then groups.
app.add_typer(system.app)
app.add_typer(marketing.app)
app.add_typer(plan.app)
app.add_typer(report.app)
app.add_typer(schema.app)
app.add_typer(system.db_app, name="db")
app.add_typer(config.app, name="config")
leads.app.command("import")(imports.leads_import)
app.add_typer(leads.app, name="leads")
app.add_typer(sends.app, name="sends")
