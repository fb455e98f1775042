"""Saving preferences: set-based, idempotent, one event per save that changes something, and
opting out of a topic ends that topic's drips (only those)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Enrollment, EnrollmentState
from nurture.preferences.models import Pause, TopicOptOut
from nurture.preferences.service import (
    PAUSE,
    TOPIC_OPTED_OUT,
    Choice,
    preferences_of,
    set_preferences,
    topics,
)
from tests.factories import enrolled_leads
from tests.preferences.project import NEWS, NURTURE, with_topics

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BOTH = frozenset({NURTURE, NEWS})


async def lead_ids(settings) -> list[int]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return list((await session.scalars(select(Lead.id).order_by(Lead.id))).all())


async def save(settings, choices: list[Choice], now: datetime) -> dict[int, dict]:
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await set_preferences(session, project, choices, now, via="page")


async def preference_events(settings) -> list[Event]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        query = select(Event).where(Event.type == EventType.PREFERENCES_CHANGED)
        return list((await session.scalars(query.order_by(Event.id))).all())


def test_the_topics_are_those_of_the_sequences(settings, tmp_path):
    assert topics(load_project(with_topics(settings, tmp_path).config_dir)) == [NEWS, NURTURE]
    assert topics(load_project(settings.config_dir)) == []  # the shared fixture has none


async def test_a_save_records_what_changed_once_and_a_replay_nothing(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 2, MONDAY)
    one, other = await lead_ids(settings)
    choice = Choice(one, BOTH, frozenset({NEWS}), pause=True)
    assert await save(settings, [choice], MONDAY) == {
        one: {"opted_out": [NURTURE], "paused_until": MONDAY + PAUSE}
    }
    assert await save(settings, [choice], MONDAY + timedelta(hours=1)) == {}  # replayed
    [event] = await preference_events(settings)
    assert (event.lead_id, event.occurred_at) == (one, MONDAY)
    assert event.data == {
        "via": "page",
        "opted_out": [NURTURE],
        "paused_until": (MONDAY + PAUSE).isoformat(),
    }
    async with session_scope(settings.database_url.get_secret_value()) as session:
        held = await preferences_of(session, [one, other], MONDAY + timedelta(days=1))
    assert held[one].opted_out == {NURTURE: MONDAY} and held[one].paused_until == MONDAY + PAUSE
    assert not held[other].opted_out and held[other].paused_until is None


async def test_a_replayed_pause_keeps_its_end_and_unticking_lifts_it(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 1, MONDAY)
    [lead] = await lead_ids(settings)
    pause = Choice(lead, BOTH, BOTH, pause=True)
    await save(settings, [pause], MONDAY)
    assert await save(settings, [pause], MONDAY + timedelta(days=10)) == {}  # not extended
    lifted = await save(settings, [Choice(lead, BOTH, BOTH, pause=False)], MONDAY + timedelta(1))
    assert lifted == {lead: {"pause_lifted": True}}
    again = await save(settings, [pause], MONDAY + timedelta(days=2))
    assert again == {lead: {"paused_until": MONDAY + timedelta(days=2) + PAUSE}}
    # a pause that ran out is none: ticking the box starts a new one
    later = MONDAY + timedelta(days=40)
    assert await save(settings, [pause], later) == {lead: {"paused_until": later + PAUSE}}
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert (await session.scalars(select(Pause.paused_until))).all() == [later + PAUSE]
    assert len(await preference_events(settings)) == 4


async def test_opting_out_ends_that_topics_drips_and_opting_in_deletes_the_row(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 1, MONDAY)
    await enrolled_leads(settings, 1, MONDAY, sequence_id="news")
    [lead] = await lead_ids(settings)
    await save(settings, [Choice(lead, BOTH, frozenset({NEWS}), pause=False)], MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        drips = {
            e.sequence_id: (e.state, e.exit_reason)
            for e in (await session.scalars(select(Enrollment))).all()
        }
    assert drips == {
        "b2b-nurture": (EnrollmentState.EXITED, TOPIC_OPTED_OUT),
        "news": (EnrollmentState.ACTIVE, None),
    }
    back = await save(settings, [Choice(lead, BOTH, BOTH, pause=False)], MONDAY + timedelta(1))
    assert back == {lead: {"opted_in": [NURTURE]}}
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert not (await session.scalars(select(TopicOptOut))).all()


async def test_topics_the_page_did_not_offer_stay_as_they_were(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 1, MONDAY)
    [lead] = await lead_ids(settings)
    await save(settings, [Choice(lead, BOTH, frozenset({NEWS}), pause=False)], MONDAY)
    # a page loaded before NURTURE existed offered NEWS only: NURTURE stays opted out
    only_news = Choice(lead, frozenset({NEWS}), frozenset({NEWS}), pause=False)
    assert await save(settings, [only_news], MONDAY + timedelta(1)) == {}


async def test_many_leads_in_one_save(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 30, MONDAY)
    ids = await lead_ids(settings)
    choices = [Choice(i, BOTH, frozenset({NEWS}), pause=i % 2 == 0) for i in ids]
    changed = await save(settings, choices, MONDAY)
    assert len(changed) == 30 and len(await preference_events(settings)) == 30
    async with session_scope(settings.database_url.get_secret_value()) as session:
        exited = await session.scalars(
            select(Enrollment.exit_reason).where(Enrollment.state == EnrollmentState.EXITED)
        )
        assert exited.all() == [TOPIC_OPTED_OUT] * 30
        assert len((await session.scalars(select(Pause))).all()) == 15


async def test_two_saves_at_once_record_one_change(settings, tmp_path):
    """A double click or a replay racing the first post: the lead's row lock serialises them
    and the second sees the first's change."""
    settings = with_topics(settings, tmp_path)
    await enrolled_leads(settings, 1, MONDAY)
    [lead] = await lead_ids(settings)
    choice = Choice(lead, BOTH, frozenset(), pause=True)
    results = await asyncio.gather(*(save(settings, [choice], MONDAY) for _ in range(3)))
    assert sorted(bool(r) for r in results) == [False, False, True]
    assert len(await preference_events(settings)) == 1
