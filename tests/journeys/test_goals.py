"""A goal reached ends the drip; an event goal counts what a person did, not a scanner."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.config.project import load_project
from nurture.config.sequences import Goal
from nurture.db import session_scope
from nurture.journeys.goals import apply_goals
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.leads.models import Lead
from nurture.ledger.models import Enrollment, EnrollmentState
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def project_with_goal(settings, event: str):
    project = load_project(settings.config_dir)
    sequence = project.sequences["b2b-nurture"]
    changed = sequence.model_copy(update={"goals": [Goal(event=event)]})
    return dataclasses.replace(project, sequences={**project.sequences, sequence.id: changed})


async def states(settings) -> dict[str, str]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Lead.email, Enrollment.state).join(Enrollment, Enrollment.lead_id == Lead.id)
        )
        return dict(rows.all())


async def test_a_scanners_click_reaches_no_goal_a_persons_does(settings):
    scanned, person = await enrolled_leads(settings, 2, MONDAY)
    project = project_with_goal(settings, EventType.CLICK)
    at = MONDAY + timedelta(hours=1)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = dict((await session.execute(select(Lead.email, Lead.id))).all())
        await record_events(
            session,
            [
                event_row(ids[scanned], EventType.CLICK, at, machine=MachineReason.HIDDEN_LINK),
                event_row(ids[person], EventType.CLICK, at, url="https://planwerk.example"),
            ],
        )
        assert await apply_goals(session, project, at) == 1
    assert await states(settings) == {
        scanned: EnrollmentState.ACTIVE,
        person: EnrollmentState.EXITED,
    }


async def test_a_reply_goal_ends_the_drip(settings):
    [lead] = await enrolled_leads(settings, 1, MONDAY)
    project = project_with_goal(settings, EventType.REPLIED)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_id = await session.scalar(select(Lead.id))
        assert await apply_goals(session, project, MONDAY) == 0
        await record_events(session, [event_row(lead_id, EventType.REPLIED, MONDAY, subject="Re")])
        assert await apply_goals(session, project, MONDAY) == 1
    assert await states(settings) == {lead: EnrollmentState.EXITED}
