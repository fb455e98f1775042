"""Dispatch over a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.db import session_scope
from nurture.dispatch.batch import DispatchFailed
from nurture.dispatch.models import Touch, TouchState
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Event, Lead
from nurture.sequences.models import Enrollment
from tests.factories import enrolled_leads, touch_states

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


@pytest.fixture
def smtp_settings(settings, smtp):
    return settings.model_copy(update={"mail_url": smtp.url})


async def test_first_touch_goes_out_once_to_every_enrolled_lead(smtp_settings, smtp):
    emails = await enrolled_leads(smtp_settings, 30, MONDAY)
    report = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert report.total("sent") == 30
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(emails)
    again = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert again.claimed == 0 and len(smtp.messages) == 30
    states = await touch_states(smtp_settings)
    assert states == {TouchState.SENT: 30, TouchState.SCHEDULED: 30}  # step 2 scheduled


async def test_two_dispatchers_at_once_send_nothing_twice(smtp_settings, smtp):
    await enrolled_leads(smtp_settings, 200, MONDAY)
    settings = smtp_settings.model_copy(update={"dispatch_batch_size": 20})
    reports = await asyncio.gather(
        run_pass(build_dispatcher(settings), MONDAY), run_pass(build_dispatcher(settings), MONDAY)
    )
    rcpts = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(rcpts) == 200 and max(rcpts.values()) == 1
    assert sum(r.total("sent") for r in reports) == 200


async def test_4xx_is_retried_later_then_sent(smtp_settings, smtp):
    [email] = await enrolled_leads(smtp_settings, 1, MONDAY)
    smtp.handler.behaviour.temporary_times[email] = 1
    first = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert first.total("retrying") == 1 and not smtp.messages
    async with session_scope(smtp_settings.database_url) as session:
        touch = await session.scalar(select(Touch))
        assert touch.state == TouchState.RETRYING and touch.attempts == 1
        assert touch.due_at == MONDAY + timedelta(seconds=smtp_settings.retry_base_seconds)
    assert (await run_pass(build_dispatcher(smtp_settings), MONDAY)).claimed == 0  # not yet due
    later = await run_pass(build_dispatcher(smtp_settings), MONDAY + timedelta(hours=1))
    assert later.total("sent") == 1 and len(smtp.handler.to(email)) == 1


async def test_5xx_bounces_suppresses_and_ends_the_drip(smtp_settings, smtp):
    emails = await enrolled_leads(smtp_settings, 3, MONDAY)
    smtp.handler.behaviour.rcpt[emails[0]] = "550 5.1.1 user unknown"
    report = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert report.total("bounced") == 1 and report.total("sent") == 2
    async with session_scope(smtp_settings.database_url) as session:
        lead = await session.scalar(select(Lead).where(Lead.email == emails[0]))
        assert lead.suppression_reason == "bounced"
        enrollment = await session.scalar(select(Enrollment).where(Enrollment.lead_id == lead.id))
        assert enrollment.state == "exited" and enrollment.exit_reason == "bounced"
        pending = await session.scalars(select(Touch).where(Touch.lead_id == lead.id))
        assert [t.state for t in pending] == [TouchState.BOUNCED]
    # Weeks later: the others get their next touches, the bounced address nothing.
    await run_pass(build_dispatcher(smtp_settings), MONDAY + timedelta(days=30))
    assert not smtp.handler.to(emails[0])
    assert len(smtp.handler.to(emails[1])) == 2


async def test_unreachable_smtp_fails_the_pass_and_loses_nothing(smtp_settings, smtp):
    await enrolled_leads(smtp_settings, 5, MONDAY)
    down = smtp_settings.model_copy(update={"mail_url": "smtp://127.0.0.1:1?timeout=2"})
    with pytest.raises(DispatchFailed, match="cannot reach SMTP"):
        await run_pass(build_dispatcher(down), MONDAY)
    assert await touch_states(smtp_settings) == {TouchState.SCHEDULED: 5}
    report = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert report.total("sent") == 5


async def test_connection_dropped_in_data_is_in_doubt_not_resent(smtp_settings, smtp):
    emails = await enrolled_leads(smtp_settings, 3, MONDAY)
    smtp.handler.behaviour.drop_in_data.add(emails[1])
    report = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert report.total("in_doubt") == 1 and report.total("sent") == 2
    await run_pass(build_dispatcher(smtp_settings), MONDAY + timedelta(days=30))
    async with session_scope(smtp_settings.database_url) as session:
        touch = await session.scalar(
            select(Touch).join(Lead, Lead.id == Touch.lead_id).where(Lead.email == emails[1])
        )
        assert touch.state == TouchState.IN_DOUBT


async def test_suppressed_lead_is_skipped_with_a_reason(smtp_settings, smtp):
    emails = await enrolled_leads(smtp_settings, 2, MONDAY)
    async with session_scope(smtp_settings.database_url) as session:
        lead = await session.scalar(select(Lead).where(Lead.email == emails[0]))
        lead.suppressed_at, lead.suppression_reason = MONDAY, "unsubscribed"
    report = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert report.total("skipped") == 1 and report.total("sent") == 1
    async with session_scope(smtp_settings.database_url) as session:
        kinds = (await session.scalars(select(Event.type).where(Event.lead_id == lead.id))).all()
        assert "exited" in kinds


async def test_hostile_lead_data_arrives_as_text(smtp_settings, smtp):
    await enrolled_leads(
        smtp_settings,
        1,
        MONDAY,
        first_name="{{ 7*7 }}<b>x</b>\r\nBcc: a@b.c",
        company="=?utf-8?q?Evil=0D=0ABcc=3A_a=40b=2Ec?=",
    )
    await run_pass(build_dispatcher(smtp_settings), MONDAY)
    [received] = smtp.messages
    msg = received.parsed()
    assert msg["Bcc"] is None
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "{{ 7*7 }}" in text  # printed as data, never evaluated
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
