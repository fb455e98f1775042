"""What the preview shows, without HTTP: each sequence's emails, rendered for a sample lead in
every locale and variant as the dispatcher would (the same Composer), and the date each step
goes out for a lead enrolled at a sample start, under the contact policy (as ``nurture
schedule`` prints it)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig, Step
from nurture.policy.preview import cap_text, plan_with_policy
from nurture.rendering.compose import SAMPLE_LEADS, Composer, lead_context
from nurture.rendering.render import RenderedEmail
from nurture.sequences.schedule import lead_zone
from nurture.utcclock import parse_instant

# The opaque id the sample lead's links carry (as in `nurture preview`): no real lead's.
PUBLIC_ID = "preview"
MAX_OFFSET = timedelta(days=3653)  # how far from today a sample start may be


class NotFound(LookupError):
    """No such sequence, step, locale or variant: the message says which, and what there is."""


@dataclass(frozen=True)
class SequenceSummary:
    id: str
    name: str
    description: str
    locales: list[str]
    steps: int
    variants: int  # emails per locale: a step with an experiment counts each variant


@dataclass(frozen=True)
class Email:
    """One step's email in one locale and variant (None: a step without an experiment)."""

    locale: str
    variant: str | None
    weight: int | None
    rendered: RenderedEmail | None
    error: str | None  # what the template raised, where (then ``rendered`` is None)

    @property
    def path(self) -> str:
        """The tail of its own HTML page's URL: ``<locale>.html`` or ``<locale>/<variant>.html``."""
        return f"{self.locale}/{self.variant}.html" if self.variant else f"{self.locale}.html"


@dataclass(frozen=True)
class StepPreview:
    number: int
    step: Step
    due: datetime  # when the sequence alone would send it
    sent: datetime  # when it goes out under the contact policy (in the lead's zone)
    reasons: tuple[str, ...]  # why it was deferred (empty: on time)
    emails: list[Email]


@dataclass(frozen=True)
class SequencePreview:
    sequence: SequenceConfig
    sample: str
    lead: dict[str, Any]
    start: datetime  # in the lead's zone
    zone: str
    country: str | None
    cap: str
    steps: list[StepPreview]


def summaries(project: Project) -> list[SequenceSummary]:
    return [
        SequenceSummary(
            id=s.id,
            name=s.name,
            description=s.description,
            locales=list(s.locales),
            steps=len(s.steps),
            variants=sum(max(1, len(step.variants)) for step in s.steps),
        )
        for s in project.sequences.values()
    ]


def sample_lead(sample: str) -> dict[str, Any]:
    """The sample lead of ``nurture preview --sample`` (rendering.compose.SAMPLE_LEADS)."""
    if sample not in SAMPLE_LEADS:
        raise NotFound(f"no sample lead {sample!r}; there are: {', '.join(SAMPLE_LEADS)}")
    return lead_context(SAMPLE_LEADS[sample])


def sequence_of(project: Project, sequence_id: str) -> SequenceConfig:
    sequence = project.sequences.get(sequence_id)
    if sequence is None:
        there = ", ".join(project.sequences) or "none"
        raise NotFound(f"no sequence {sequence_id!r}; there are: {there}")
    return sequence


def sample_start(value: str | None, zone: str, now: datetime) -> datetime:
    """``?start=`` (ISO 8601; without an offset in the lead's zone), else ``now`` to the
    minute before: the dates are the same on every reload within a minute. ValueError (its
    message for the page): not a date, or too far off (year 1 or 9999 would overflow, and
    the holiday calendar is built per year)."""
    if not value:
        return now.replace(second=0, microsecond=0)
    try:
        start = parse_instant(value.strip(), zone)
    except (ValueError, OverflowError):
        raise ValueError(
            f"cannot read start {value!r}; use ISO 8601, e.g. 2026-12-07T09:00"
        ) from None
    if abs(start - now) > MAX_OFFSET:
        raise ValueError(f"start {value!r} is more than 10 years from today")
    return start


def error_text(exc: Exception, folder: Path) -> str:
    """What went wrong and where: the template file (under ``folder``, templates/email/) and
    line, Jinja's own for a syntax error, else the last template frame of the traceback
    (Jinja puts those in), so a marketer can find it."""
    where: tuple[str, int | None] | None = None
    if isinstance(exc, TemplateSyntaxError) and exc.lineno:
        where = (exc.filename or exc.name or "?", exc.lineno)
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
        if frames:
            where = (frames[-1].filename, frames[-1].lineno)
    if where is None:
        return f"{type(exc).__name__}: {exc}"
    name = Path(where[0])
    if name.is_relative_to(folder):
        name = name.relative_to(folder)
    return f"{type(exc).__name__}: {exc} ({name.as_posix()}, line {where[1]})"


def render_email(
    composer: Composer,
    sequence: SequenceConfig,
    index: int,
    lead: Mapping[str, Any],
    locale: str,
    variant: str | None,
) -> Email:
    step = sequence.steps[index]
    chosen = step.variant(variant)
    try:
        rendered, _ = composer.render(
            sequence, index, lead, PUBLIC_ID, variant=variant, locale=locale
        )
    except Exception as exc:  # a template is the marketer's code: anything it raises is shown
        error = error_text(exc, composer.renderer.folder)
        return Email(locale, variant, chosen.weight if chosen else None, None, error)
    return Email(locale, variant, chosen.weight if chosen else None, rendered, None)


def step_emails(
    composer: Composer, sequence: SequenceConfig, index: int, lead: Mapping[str, Any]
) -> list[Email]:
    """Every locale × variant of a step (locale first: the languages side by side)."""
    variants: list[str | None] = [v.id for v in sequence.steps[index].variants] or [None]
    return [
        render_email(composer, sequence, index, lead, locale, variant)
        for locale in sequence.locales
        for variant in variants
    ]


def preview_sequence(
    project: Project,
    composer: Composer,
    sequence_id: str,
    start: str | None,
    now: datetime,
    sample: str = "full",
) -> SequencePreview:
    """NotFound: no such sequence or sample; ValueError: ``start`` is not a date."""
    sequence = sequence_of(project, sequence_id)
    lead = sample_lead(sample)
    zone = lead_zone(lead.get("timezone"), sequence.send_window)
    begin = sample_start(start, zone.key, now)
    planned = plan_with_policy(project.policy, [sequence], begin, zone.key, lead.get("country"))
    by_step = {p.step.id: p for p in planned}
    steps = []
    for index, step in enumerate(sequence.steps):
        plan = by_step[step.id]
        steps.append(
            StepPreview(
                number=index + 1,
                step=step,
                due=plan.due.astimezone(zone),
                sent=plan.sent.astimezone(zone),
                reasons=plan.reasons,
                emails=step_emails(composer, sequence, index, lead),
            )
        )
    return SequencePreview(
        sequence=sequence,
        sample=sample,
        lead=lead,
        start=begin.astimezone(zone),
        zone=zone.key,
        country=lead.get("country"),
        cap=cap_text(project.policy.cap),
        steps=steps,
    )


def one_email(
    project: Project,
    composer: Composer,
    sequence_id: str,
    step_id: str,
    locale: str,
    variant: str | None,
    sample: str = "full",
) -> Email:
    """One email, for its own page. NotFound: no such sequence, step, locale or variant."""
    sequence = sequence_of(project, sequence_id)
    index = sequence.step_index(step_id)
    if index is None:
        steps = ", ".join(s.id for s in sequence.steps)
        raise NotFound(f"no step {step_id!r} in {sequence.id}; there are: {steps}")
    if locale not in sequence.locales:
        raise NotFound(
            f"{sequence.id} is not written in {locale!r}; it is in: {', '.join(sequence.locales)}"
        )
    step = sequence.steps[index]
    ids = [v.id for v in step.variants]
    if (variant is None) != (not ids) or (variant is not None and variant not in ids):
        there = ", ".join(ids) if ids else f"none (open {locale}.html)"
        raise NotFound(f"no variant {variant!r} in step {step.id}; variants: {there}")
    return render_email(composer, sequence, index, sample_lead(sample), locale, variant)
