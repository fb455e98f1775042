"""``nurture leads import FILE.csv``: leads from a CSV file (registered in the leads group)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import typer

from nurture.cli.common import fail, project_or_exit, run
from nurture.settings import get_settings

_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,56}$")  # import:<source> fits form_id


def _default_source(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.")[:57] or "csv"


def leads_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file."),
    source: str | None = typer.Option(
        None,
        help="Where the leads come from (default: the file's name): consents are recorded "
        "as import:SOURCE, new leads get it as utm_source.",
    ),
    maps: list[str] = typer.Option(
        [],
        "--map",
        metavar="COLUMN=FIELD",
        help="Map a column: email, first_name, last_name, company, job_title, country, "
        "timezone, locale, custom.<name>, or - to leave it out. Repeatable.",
    ),
    consent_basis: str | None = typer.Option(
        None,
        "--consent-basis",
        metavar="BASIS",
        help="How these people consented (recorded as each lead's consent text), e.g. "
        "'Messe-Kontaktformular 2026, Einwilligung schriftlich'.",
    ),
    enrol: str | None = typer.Option(
        None, metavar="SEQUENCE", help="Enrol the leads with a consent basis in this sequence."
    ),
    confirm: str | None = typer.Option(
        None,
        metavar="FORM",
        help="With --enrol and no --consent-basis: send those without a consent this form's "
        "double opt-in email; confirming starts the sequence.",
    ),
    keep_unknown: bool = typer.Option(
        False, "--keep-unknown", help="Keep unmapped columns as custom.<column name>."
    ),
    encoding: str | None = typer.Option(None, help="The file's encoding (default: detected)."),
    delimiter: str | None = typer.Option(
        None, help="The delimiter, one character or 'tab' (default: detected)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would happen; write and send nothing."
    ),
) -> None:
    """Import leads from a CSV file: bad rows are reported with their line, the rest imported.
    Never changes a consent, a suppression or a later stage; the same file twice changes
    nothing."""
    from rich.console import Console
    from rich.progress import Progress

    from nurture.db import utcnow
    from nurture.imports.mapping import MappingError, build_map, check_records, parse_maps
    from nurture.imports.reader import ImportFileError, read_csv
    from nurture.imports.run import run_import
    from nurture.imports.service import ImportPlan

    settings = get_settings()
    source = source or _default_source(file)
    if not _SOURCE.match(source):
        raise fail("--source: letters, digits, '.', '_' and '-', at most 57 characters")
    basis = (consent_basis or "").strip() or None
    if consent_basis is not None and (basis is None or len(basis) > 4000):
        raise fail("--consent-basis: say how they consented, in at most 4000 characters")
    if delimiter in ("tab", "\\t"):
        delimiter = "\t"
    if delimiter is not None and len(delimiter) != 1:
        raise fail("--delimiter: one character, or 'tab'")
    if confirm and not enrol:
        raise fail("--confirm needs --enrol: confirming starts that sequence")
    if confirm and basis:
        raise fail("--confirm or --consent-basis: with a basis there is nothing to confirm")
    project = project_or_exit(settings) if enrol else None
    sequence = form = None
    if project is not None and enrol is not None:
        sequence = project.sequences.get(enrol)
        if sequence is None:
            raise fail(f"no sequence {enrol!r} in config")
        if confirm is not None:
            form = project.forms.get(confirm)
            if form is None:
                raise fail(f"no form {confirm!r} in config")
            if sequence not in project.sequences_for_form(form.id):
                raise fail(f"confirming form {form.id!r} starts its own sequences, not {enrol!r}")
    try:
        csv_file = read_csv(file, encoding, delimiter)
        columns = build_map(csv_file.header, parse_maps(maps), keep_unknown)
    except (ImportFileError, MappingError) as exc:
        raise fail(str(exc)) from None
    shown = "tab" if csv_file.delimiter == "\t" else repr(csv_file.delimiter)
    typer.echo(f"{file.name}: {csv_file.encoding}, delimiter {shown}")
    typer.echo("columns: " + ", ".join(columns.describe(csv_file.header)))
    if columns.ignored:
        typer.echo(
            f"ignored columns (map them with --map or --keep-unknown): {', '.join(columns.ignored)}"
        )
    plan = ImportPlan(
        source,
        file.name,
        settings.resolved_secret_key(),
        project.versions if project else {},
        basis,
        sequence,
        form,
    )
    try:
        records = list(csv_file.records())
    except ImportFileError as exc:
        raise fail(str(exc)) from None
    with Progress(console=Console(stderr=True), transient=True) as progress:
        checking = progress.add_task("checking", total=len(records))

        def checked() -> Iterator[tuple[int, list[str]]]:
            for record in records:
                yield record
                progress.advance(checking)

        rows, problems = check_records(checked(), columns, len(csv_file.header))
        writing = progress.add_task("dry run" if dry_run else "importing", total=len(rows))
        done = run(
            run_import(
                settings,
                project,
                plan,
                rows,
                utcnow(),
                dry_run=dry_run,
                advance=lambda n: progress.advance(writing, n),
            )
        )
    t = done.totals
    problems = sorted(problems + t.problems, key=lambda p: p.line)
    for p in problems:
        typer.echo(f"line {p.line}: {p.reason}")
    prefix = "dry run, nothing written: " if dry_run else ""
    typer.echo(
        f"{prefix}{len(records)} rows: {t.created} created, {t.updated} updated, "
        f"{t.unchanged} unchanged, {len(problems)} skipped"
    )
    if basis:
        typer.echo(f"consent recorded for {t.consents} leads (import:{source})")
    if t.suppressed:
        typer.echo(f"{t.suppressed} suppressed addresses kept suppressed (not enrolled)")
    if sequence is not None:
        typer.echo(f"enrolled in {sequence.id}: {t.enrolled}")
        if t.at_goal:
            typer.echo(f"not enrolled, past the sequence's goal stage: {t.at_goal}")
        if t.no_consent:
            typer.echo(f"not enrolled, no consent basis: {t.no_consent} (see --consent-basis)")
        if form is not None:
            mails = f"{t.pending} would be sent" if dry_run else f"{done.sent} sent"
            failed = f", {done.failed} failed" if done.failed else ""
            typer.echo(
                f"waiting for double opt-in ({form.id}): {t.pending}; "
                f"confirmation emails: {mails}{failed}"
            )
