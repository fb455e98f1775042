"""One lead's profile (``nurture leads show``): typed, and as JSON with its schema (the text:
tests/handoff/test_handoff.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
from sqlalchemy import select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.leads.models import Lead
from nurture.preferences.service import PAUSE, Choice, set_preferences
from nurture.reporting.lead import lead_profile, profile_json, profile_text
from nurture.reporting.lead_models import LeadProfile, Owner, ScoreRule
from nurture.reporting.schemas import schema
from tests.factories import enrolled_leads
from tests.handoff.test_handoff import MONDAY, qualified
from tests.preferences.project import NEWS, NURTURE, with_topics


async def handed_off(settings) -> LeadProfile:
    """A qualified lead offered to a rep: stage mql, a pending hand-off, its drip ended."""
    await qualified(settings, 1)
    await run_handoff_pass(build_context(settings), MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        profile = await lead_profile(session, "LEAD0@firma.de ")
    assert profile is not None
    return profile


async def test_the_profile_has_the_lead_its_owner_score_drips_and_timeline(settings):
    p = await handed_off(settings)
    assert (p.lead.email, p.lead.lifecycle_stage, p.lead.job_title) == (
        "lead0@firma.de",
        "mql",
        "CEO",
    )
    rep = "jonas.albrecht@planwerk.example"
    assert p.owner == Owner(email=rep, pending=True)
    assert p.handoff is not None
    assert (p.handoff.state, p.handoff.rep_email, p.handoff.score) == ("pending", rep, 58)
    assert p.score.total == 58
    assert ScoreRule(rule="senior-title", kind="fit", points=15.0) in p.score.rules
    [drip] = p.enrollments
    assert (drip.sequence_id, drip.state, drip.exit_reason) == ("b2b-nurture", "exited", "goal_mql")
    types = [e.type for e in p.timeline]
    assert {"handed_off", "stage_changed", "click"} <= set(types)
    assert [e.occurred_at for e in p.timeline] == sorted(
        (e.occurred_at for e in p.timeline), reverse=True
    )


async def test_the_json_validates_against_its_schema_and_hides_the_row_id(settings):
    p = await handed_off(settings)
    data = json.loads(profile_json(p))
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.Draft202012Validator(schema("lead-profile"), format_checker=checker).validate(data)
    assert LeadProfile.model_validate(data) == p
    assert "id" not in data["lead"] and len(data["lead"]["public_id"]) == 32
    assert data["lead"]["created_at"] == p.lead.created_at.isoformat()


async def test_no_profile_for_an_unknown_address(settings):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await lead_profile(session, "nobody@firma.de") is None


async def test_every_open_and_click_shows_its_verdict_and_the_replies_are_listed(settings):
    await handed_off(settings)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead.id))
        at = MONDAY + timedelta(days=1)
        await record_events(
            session,
            [
                event_row(
                    lead,
                    EventType.OPEN,
                    at,
                    sequence_id="b2b-nurture",
                    step_id="problem",
                    machine=MachineReason.AT_DELIVERY,
                ),
                event_row(
                    lead,
                    EventType.REPLIED,
                    at,
                    sequence_id="b2b-nurture",
                    step_id="problem",
                    subject="Re: Marge",
                    snippet="Bitte rufen Sie an",
                ),
            ],
        )
    async with session_scope(settings.database_url.get_secret_value()) as session:
        p = await lead_profile(session, "lead0@firma.de")
    verdicts = {(h.type, h.verdict, h.machine) for h in p.engagement}
    assert ("open", "machine", "at_delivery") in verdicts
    assert ("click", "human", None) in verdicts  # what `qualified` made it do
    [reply] = p.replies
    assert reply.data == {"subject": "Re: Marge", "snippet": "Bitte rufen Sie an"}
    text = profile_text(p)
    assert "machine: at_delivery" in text and "human" in text
    assert "replies: 1" in text and "Re: Marge: Bitte rufen Sie an" in text
    assert LeadProfile.model_validate(json.loads(profile_json(p))) == p


async def test_the_profile_shows_the_preferences(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 1, MONDAY)
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_id = await session.scalar(select(Lead.id))
        choice = Choice(lead_id, frozenset({NURTURE, NEWS}), frozenset({NEWS}), pause=True)
        await set_preferences(session, project, [choice], MONDAY, via="page")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        p = await lead_profile(session, "lead0@example.com")
    assert [(o.topic, o.opted_out_at) for o in p.preferences.opted_out] == [(NURTURE, MONDAY)]
    assert p.preferences.paused_until == MONDAY + PAUSE
    text = profile_text(p)
    assert f"topics opted out: {NURTURE} (since {MONDAY:%Y-%m-%d})" in text
    assert f"paused until: {MONDAY + PAUSE:%Y-%m-%d %H:%M} UTC" in text
    data = json.loads(profile_json(p))
    assert data["preferences"]["opted_out"][0]["topic"] == NURTURE
