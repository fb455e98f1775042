"""Importing checked rows: what is created, updated or unchanged, and what an import never
touches (consent, suppressions, a later stage, the forgotten)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import func, select

from nurture.capture.service import confirm
from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.imports.mapping import build_map, check_records
from nurture.imports.reader import read_csv
from nurture.imports.run import ImportRun, run_import
from nurture.imports.service import ImportPlan, parts
from nurture.leads.events import EventType
from nurture.leads.forgotten import Forgotten, address_key
from nurture.leads.models import Consent, Event, Lead, SuppressionReason
from nurture.leads.service import StageChange, change_stage, suppress, upsert_leads
from nurture.leads.stages import Stage
from nurture.ledger.models import Enrollment, EnrollmentState, Touch
from nurture.mail.transports import MemoryTransport

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
FAIR = (
    "E-Mail;Vorname;Nachname;Firma\r\n"
    "j.mueller@example.de;Jürgen;Müller;Bäckerei Groß\r\n"
    "kein-at-zeichen;A;B;C\r\n"
    "J.Mueller@Example.de;Doppelt;;\r\n"
    "s.weiss@example.de;Sören;Weiß;Straßenbau Nord\r\n"
)
BASIS = "Messe-Kontaktformular 2026, Einwilligung schriftlich"


async def imported(
    settings,
    tmp_path,
    text: str = FAIR,
    *,
    basis: str | None = None,
    enrol: str | None = None,
    confirm_form: str | None = None,
    dry_run: bool = False,
    now: datetime = NOW,
) -> tuple[ImportRun, list[int]]:
    """Import ``text`` (written in cp1252) as the command does; returns the run and the lines
    of every problem."""
    path = tmp_path / "messe.csv"
    path.write_bytes(text.encode("cp1252"))
    project = load_project(settings.config_dir)
    file = read_csv(path)
    rows, problems = check_records(file.records(), build_map(file.header, {}, False), 4)
    plan = ImportPlan(
        "messe-2026",
        path.name,
        settings.resolved_secret_key(),
        project.versions,
        basis,
        project.sequences[enrol] if enrol else None,
        project.forms[confirm_form] if confirm_form else None,
    )
    run = await run_import(settings, project, plan, rows, now, dry_run=dry_run)
    return run, sorted(p.line for p in problems + run.totals.problems)


async def counts(settings) -> dict[str, int]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return {
            table.__tablename__: await session.scalar(select(func.count()).select_from(table))
            for table in (Lead, Consent, Event, Enrollment, Touch)
        }


async def lead(settings, email: str) -> Lead:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        found = await session.scalar(select(Lead).where(Lead.email == email))
        assert found is not None
        return found


async def existing(settings, email: str) -> int:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        [(row, _)] = await upsert_leads(session, [(email, {"first_name": "Alt"}, NOW, None)])
        return row.id


async def test_bad_rows_are_reported_and_the_rest_imported(settings, tmp_path):
    run, problems = await imported(settings, tmp_path)
    assert problems == [3, 4]
    t = run.totals
    assert (t.created, t.updated, t.unchanged, t.enrolled, t.consents) == (2, 0, 0, 0, 0)
    weiss = await lead(settings, "s.weiss@example.de")
    assert (weiss.first_name, weiss.last_name, weiss.company) == (
        "Sören",
        "Weiß",
        "Straßenbau Nord",
    )
    assert (weiss.utm_source, weiss.utm_medium, weiss.lifecycle_stage) == (
        "messe-2026",
        "import",
        Stage.SUBSCRIBER,
    )
    async with session_scope(settings.database_url.get_secret_value()) as session:
        events = (await session.scalars(select(Event).order_by(Event.id))).all()
    assert [(e.type, e.data) for e in events] == [
        (EventType.IMPORTED, {"source": "messe-2026", "file": "messe.csv", "line": 2}),
        (EventType.IMPORTED, {"source": "messe-2026", "file": "messe.csv", "line": 5}),
    ]


async def test_the_same_file_twice_changes_nothing(settings, tmp_path):
    await imported(settings, tmp_path, basis=BASIS, enrol="b2b-nurture")
    before = await counts(settings)
    again, _ = await imported(settings, tmp_path, basis=BASIS, enrol="b2b-nurture")
    t = again.totals
    assert (t.created, t.updated, t.unchanged, t.consents, t.enrolled) == (0, 0, 2, 0, 0)
    assert await counts(settings) == before
    changed = FAIR.replace("Straßenbau Nord", "Straßenbau Süd")
    third, _ = await imported(settings, tmp_path, changed, basis=BASIS, enrol="b2b-nurture")
    assert (third.totals.updated, third.totals.unchanged) == (1, 1)
    assert (await lead(settings, "s.weiss@example.de")).company == "Straßenbau Süd"


async def test_an_import_cannot_resubscribe_an_unsubscribed_address(settings, tmp_path):
    lead_id = await existing(settings, "s.weiss@example.de")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await suppress(session, {lead_id: {}}, SuppressionReason.UNSUBSCRIBED, NOW)
    run, _ = await imported(settings, tmp_path, basis=BASIS, enrol="b2b-nurture")
    assert (run.totals.suppressed, run.totals.enrolled, run.totals.consents) == (1, 1, 1)
    weiss = await lead(settings, "s.weiss@example.de")
    assert weiss.suppression_reason == SuppressionReason.UNSUBSCRIBED
    assert weiss.first_name == "Sören"  # the profile may change, the suppression not
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert not await session.scalar(select(func.count()).where(Consent.lead_id == lead_id))
        assert not await session.scalar(select(func.count()).where(Enrollment.lead_id == lead_id))


async def test_a_later_stage_is_not_moved_back(settings, tmp_path):
    lead_id = await existing(settings, "s.weiss@example.de")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await change_stage(session, Stage.MQL, [StageChange(lead_id, Stage.SUBSCRIBER)], NOW)
    await imported(settings, tmp_path, basis=BASIS)
    assert (await lead(settings, "s.weiss@example.de")).lifecycle_stage == Stage.MQL
    # a new lead with a consent basis is a lead, in nurture
    assert (await lead(settings, "j.mueller@example.de")).lifecycle_stage == Stage.LEAD


async def test_a_lead_past_the_sequence_s_goal_is_not_enrolled(settings, tmp_path):
    """b2b-nurture ends at mql: a customer in the file gets no first nurture touch."""
    lead_id = await existing(settings, "s.weiss@example.de")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await change_stage(session, Stage.CUSTOMER, [StageChange(lead_id, Stage.SUBSCRIBER)], NOW)
    run, _ = await imported(settings, tmp_path, basis=BASIS, enrol="b2b-nurture")
    assert (run.totals.enrolled, run.totals.at_goal) == (1, 1)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        enrolled = (await session.scalars(select(Enrollment.lead_id))).all()
    assert lead_id not in enrolled and len(enrolled) == 1


async def test_no_one_is_enrolled_without_a_consent_basis(settings, tmp_path):
    run, _ = await imported(settings, tmp_path, enrol="b2b-nurture")
    assert (run.totals.enrolled, run.totals.no_consent) == (0, 2)
    assert (await counts(settings))["enrollments"] == 0


async def test_with_a_basis_each_lead_gets_its_consent_and_the_drip(settings, tmp_path):
    run, _ = await imported(settings, tmp_path, basis=BASIS, enrol="b2b-nurture")
    assert (run.totals.consents, run.totals.enrolled) == (2, 2)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        consents = (await session.scalars(select(Consent))).all()
        states = (await session.scalars(select(Enrollment.state))).all()
    assert {(c.form_id, c.text, c.granted_at, c.double_opt_in) for c in consents} == {
        ("import:messe-2026", BASIS, NOW, False)
    }
    assert states == [EnrollmentState.ACTIVE] * 2
    # another basis from the same source is recorded as well (what each person agreed to)
    later, _ = await imported(settings, tmp_path, basis=BASIS + ", erneuert", enrol="b2b-nurture")
    assert (later.totals.consents, later.totals.enrolled) == (2, 0)


async def test_a_dry_run_writes_nothing(settings, tmp_path):
    await existing(settings, "s.weiss@example.de")
    before = await counts(settings)
    run, problems = await imported(
        settings, tmp_path, basis=BASIS, enrol="b2b-nurture", dry_run=True
    )
    t = run.totals
    assert (t.created, t.updated, t.consents, t.enrolled, problems) == (1, 1, 2, 2, [3, 4])
    assert await counts(settings) == before
    assert (await lead(settings, "s.weiss@example.de")).first_name == "Alt"


async def test_a_forgotten_address_is_refused(settings, tmp_path):
    key = address_key("s.weiss@example.de", settings.resolved_secret_key())
    async with session_scope(settings.database_url.get_secret_value()) as session:
        session.add(Forgotten(key=key, forgotten_at=NOW - timedelta(days=3)))
    run, problems = await imported(settings, tmp_path, basis=BASIS, enrol="b2b-nurture")
    assert problems == [3, 4, 5] and run.totals.created == 1
    [refused] = [p for p in run.totals.problems if p.line == 5]
    assert "asked to be forgotten" in refused.reason
    async with session_scope(settings.database_url.get_secret_value()) as session:
        emails = (await session.scalars(select(Lead.email))).all()
    assert emails == ["j.mueller@example.de"]


async def test_without_a_basis_the_form_s_double_opt_in_is_sent_once(settings, tmp_path):
    outbox = MemoryTransport.outboxes.setdefault(settings.mail_url.get_secret_value()[9:], [])
    consented = await existing(settings, "s.weiss@example.de")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        session.add(
            Consent(
                lead_id=consented,
                form_id="leitfaden",
                text="ja",
                text_version="1",
                granted_at=NOW,
                double_opt_in=False,
            )
        )
    run, _ = await imported(settings, tmp_path, enrol="b2b-nurture", confirm_form="leitfaden")
    assert (run.totals.enrolled, run.totals.pending, run.sent) == (1, 1, 1)
    assert [m.recipient for m in outbox] == ["j.mueller@example.de"]
    again, _ = await imported(settings, tmp_path, enrol="b2b-nurture", confirm_form="leitfaden")
    assert (again.totals.pending, again.sent, len(outbox)) == (0, 0, 1)
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        pending = await session.scalar(select(Consent).where(Consent.double_opt_in.is_(True)))
        assert pending is not None and pending.form_id == "leitfaden"
        events = (await session.scalars(select(Event.type))).all()
        assert events.count(EventType.CONFIRMATION_SENT) == 1
        secret = settings.resolved_secret_key()
        _, _, started = await confirm(
            session, project, pending.id, None, "Mozilla/5.0", NOW, timedelta(days=7), secret
        )
    assert started == ["b2b-nurture"]


async def test_a_confirmation_that_failed_is_sent_by_running_the_import_again(settings, tmp_path):
    """The import's emails go after its commit: a mail server that was down (or a run cut
    short there) leaves leads pending and never asked; the same command again asks them,
    once."""
    down = settings.model_copy(update={"mail_url": SecretStr("smtp://127.0.0.1:9?timeout=2")})
    first, _ = await imported(down, tmp_path, enrol="b2b-nurture", confirm_form="leitfaden")
    assert (first.totals.pending, first.sent, first.failed) == (2, 0, 2)
    outbox = MemoryTransport.outboxes.setdefault(settings.mail_url.get_secret_value()[9:], [])
    again, _ = await imported(settings, tmp_path, enrol="b2b-nurture", confirm_form="leitfaden")
    assert (again.totals.pending, again.sent) == (0, 2)
    assert sorted(m.recipient for m in outbox) == ["j.mueller@example.de", "s.weiss@example.de"]
    third, _ = await imported(settings, tmp_path, enrol="b2b-nurture", confirm_form="leitfaden")
    assert (third.sent, len(outbox)) == (0, 2)


async def test_two_imports_of_one_file_at_once_write_it_once(settings, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = await asyncio.gather(
        imported(settings, tmp_path / "a", basis=BASIS, enrol="b2b-nurture"),
        imported(settings, tmp_path / "b", basis=BASIS, enrol="b2b-nurture"),
    )
    assert first[0].totals.created + second[0].totals.created == 2
    assert first[0].totals.unchanged + second[0].totals.unchanged == 2
    assert await counts(settings) == {
        "leads": 2,
        "consents": 2,
        "events": 2 + 2 + 2,  # imported, stage_changed, enrolled
        "enrollments": 2,
        "sends": 2,
    }


def test_rows_are_written_in_parts_of_fixed_sizes():
    assert [len(p) for p in parts(list(range(1000)))] == [512, 256, 128, 64, 32, 8]
    assert [len(p) for p in parts(list(range(3)))] == [2, 1] and parts([]) == []
