"""Dispatch over a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from nurture.db import session_scope
from nurture.dispatch.batch import DispatchFailed
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Enrollment, Touch, TouchState
from tests.factories import enrolled_leads, touch_states

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


@pytest.fixture
def smtp_settings(settings, smtp):
    return settings.model_copy(update={"mail_url": SecretStr(smtp.url)})


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
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
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
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
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
    down = smtp_settings.model_copy(update={"mail_url": SecretStr("smtp://127.0.0.1:1?timeout=2")})
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
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
        touch = await session.scalar(
            select(Touch).join(Lead, Lead.id == Touch.lead_id).where(Lead.email == emails[1])
        )
        assert touch.state == TouchState.IN_DOUBT


async def test_suppressed_lead_is_skipped_with_a_reason(smtp_settings, smtp):
    emails = await enrolled_leads(smtp_settings, 2, MONDAY)
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead).where(Lead.email == emails[0]))
        lead.suppressed_at, lead.suppression_reason = MONDAY, "unsubscribed"
    report = await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert report.total("skipped") == 1 and report.total("sent") == 1
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
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


async def test_a_refused_greeting_fails_the_pass_and_bounces_no_one(smtp_settings, smtp):
    await enrolled_leads(smtp_settings, 3, MONDAY)
    smtp.handler.behaviour.refuse_greeting = "550 5.7.1 your HELO name is not welcome"
    with pytest.raises(DispatchFailed, match="refused our greeting: 550"):
        await run_pass(build_dispatcher(smtp_settings), MONDAY)
    assert await touch_states(smtp_settings) == {TouchState.SCHEDULED: 3}
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
        assert not (
            await session.scalars(select(Lead).where(Lead.suppressed_at.is_not(None)))
        ).all()
    smtp.handler.behaviour.refuse_greeting = ""
    assert (await run_pass(build_dispatcher(smtp_settings), MONDAY)).total("sent") == 3


async def test_replies_to_the_content_other_than_250(smtp_settings, smtp):
    """Any 2xx is sent; 421 (server closing) is a retry on a fresh connection for the rest."""
    emails = await enrolled_leads(smtp_settings, 4, MONDAY)
    smtp.handler.behaviour.data[emails[0]] = "251 2.0.0 accepted, will forward"
    smtp.handler.behaviour.data[emails[1]] = "421 4.3.2 shutting down"
    settings = smtp_settings.model_copy(update={"mail_url": SecretStr(smtp.url + "&pool=1")})
    report = await run_pass(build_dispatcher(settings), MONDAY)
    assert report.total("sent") == 3 and report.total("retrying") == 1
    assert len(smtp.messages) == 2  # the two accepted with 250 (the 251 is not recorded)


async def test_a_refused_sender_fails_the_pass_and_counts_no_attempt(smtp_settings, smtp):
    """Our sender address refused (5xx to MAIL FROM) is the same for every lead: the pass
    fails with the reason and no lead's drip pays for it."""
    await enrolled_leads(smtp_settings, 3, MONDAY)
    smtp.handler.behaviour.refuse_sender = "553 5.7.1 sender not allowed"
    with pytest.raises(DispatchFailed, match="refused the sender"):
        await run_pass(build_dispatcher(smtp_settings), MONDAY)
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
        touches = (await session.scalars(select(Touch))).all()
        assert {(t.state, t.attempts) for t in touches} == {(TouchState.SCHEDULED, 0)}


async def test_4xx_until_the_last_attempt_ends_this_drip_only(smtp_settings, smtp):
    [email] = await enrolled_leads(smtp_settings, 1, MONDAY)
    smtp.handler.behaviour.temporary_times[email] = 10
    settings = smtp_settings.model_copy(update={"max_attempts": 2})
    assert (await run_pass(build_dispatcher(settings), MONDAY)).total("retrying") == 1
    later = await run_pass(build_dispatcher(settings), MONDAY + timedelta(hours=1))
    assert later.total("bounced") == 1
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead).where(Lead.email == email))
        assert lead.suppressed_at is None  # a soft bounce says nothing final about the address
        enrollment = await session.scalar(select(Enrollment))
        assert (enrollment.state, enrollment.exit_reason) == ("exited", "soft_bounce")
        exited = await session.scalar(select(Event).where(Event.type == "exited"))
        assert exited is not None and exited.data["reason"] == "soft_bounce"
