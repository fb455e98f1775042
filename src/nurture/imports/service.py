"""Write checked rows, a chunk at a time, set-based: leads upserted, consent recorded, stage,
enrollments, ``imported`` events.

What an import never does: overwrite a consent (it only adds one), lift or ignore a
suppression (a suppressed address is updated in its profile and nothing more), move a lead
back (only a subscriber becomes a lead), enrol anyone without a consent basis. What it does
twice is nothing: an unchanged lead gets no event, a consent with the same text from the same
source is not recorded again, and an enrollment is made once.

Functions take a session and never commit; the command owns one transaction per chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row as SqlRow
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.forms import FormConfig
from nurture.config.sequences import SequenceConfig
from nurture.db import insert_values, is_postgres
from nurture.imports.mapping import Problem, Row
from nurture.journeys.goals import goal_stages
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.forgotten import forgotten_among
from nurture.leads.models import PROFILE, Consent, Event, Lead
from nurture.leads.service import StageChange, change_stage, upsert_leads
from nurture.leads.stages import Stage
from nurture.ledger.enrollment import enrol_many
from nurture.ledger.models import Enrollment, EnrollmentState

# Rows per chunk: one transaction each.
CHUNK = 1024
T = TypeVar("T")
LOCK_KEY = int.from_bytes(b"nurture:import"[:8], "big")  # PostgreSQL's advisory lock for imports


def parts(items: Sequence[T]) -> list[Sequence[T]]:
    """``items`` in parts of 512, 256, ... 1 rows: multi-row statements are compiled once per
    row count (db.insert_values), so a chunk of any size uses at most ten shapes a process
    compiles once, not a new one per chunk; 512 upserted leads bind 10,752 values, well inside
    every backend's limit."""
    out: list[Sequence[T]] = []
    start, size = 0, 512
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        out.append(items[start : start + size])
        start += size
    return out


@dataclass(frozen=True)
class ImportPlan:
    """What the command was asked to do, the same for every chunk."""

    source: str  # consents' form_id is import:<source>; new leads' utm_source
    file: str  # the file's name, in each imported event
    secret: str  # the forgotten addresses' key (settings.resolved_secret_key())
    versions: dict[str, str]  # project.versions
    consent_basis: str | None = None
    enrol: SequenceConfig | None = None
    confirm: FormConfig | None = None  # double opt-in for those without a basis

    @property
    def form_id(self) -> str:
        return f"import:{self.source}"


@dataclass
class ImportTotals:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    consents: int = 0  # consent rows recorded from --consent-basis
    enrolled: int = 0
    pending: int = 0  # enrolled, waiting for the double opt-in
    suppressed: int = 0  # kept suppressed: no consent recorded, not enrolled
    no_consent: int = 0  # not enrolled: no consent basis
    at_goal: int = 0  # not enrolled: at or past a stage the sequence's goals name
    problems: list[Problem] = field(default_factory=list)
    # (lead's row, consent id) whose confirmation email goes out after the commit
    confirmations: list[tuple[SqlRow[Any], int]] = field(default_factory=list)

    def add(self, other: ImportTotals) -> None:
        for name in (
            "created",
            "updated",
            "unchanged",
            "consents",
            "enrolled",
            "pending",
            "suppressed",
            "no_consent",
            "at_goal",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems
        self.confirmations += other.confirmations


def changes(existing: SqlRow[Any], values: dict[str, Any]) -> bool:
    """Whether upserting ``values`` would change the lead (empty values change nothing)."""
    if any(values.get(k) and values[k] != getattr(existing, k) for k in PROFILE):
        return True
    custom = existing.custom or {}
    return any(str(custom.get(k)) != v for k, v in values["custom"].items())


async def _with_consent(session: AsyncSession, ids: list[int], *where: Any) -> set[int]:
    if not ids:
        return set()
    found = await session.scalars(
        select(Consent.lead_id).where(Consent.lead_id.in_(ids), *where).distinct()
    )
    return set(found)


_CONSENT_COLUMNS = ("lead_id", "form_id", "text", "text_version", "granted_at", "double_opt_in")


def _consent(
    lead_id: int, form_id: str, text: str, version: str, now: datetime, doi: bool
) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "form_id": form_id,
        "text": text,
        "text_version": version,
        "granted_at": now,
        "double_opt_in": doi,
    }


async def import_rows(
    session: AsyncSession, plan: ImportPlan, rows: Sequence[Row], now: datetime
) -> ImportTotals:
    """Import one chunk of checked rows (each address once, at most CHUNK)."""
    totals = ImportTotals()
    if is_postgres(session):
        # Two imports at once take turns per chunk, so the second sees what the first wrote
        # (no lead counted created twice, no second consent or event); SQLite's one writer
        # does this already.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    forgotten = await forgotten_among(session, [r.email for r in rows], plan.secret)
    for r in rows:
        if r.email in forgotten:
            reason = "the person asked to be forgotten: needs a new, confirmed consent"
            totals.problems.append(Problem(r.line, reason))
    rows = [r for r in rows if r.email not in forgotten]
    found = await session.execute(
        select(Lead.__table__).where(Lead.email.in_([r.email for r in rows]))
    )
    existing = {lead.email: lead for lead in found}
    writes = [r for r in rows if r.email not in existing or changes(existing[r.email], r.values)]
    source = {"utm_source": plan.source[:200], "utm_medium": "import"}  # kept from creation
    upserted = [
        lead
        for part in parts(writes)
        for lead in await upsert_leads(session, [(r.email, r.values, now, source) for r in part])
    ]
    leads = {**existing, **{lead.email: lead for lead, _ in upserted}}
    totals.created = sum(r.email not in existing for r in writes)
    totals.updated = len(writes) - totals.created
    totals.unchanged = len(rows) - len(writes)
    events = [
        event_row(
            leads[r.email].id,
            EventType.IMPORTED,
            now,
            source=plan.source,
            file=plan.file,
            line=r.line,
        )
        for r in writes
    ]
    # A suppressed address stays so: no consent from a file, no drip (only a form lifts it).
    active = [leads[r.email] for r in rows if leads[r.email].suppressed_at is None]
    totals.suppressed = len(rows) - len(active)
    ids = [lead.id for lead in active]
    based: set[int] = set()
    if plan.consent_basis is not None:
        based = set(ids)
        had = await _with_consent(
            session, ids, Consent.form_id == plan.form_id, Consent.text == plan.consent_basis
        )
        version = hashlib.sha256(plan.consent_basis.encode()).hexdigest()[:16]
        new = [
            _consent(i, plan.form_id, plan.consent_basis, version, now, False)
            for i in ids
            if i not in had
        ]
        for part in parts(new):
            await insert_values(session, Consent.__table__, _CONSENT_COLUMNS, part)
        totals.consents = len(new)
        # A subscriber with a consent basis is a lead; a later stage stays where it is.
        staged = [
            StageChange(x.id, x.lifecycle_stage)
            for x in active
            if x.lifecycle_stage == Stage.SUBSCRIBER
        ]
        await change_stage(session, Stage.LEAD, staged, now, via="import", source=plan.source)
    if plan.enrol is not None:
        await _enrol(session, plan, totals, active, based, now)
    await record_events(session, events)
    return totals


async def _never_asked(
    session: AsyncSession, plan: ImportPlan, rows: list[SqlRow[Any]]
) -> list[tuple[SqlRow[Any], int]]:
    """Of these leads, pending in ``plan.enrol``, those whose latest unconfirmed consent of
    the confirm form has no ``confirmation_sent`` since it was granted, with that consent:
    their email failed or never went out (the import's mail goes after its commit)."""
    assert plan.enrol is not None and plan.confirm is not None
    sent = (
        select(Event.id)
        .where(
            Event.lead_id == Consent.lead_id,
            Event.type == EventType.CONFIRMATION_SENT,
            Event.occurred_at >= Consent.granted_at,
        )
        .exists()
    )
    pending = (
        select(Enrollment.id)
        .where(
            Enrollment.lead_id == Consent.lead_id,
            Enrollment.sequence_id == plan.enrol.id,
            Enrollment.state == EnrollmentState.PENDING,
        )
        .exists()
    )
    found = await session.execute(
        select(Consent.lead_id, func.max(Consent.id))
        .where(
            Consent.lead_id.in_([x.id for x in rows]),
            Consent.form_id == plan.confirm.id,
            Consent.double_opt_in.is_(True),
            Consent.confirmed_at.is_(None),
            pending,
            ~sent,
        )
        .group_by(Consent.lead_id)
    )
    by_lead = {x.id: x for x in rows}
    return [(by_lead[lead_id], consent_id) for lead_id, consent_id in found]


async def _enrol(
    session: AsyncSession,
    plan: ImportPlan,
    totals: ImportTotals,
    active: list[SqlRow[Any]],
    based: set[int],
    now: datetime,
) -> None:
    """Enrol those with a consent basis: this import's, or a consent they gave before (not
    double opt-in, or confirmed). The others, with ``plan.confirm``, wait for the double
    opt-in of that form (a consent row per new pending enrollment, its email sent after the
    commit); without it they are only counted."""
    assert plan.enrol is not None
    # Those in the sequence already (enrol_many would skip them, after building their rows).
    known = await session.scalars(
        select(Enrollment.lead_id).where(
            Enrollment.sequence_id == plan.enrol.id,
            Enrollment.lead_id.in_([x.id for x in active]),
        )
    )
    enrolled_before = set(known)
    if plan.confirm is not None and enrolled_before:
        # a run cut short after its commit, or a mail server that was down: asked again
        before = [x for x in active if x.id in enrolled_before]
        totals.confirmations += await _never_asked(session, plan, before)
    # A lead past the sequence's goal (a customer, and a drip that ends at mql) is not enrolled.
    done = goal_stages(plan.enrol)
    totals.at_goal += sum(1 for x in active if x.lifecycle_stage in done)
    active = [x for x in active if x.id not in enrolled_before and x.lifecycle_stage not in done]
    valid = or_(Consent.double_opt_in.is_(False), Consent.confirmed_at.is_not(None))
    given = based or await _with_consent(session, [x.id for x in active], valid)
    ready = [x for x in active if x.id in given]
    waiting = [x for x in active if x.id not in given]
    for part in parts(ready):
        enrolled = await enrol_many(
            session, plan.versions, [(x, [plan.enrol], False, now) for x in part]
        )
        totals.enrolled += len(enrolled)
    if plan.confirm is None:
        totals.no_consent = len(waiting)
        return
    form = plan.confirm
    asked = []
    for part in parts(waiting):
        pending = await enrol_many(
            session, plan.versions, [(x, [plan.enrol], True, now) for x in part]
        )
        asked += [x for x in part if x.id in pending]
    totals.pending = len(asked)
    rows = [
        _consent(x.id, form.id, form.consent.text, form.consent.version, now, True) for x in asked
    ]
    inserted = [
        c
        for part in parts(rows)
        for c in await insert_values(
            session, Consent.__table__, _CONSENT_COLUMNS, part, returning=("id", "lead_id")
        )
    ]
    by_lead = {c.lead_id: c.id for c in inserted}  # RETURNING order is not promised
    totals.confirmations += [(x, by_lead[x.id]) for x in asked]
