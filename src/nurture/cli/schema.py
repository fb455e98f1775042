"""``nurture schema``: the JSON Schemas an editor checks the config files with."""

from __future__ import annotations

from pathlib import Path

import typer

from nurture.settings import get_settings

app = typer.Typer()


@app.command()
def schema(
    out: Path = typer.Option(..., "--out", help="Folder to write <kind>.schema.json into."),
) -> None:
    """Write a JSON Schema for each config kind (sequence, form, scoring, sales, sources,
    signals, policy), and print the first line that ties each config file to its schema."""
    from nurture.config.schemas import KINDS, modeline, place, write

    for path in write(out):
        typer.echo(f"wrote {path}")
    config_dir = get_settings().config_dir
    typer.echo("\nStart each config file with its line (paths relative to the file):")
    for kind in KINDS:
        file = place(config_dir, kind)
        typer.echo(f"  {file}\n    {modeline(file, out.absolute())}")
