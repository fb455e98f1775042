"""Commands for marketers: preview every email, see the dates, send a test."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import typer

from nurture.cli.common import fail, instant, project_or_exit, run
from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig
from nurture.settings import get_settings

app = typer.Typer()


def _sequence(project: Project, sequence_id: str) -> SequenceConfig:
    sequence = project.sequences.get(sequence_id)
    if sequence is None:
        raise fail(f"no sequence {sequence_id!r}; there are: {', '.join(project.sequences)}")
    return sequence


def _lead(sample: str, lead_json: Path | None) -> dict[str, Any]:
    from nurture.rendering.compose import SAMPLE_LEADS, lead_context

    if lead_json is not None:
        return lead_context(json.loads(lead_json.read_text(encoding="utf-8")))
    if sample not in SAMPLE_LEADS:
        raise fail(f"--sample is one of: {', '.join(SAMPLE_LEADS)}")
    return lead_context(SAMPLE_LEADS[sample])


@app.command()
def preview(
    sequence_id: str = typer.Argument(..., help="Sequence id (file name in config/sequences)."),
    out: Path = typer.Option(Path("var/preview"), help="Folder for the preview files."),
    sample: str = typer.Option("full", help="Sample lead: full or sparse (empty fields)."),
    lead_json: Path | None = typer.Option(None, help="A JSON file with lead fields instead."),
) -> None:
    """Render every email of a sequence to OUT: .html and .txt per step, an .eml as sent, and
    an index.html to click through."""
    from nurture.rendering.compose import build_composer
    from nurture.utcclock import EPOCH

    settings = get_settings()
    project = project_or_exit(settings)
    sequence = _sequence(project, sequence_id)
    composer = build_composer(settings)
    lead = _lead(sample, lead_json)
    folder = out / sequence.id
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, step in enumerate(sequence.steps):
        rendered, _ = composer.render(sequence, index, lead, "preview")
        message = composer.compose(sequence, index, lead, "preview", EPOCH)
        stem = f"{index + 1:02d}-{step.id}"
        (folder / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
        (folder / f"{stem}.txt").write_text(rendered.text, encoding="utf-8")
        (folder / f"{stem}.eml").write_bytes(message.data)
        rows.append((stem, rendered.subject))
        typer.echo(f"{stem}: {rendered.subject}")
    links = "".join(
        f'<li><a href="{s}.html">{s}</a> – {escape(subj)} (<a href="{s}.txt">text</a>)</li>'
        for s, subj in rows
    )
    (folder / "index.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>{escape(sequence.name)}</title>"
        f"<h1>{escape(sequence.name)}</h1><ol>{links}</ol>",
        encoding="utf-8",
    )
    typer.echo(f"open {folder / 'index.html'}")


@app.command()
def schedule(
    sequence_id: str = typer.Argument(..., help="Sequence id."),
    start: str | None = typer.Option(None, help="Enrolment time (ISO 8601); default now."),
    timezone: str | None = typer.Option(None, help="The lead's timezone (IANA name)."),
    country: str | None = typer.Option(
        None, help="The lead's country (code or name): whose public holidays are quiet days."
    ),
    with_: list[str] = typer.Option(
        [],
        "--with",
        help="Another sequence the lead is in at the same time (repeatable): the cap and "
        "priority across them.",
    ),
) -> None:
    """Print the date and time each touch would go out for a lead enrolled at START, under
    the contact policy (config/policy.yaml): touches moved by a quiet day, the cap or a
    higher-priority sequence are marked, with why."""
    from zoneinfo import ZoneInfo

    from nurture.db import utcnow
    from nurture.policy.preview import cap_text, plan_with_policy
    from nurture.sequences.schedule import lead_zone

    project = project_or_exit(get_settings())
    sequence = _sequence(project, sequence_id)
    others = [_sequence(project, s) for s in dict.fromkeys(with_) if s != sequence.id]
    zone = lead_zone(timezone, sequence.send_window)
    begin = instant(start, zone.key) or utcnow()
    if timezone and ZoneInfo(zone.key).key != timezone:
        raise fail(f"unknown timezone {timezone!r}")
    typer.echo(
        f"{sequence.name} — enrolled {begin.astimezone(zone):%a %Y-%m-%d %H:%M} ({zone.key})"
        f"; cap {cap_text(project.policy.cap)}" + (f"; country {country}" if country else "")
    )
    planned = plan_with_policy(project.policy, [sequence, *others], begin, zone.key, country)
    names = [f"{p.sequence.id}/{p.step.id}" if others else p.step.id for p in planned]
    width = max(14, *map(len, names))
    for number, (p, name) in enumerate(zip(planned, names, strict=True), start=1):
        local = p.sent.astimezone(zone)
        line = f"{number}. {local:%a %Y-%m-%d %H:%M}  {name:<{width}} after {p.step.delay}"
        if p.reasons:
            was = p.due.astimezone(zone)
            line += f"  deferred from {was:%a %Y-%m-%d %H:%M}: {'; '.join(p.reasons)}"
        typer.echo(line)


@app.command("test-send")
def test_send(
    sequence_id: str = typer.Argument(..., help="Sequence id."),
    to: str = typer.Option(..., help="Address to send the test to."),
    step: str | None = typer.Option(None, help="Only this step id (default: every step)."),
    sample: str = typer.Option("full", help="Sample lead: full or sparse."),
) -> None:
    """Send a sequence's emails (rendered for a sample lead) to one address, now, through the
    configured mail transport. Nothing is recorded for any lead."""
    from nurture.db import utcnow
    from nurture.leads.service import InvalidEmail, normalise_email
    from nurture.mail.backend import SendResult, SendStatus, TransportUnavailable
    from nurture.mail.transports import transport_from_url
    from nurture.rendering.compose import build_composer

    settings = get_settings()
    project = project_or_exit(settings)
    sequence = _sequence(project, sequence_id)
    try:
        address = normalise_email(to)
    except InvalidEmail as exc:
        raise fail(f"--to: {exc}") from None
    composer = build_composer(settings)
    lead = _lead(sample, None)
    indexes = [i for i, s in enumerate(sequence.steps) if step in (None, s.id)]
    if not indexes:
        raise fail(f"no step {step!r} in {sequence.id}")
    messages = [
        composer.compose(sequence, i, lead, "test", utcnow(), to_addr=address) for i in indexes
    ]
    transport = transport_from_url(settings.mail_url.get_secret_value())

    async def send() -> list[SendResult]:
        try:
            await transport.open()
            return await transport.send(messages)
        finally:
            await transport.close()

    try:
        results = run(send())
    except TransportUnavailable as exc:
        raise fail(str(exc)) from None
    for i, result in zip(indexes, results, strict=True):
        typer.echo(f"{sequence.steps[i].id}: {result.status} {result.code or ''} {result.reply}")
    if any(r.status != SendStatus.SENT for r in results):
        raise typer.Exit(1)
