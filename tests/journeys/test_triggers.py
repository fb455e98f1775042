"""Each trigger kind enrols exactly the leads its rule names (docs/lifecycle.md), only leads
that may be mailed, once per entry whatever the number of passes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.journeys.triggers import enrol_triggered
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.leads.models import SuppressionReason
from nurture.leads.service import StageChange, change_stage, suppress
from nurture.leads.stages import Stage
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment
from tests.journeys.project import lead_ids_in, mailable_leads, sequence, with_sequences

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def run(settings, now=NOW):
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await enrol_triggered(session, project, now)


async def write(settings, fn):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await fn(session)


async def test_stage_reached_recently_and_still_there(settings, tmp_path):
    settings = with_sequences(settings, tmp_path, sequence("onboarding", {"stage": "customer"}))
    ids = await mailable_leads(settings, 5, NOW - timedelta(days=90))
    new, old, back, _stays_lead, quiet = ids.values()

    async def stages(session):
        await change_stage(session, Stage.CUSTOMER, [StageChange(new, "lead")], NOW)
        long_ago = NOW - timedelta(days=30)  # before the catch-up window: not enrolled
        await change_stage(session, Stage.CUSTOMER, [StageChange(old, "lead")], long_ago)
        await change_stage(session, Stage.CUSTOMER, [StageChange(back, "lead")], NOW)
        await change_stage(session, Stage.CUSTOMER, [StageChange(quiet, "lead")], NOW)
        await change_stage(session, Stage.RECYCLED, [StageChange(back, "customer")], NOW)
        await suppress(session, {quiet: {}}, SuppressionReason.UNSUBSCRIBED, NOW)

    await write(settings, stages)
    assert await run(settings) == {"stage": 1}
    assert await lead_ids_in(settings, "onboarding") == [(new, 1)]
    assert await run(settings, NOW + timedelta(hours=1)) == {}


async def test_event_with_properties(settings, tmp_path):
    trigger = {
        "event": "custom.webinar_registered",
        "properties": {"webinar": "q1", "paid": True, "seats": 3},
    }
    settings = with_sequences(settings, tmp_path, sequence("webinar", trigger))
    ids = await mailable_leads(settings, 4, NOW - timedelta(days=1))
    match, other, wrong_type, old = ids.values()
    kind = "custom.webinar_registered"

    async def events(session):
        good = {"webinar": "q1", "paid": True, "seats": 3}
        await record_events(
            session,
            [
                event_row(match, kind, NOW, **good),
                event_row(other, kind, NOW, **{**good, "webinar": "q2"}),
                event_row(wrong_type, kind, NOW, **{**good, "seats": "3", "paid": "true"}),
                event_row(old, kind, NOW - timedelta(days=8), **good),
            ],
        )

    await write(settings, events)
    assert await run(settings) == {"event": 1}
    assert await lead_ids_in(settings, "webinar") == [(match, 1)]


async def test_a_scanners_click_triggers_nothing(settings, tmp_path):
    settings = with_sequences(settings, tmp_path, sequence("clicked", {"event": "click"}))
    ids = await mailable_leads(settings, 2, NOW - timedelta(days=1))
    scanner, person = ids.values()

    async def clicks(session):
        await record_events(
            session,
            [
                event_row(scanner, EventType.CLICK, NOW, machine=MachineReason.KNOWN_AGENT),
                event_row(person, EventType.CLICK, NOW),
            ],
        )

    await write(settings, clicks)
    await run(settings)
    assert await lead_ids_in(settings, "clicked") == [(person, 1)]


async def test_inactive_for(settings, tmp_path):
    settings = with_sequences(settings, tmp_path, sequence("wake-up", {"inactive_for": "60d"}))
    ids = await mailable_leads(settings, 5, NOW - timedelta(days=90))
    quiet, visited, machine_only, custom = list(ids.values())[:4]
    [young] = (await mailable_leads(settings, 1, NOW - timedelta(days=10), "young")).values()
    await mailable_leads(settings, 1, NOW - timedelta(days=90), "unconfirmed", unconfirmed=True)

    async def events(session):
        recent = NOW - timedelta(days=10)
        await record_events(
            session,
            [
                event_row(quiet, EventType.OPEN, NOW - timedelta(days=70)),
                event_row(quiet, EventType.SENT, recent),  # our mail is no engagement
                event_row(visited, EventType.PAGE, recent, url="https://planwerk.example"),
                event_row(machine_only, EventType.OPEN, recent, machine=MachineReason.BOT),
                event_row(custom, "custom.demo_booked", recent),
            ],
        )
        await suppress(session, {list(ids.values())[4]: {}}, SuppressionReason.BOUNCED, NOW)

    await write(settings, events)
    assert await run(settings) == {"inactive_for": 2}
    assert await lead_ids_in(settings, "wake-up") == [(quiet, 1), (machine_only, 1)]
    assert young not in dict(await lead_ids_in(settings, "wake-up"))


async def test_date_field_with_offset_once_per_date(settings, tmp_path):
    trigger = {"date_field": "custom.renewal_date", "offset": "-30d"}
    settings = with_sequences(settings, tmp_path, sequence("renewal", trigger, reenter="1d"))
    dates = {
        "due": "2026-12-23",  # 30 days ahead: today is 30 days before
        "missed": "2026-12-20T10:00:00",  # passed 3 days ago, within the catch-up window
        "later": "2026-12-24",
        "ancient": "2019-12-23",
        "garbage": "23.12.2026",
    }
    ids = {}
    for name, date in dates.items():
        made = await mailable_leads(
            settings, 1, NOW - timedelta(days=200), name, custom={"renewal_date": date}
        )
        ids[name] = next(iter(made.values()))
    assert await run(settings) == {"date_field": 2}
    assert await lead_ids_in(settings, "renewal") == [(ids["due"], 1), (ids["missed"], 1)]

    async def end(session):
        await exit_matching(session, [Enrollment.sequence_id == "renewal"], "test", NOW)

    await write(settings, end)
    # reenter 1d lets them in again, but not for the same date
    assert await run(settings, NOW + timedelta(days=2)) == {"date_field": 1}
    assert (ids["later"], 1) in await lead_ids_in(settings, "renewal")


async def test_reenter_never_and_after_a_period(settings, tmp_path):
    kind = "custom.trial_started"
    settings = with_sequences(
        settings,
        tmp_path,
        sequence("once", {"event": kind}),
        sequence("again", {"event": kind}, reenter="180d"),
    )
    [lead] = (await mailable_leads(settings, 1, NOW)).values()

    async def event_at(at):
        async def fn(session):
            await record_events(session, [event_row(lead, kind, at)])

        await write(settings, fn)

    await event_at(NOW)
    assert await run(settings) == {"event": 2}

    async def end(session):
        await exit_matching(session, [Enrollment.lead_id == lead], "test", NOW)

    await write(settings, end)
    soon = NOW + timedelta(days=10)
    await event_at(soon)
    assert await run(settings, soon) == {}
    late = NOW + timedelta(days=181)
    await event_at(late)
    assert await run(settings, late) == {"event": 1}
    assert await lead_ids_in(settings, "again") == [(lead, 1), (lead, 2)]
    assert await lead_ids_in(settings, "once") == [(lead, 1)]
    # the new entry is live: a further event starts nothing while it runs
    await event_at(late + timedelta(days=1))
    assert await run(settings, late + timedelta(days=1)) == {}


async def test_two_passes_at_once_enrol_once(settings, tmp_path):
    settings = with_sequences(settings, tmp_path, sequence("wake-up", {"inactive_for": "60d"}))
    await mailable_leads(settings, 30, NOW - timedelta(days=90))
    await asyncio.gather(run(settings), run(settings))
    entries = await lead_ids_in(settings, "wake-up")
    assert len(entries) == 30 and {e for _, e in entries} == {1}


async def test_a_lead_past_the_sequence_s_goal_is_not_enrolled(settings, tmp_path):
    """A quiet SQL and a re-engagement that ends at mql: enrolled, it would get the first
    touch before the next pass ended the drip."""
    wake_up = sequence("wake-up", {"inactive_for": "60d"}, goals=[{"stage": "mql"}])
    settings = with_sequences(settings, tmp_path, wake_up)
    quiet, sales = (await mailable_leads(settings, 2, NOW - timedelta(days=90))).values()

    async def promote(session):
        await change_stage(session, Stage.SQL, [StageChange(sales, Stage.LEAD)], NOW)

    await write(settings, promote)
    assert await run(settings) == {"inactive_for": 1}
    assert await lead_ids_in(settings, "wake-up") == [(quiet, 1)]
