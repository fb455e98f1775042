"""The sunset: a lead that went through a sunset sequence without engaging is suppressed
(reason sunset) once ``after`` has passed since it completed; one that engaged is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.journeys.sunset import sunset_quiet
from nurture.journeys.triggers import enrol_triggered
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.ledger.models import Enrollment, EnrollmentState
from tests.journeys.project import mailable_leads, sequence, with_sequences

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_quiet_leads_are_sunset_after_the_wait_engaged_ones_not(settings, tmp_path):
    wake_up = sequence("wake-up", {"inactive_for": "60d"}, sunset={"after": "14d"})
    settings = with_sequences(settings, tmp_path, wake_up)
    project = load_project(settings.config_dir)
    url = settings.database_url.get_secret_value()
    ids = await mailable_leads(settings, 3, NOW - timedelta(days=90))
    quiet, clicked, scanned = ids.values()
    async with session_scope(url) as session:
        assert await enrol_triggered(session, project, NOW) == {"inactive_for": 3}
    await run_pass(build_dispatcher(settings), NOW)  # its one step: sent, completed
    later = NOW + timedelta(hours=2)
    async with session_scope(url) as session:
        states = set((await session.scalars(select(Enrollment.state))).all())
        assert states == {EnrollmentState.COMPLETED}
        await record_events(
            session,
            [
                event_row(clicked, EventType.CLICK, later, sequence_id="wake-up"),
                event_row(scanned, EventType.CLICK, later, machine=MachineReason.HIDDEN_LINK),
            ],
        )
    async with session_scope(url) as session:
        assert await sunset_quiet(session, project, NOW + timedelta(days=13)) == 0
    async with session_scope(url) as session:
        assert await sunset_quiet(session, project, NOW + timedelta(days=14)) == 2
    async with session_scope(url) as session:
        assert await sunset_quiet(session, project, NOW + timedelta(days=15)) == 0
        reasons = dict((await session.execute(select(Lead.id, Lead.suppression_reason))).all())
        events = (await session.scalars(select(Event.data).where(Event.type == "suppressed"))).all()
    assert reasons == {
        quiet: SuppressionReason.SUNSET,
        clicked: None,
        scanned: SuppressionReason.SUNSET,
    }
    assert events == [{"reason": "sunset", "sequence": "wake-up"}] * 2
