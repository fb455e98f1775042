"""Capture as a service (no HTTP): what a form post does to a lead that already exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from nurture.capture.service import Submission, capture_many, prepare
from nurture.config.forms import FormConfig
from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.leads.stages import Stage

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def filled(form: FormConfig, email: str) -> dict[str, str]:
    """A valid post of ``form``: every field filled in as a person would."""
    values = {}
    for f in form.fields:
        if f.type == "checkbox":
            values[f.name] = "on"
        elif f.type == "select":
            values[f.name] = (f.options or ["x"])[0]
        elif f.type == "tel":
            values[f.name] = "+49 30 1234567"
        else:
            values[f.name] = "Max"
    return {**values, "email": email, "consent": "on"}


async def post(settings, form: FormConfig, email: str, at: datetime) -> None:
    project = load_project(settings.config_dir)
    prepared = prepare(project, Submission(form.id, filled(form, email), at))
    assert prepared is not None
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await capture_many(session, project, [prepared], settings.resolved_secret_key())


@pytest.mark.parametrize("stage", [Stage.MQL, Stage.SQL, Stage.CUSTOMER, Stage.RECYCLED])
async def test_a_form_post_never_moves_a_lead_back_down_the_funnel(settings, stage):
    form = next(iter(load_project(settings.config_dir).forms.values()))
    await post(settings, form, "max@example.com", NOW)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(update(Lead).values(lifecycle_stage=stage, email_verified_at=NOW))
    await post(settings, form, "max@example.com", NOW + timedelta(days=1))
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead))
        changes = (
            await session.scalars(select(Event).where(Event.type == EventType.STAGE_CHANGED))
        ).all()
    assert lead.lifecycle_stage == stage
    assert [c.data["stage"] for c in changes] == ([] if form.double_opt_in else [Stage.LEAD])


async def test_a_verified_subscriber_becomes_a_lead_with_one_stage_event(settings):
    form = next(iter(load_project(settings.config_dir).forms.values()))
    await post(settings, form, "max@example.com", NOW)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(update(Lead).values(email_verified_at=NOW))
    await post(settings, form, "max@example.com", NOW + timedelta(days=1))
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead))
        changes = (
            await session.scalars(select(Event).where(Event.type == EventType.STAGE_CHANGED))
        ).all()
    assert lead.lifecycle_stage == Stage.LEAD
    assert [(c.data["stage"], c.data["previous"]) for c in changes][-1:] == [
        (Stage.LEAD, Stage.SUBSCRIBER)
    ]
    assert len(changes) == 1


async def test_form_posts_written_together_keep_each_its_own_time(settings):
    """A group commit writes many posts in one transaction: each lead's stage change still
    carries the time of its own post."""
    project = load_project(settings.config_dir)
    form = next(iter(project.forms.values()))
    for email in ("a@example.com", "b@example.com"):
        await post(settings, form, email, NOW)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(update(Lead).values(email_verified_at=NOW))
    times = {"a@example.com": NOW + timedelta(hours=1), "b@example.com": NOW + timedelta(hours=2)}
    batch = [prepare(project, Submission(form.id, filled(form, e), t)) for e, t in times.items()]
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await capture_many(
            session, project, [p for p in batch if p is not None], settings.resolved_secret_key()
        )
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Lead.email, Lead.updated_at, Event.occurred_at)
            .join(Event, Event.lead_id == Lead.id)
            .where(Event.type == EventType.STAGE_CHANGED, Event.occurred_at > NOW)
        )
        got = {email: (updated, occurred) for email, updated, occurred in rows}
    assert got == {e: (t, t) for e, t in times.items()}
