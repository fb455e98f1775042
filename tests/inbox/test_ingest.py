"""The inbox pass on a Maildir: what each message becomes, matched to our sends, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.inbox import forward
from nurture.inbox.models import ForwardState, ReplyForward
from nurture.inbox.run import build_context, run_inbox_pass
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.mail.transports import MemoryTransport
from tests.inbox import mail
from tests.inbox.conftest import LATER, deliver, send_welcome


def dmarc_pass(email: str) -> str:
    domain = email.rpartition("@")[2]
    return f"Authentication-Results: mx.planwerk.example; dmarc=pass header.from={domain}"


def with_inbox(settings, maildir):
    return settings.model_copy(update={"inbox_url": SecretStr(f"maildir://{maildir}")})


async def ingest(settings, maildir, now=LATER):
    return await run_inbox_pass(build_context(with_inbox(settings, maildir)), now)


async def events(settings, *types):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(select(Event).where(Event.type.in_(types)).order_by(Event.id))
        return list(rows.scalars())


def outbox(settings):
    name = settings.mail_url.get_secret_value().split("://")[1]
    return MemoryTransport.outboxes.setdefault(name, [])


async def enrollment_states(settings) -> dict[int, tuple[str, str | None]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Enrollment.lead_id, Enrollment.state, Enrollment.exit_reason)
        )
        return {r.lead_id: (r.state, r.exit_reason) for r in rows}


async def test_reply_by_in_reply_to_is_recorded_tied_to_the_send_ends_the_drip_and_is_forwarded(
    settings, maildir
):
    a, b, _ = await send_welcome(settings)
    sent_before = len(outbox(settings))
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))
    report = await ingest(settings, maildir)
    assert (report.replies, report.forwarded, report.unmatched) == (1, 1, 0)
    [replied] = await events(settings, EventType.REPLIED)
    assert (replied.lead_id, replied.touch_id, replied.step_id) == (
        a.lead_id,
        a.touch_id,
        "welcome",
    )
    assert replied.sequence_id == "b2b-nurture"
    assert replied.data["subject"] == "Re: Willkommen, Max"
    # the new text only: no sign-off, signature or quoted original
    assert replied.data["snippet"] == (
        "Hallo Frau Vogt, bitte rufen Sie mich morgen an, wir brauchen das."
    )
    states = await enrollment_states(settings)
    assert states[a.lead_id] == (EnrollmentState.EXITED, EventType.REPLIED)
    assert states[b.lead_id][0] == EnrollmentState.ACTIVE
    # forwarded to the sequence's sender (no owner), Reply-To the lead, the whole text
    [forward] = outbox(settings)[sent_before:]
    assert forward.recipient == "lena.vogt@planwerk.example"
    assert f"Reply-To: {a.email}".encode() in forward.data
    assert b"Auto-Submitted: auto-generated" in forward.data
    assert b"Muster AG" in forward.data  # the forward carries the whole reply
    [done] = await events(settings, EventType.REPLY_FORWARDED)
    assert (done.lead_id, done.touch_id, done.data["to"]) == (
        a.lead_id,
        a.touch_id,
        "lena.vogt@planwerk.example",
    )
    # processed: moved to cur/ with the seen flag
    assert not list((maildir / "new").iterdir())
    [name] = [p.name for p in (maildir / "cur").iterdir()]
    assert name.endswith(":2,S")


async def test_reply_by_references_and_by_sender_address(settings, maildir):
    a, b, c = await send_welcome(settings)
    deliver(
        maildir,
        # a client that keeps only References, ours the oldest in the thread
        mail.reply(a.email, references=f"{a.message_id} <later@mail.example.net>"),
        # a client that drops both: matched by the sender's address (case ignored), which
        # our server authenticated (else anyone could write as the lead, see test_trust.py)
        mail.reply(b.email.upper(), subject="Frage zum Angebot", headers=dmarc_pass(b.email)),
        # someone we never wrote to
        mail.reply("stranger@example.org"),
    )
    report = await ingest(settings, maildir)
    assert (report.replies, report.unmatched) == (2, 1)
    by_lead = {e.lead_id: e for e in await events(settings, EventType.REPLIED)}
    assert by_lead[a.lead_id].touch_id == a.touch_id
    assert by_lead[b.lead_id].touch_id is None  # no send named: the lead only
    states = await enrollment_states(settings)
    assert states[a.lead_id][0] == states[b.lead_id][0] == EnrollmentState.EXITED
    assert states[c.lead_id][0] == EnrollmentState.ACTIVE
    # b's reply still reaches a person: the sender of the lead's latest send's sequence
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = (await session.execute(select(ReplyForward.lead_id, ReplyForward.state))).all()
    assert sorted(rows) == [(a.lead_id, ForwardState.SENT), (b.lead_id, ForwardState.SENT)]


async def test_auto_replies_in_each_signal_are_an_auto_reply_event_only(settings, maildir):
    [a] = await send_welcome(settings, 1)
    signals = [
        ("Auto-Submitted: auto-replied", "Willkommen, Max"),
        ("X-Autoreply: yes", "Willkommen, Max"),
        ("X-Autorespond: Out of office", "Willkommen, Max"),
        ("Precedence: auto_reply", "Willkommen, Max"),
        ("Precedence: bulk", "Willkommen, Max"),
        ("Precedence: junk", "Willkommen, Max"),
        ("", "Abwesenheitsnotiz: Willkommen, Max"),
        ("", "Automatische Antwort: Willkommen, Max"),
        ("", "Out of Office: Willkommen, Max"),
        ("", "Automatic reply: Willkommen, Max"),
        ("", "Frånvaro: Willkommen, Max"),
        ("", "Autosvar: Willkommen, Max"),
    ]
    deliver(maildir, *(mail.auto_reply(a.email, a.message_id, h, s) for h, s in signals))
    report = await ingest(settings, maildir)
    assert (report.auto_replies, report.replies, report.forwarded) == (len(signals), 0, 0)
    recorded = await events(settings, EventType.AUTO_REPLY)
    assert len(recorded) == len(signals)
    assert {e.touch_id for e in recorded} == {a.touch_id}
    assert await events(settings, EventType.REPLIED, EventType.EXITED) == []
    assert (await enrollment_states(settings))[a.lead_id][0] == EnrollmentState.ACTIVE


async def test_dsn_hard_and_soft_and_a_non_standard_bounce(settings, maildir):
    a, b, c = await send_welcome(settings)
    deliver(
        maildir,
        mail.dsn(a.message_id, a.email, "5.1.1"),
        mail.dsn(b.message_id, b.email, "4.2.2"),
        mail.qmail_bounce(c.message_id, c.email),
    )
    report = await ingest(settings, maildir)
    assert (report.hard_bounces, report.soft_bounces, report.unmatched) == (2, 1, 0)
    bounced = {e.lead_id: e for e in await events(settings, EventType.BOUNCED)}
    assert set(bounced) == {a.lead_id, c.lead_id}
    assert bounced[a.lead_id].touch_id == a.touch_id
    assert bounced[c.lead_id].touch_id == c.touch_id  # the quoted original's Message-ID
    assert "5.1.1" in bounced[a.lead_id].data["detail"]
    [soft] = await events(settings, EventType.SOFT_BOUNCED)
    assert (soft.lead_id, soft.touch_id) == (b.lead_id, b.touch_id)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        reasons = dict((await session.execute(select(Lead.id, Lead.suppression_reason))).all())
    assert reasons == {
        a.lead_id: SuppressionReason.BOUNCED,
        b.lead_id: None,
        c.lead_id: SuppressionReason.BOUNCED,
    }
    states = await enrollment_states(settings)
    assert states[a.lead_id][0] == states[c.lead_id][0] == EnrollmentState.EXITED
    assert states[b.lead_id][0] == EnrollmentState.ACTIVE


async def test_arf_complaint_suppresses_as_complained_and_ends_the_drips(settings, maildir):
    a, _ = await send_welcome(settings, 2)
    deliver(maildir, mail.arf(a.message_id, a.email))
    report = await ingest(settings, maildir)
    assert (report.complaints, report.suppressed) == (1, 1)
    [complaint] = await events(settings, EventType.COMPLAINED)
    assert (complaint.lead_id, complaint.touch_id) == (a.lead_id, a.touch_id)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.get(Lead, a.lead_id)
        assert lead.suppression_reason == SuppressionReason.COMPLAINED
    assert (await enrollment_states(settings))[a.lead_id] == (
        EnrollmentState.EXITED,
        SuppressionReason.COMPLAINED,
    )


async def test_a_message_read_twice_records_one_event(settings, maildir):
    [a] = await send_welcome(settings, 1)
    raw = mail.reply(a.email, in_reply_to=a.message_id)
    deliver(maildir, raw)
    await ingest(settings, maildir)
    # the same message again (a copy, or a crash after commit and before marking)
    deliver(maildir, raw)
    again = await ingest(settings, maildir, LATER + timedelta(minutes=5))
    assert (again.read, again.duplicates, again.replies, again.forwarded) == (1, 1, 0, 0)
    assert len(await events(settings, EventType.REPLIED)) == 1
    assert len(await events(settings, EventType.REPLY_FORWARDED)) == 1
    assert not list((maildir / "new").iterdir())  # the copy is marked too


async def test_a_message_without_message_id_is_claimed_by_its_bytes(settings, maildir):
    [a] = await send_welcome(settings, 1)
    raw = mail.reply(a.email, in_reply_to=a.message_id).replace(b"Message-ID:", b"X-No-Id:")
    deliver(maildir, raw, raw)
    report = await ingest(settings, maildir)
    assert (report.replies, report.duplicates) == (1, 1)


async def test_two_concurrent_ingests_record_one_event(settings, maildir):
    leads = await send_welcome(settings, 3)
    deliver(maildir, *(mail.reply(s.email, in_reply_to=s.message_id) for s in leads))
    one, two = await asyncio.gather(ingest(settings, maildir), ingest(settings, maildir))
    assert one.replies + two.replies == 3
    assert len(await events(settings, EventType.REPLIED)) == 3
    assert len(await events(settings, EventType.REPLY_FORWARDED)) == 3
    assert len(await events(settings, EventType.EXITED)) == 3


async def test_a_reply_ends_the_drip_and_a_later_dispatch_sends_nothing_more(settings, maildir):
    [a] = await send_welcome(settings, 1)
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))
    await ingest(settings, maildir)
    # weeks later every step of the drip would be due
    report = await run_pass(build_dispatcher(settings), LATER + timedelta(weeks=8))
    assert report.total("sent") == 0
    async with session_scope(settings.database_url.get_secret_value()) as session:
        states = dict(
            (
                await session.execute(
                    select(Touch.step_id, Touch.state).where(Touch.lead_id == a.lead_id)
                )
            ).all()
        )
    assert states["welcome"] == TouchState.SENT
    assert TouchState.SKIPPED in states.values() and TouchState.SENT not in (
        s for step, s in states.items() if step != "welcome"
    )


async def test_on_reply_continue_keeps_the_drip(settings, maildir, tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    path = config / "sequences" / "b2b-nurture.yaml"
    path.write_text(path.read_text().replace("goals:\n", "on_reply: continue\ngoals:\n", 1))
    custom = settings.model_copy(update={"config_dir": config})
    [a] = await send_welcome(custom, 1)
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))
    report = await ingest(custom, maildir)
    assert (report.replies, report.exited, report.forwarded) == (1, 0, 1)
    assert (await enrollment_states(custom))[a.lead_id][0] == EnrollmentState.ACTIVE


async def test_a_reply_goes_to_the_lead_owner_when_there_is_one(settings, maildir):
    [a] = await send_welcome(settings, 1)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(
            update(Lead).where(Lead.id == a.lead_id).values(owner_email="jonas@planwerk.example")
        )
    before = len(outbox(settings))
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))
    await ingest(settings, maildir)
    assert [m.recipient for m in outbox(settings)[before:]] == ["jonas@planwerk.example"]


async def test_a_failed_forward_is_visible_and_retried_never_sent_twice(settings, maildir, smtp):
    [a] = await send_welcome(settings, 1)
    smtp.handler.behaviour.rcpt["lena.vogt@planwerk.example"] = "451 4.3.0 try again later"
    failing = settings.model_copy(update={"mail_url": SecretStr(smtp.url)})
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))
    first = await ingest(failing, maildir)
    assert (first.replies, first.forwarded, first.forward_failed) == (1, 0, 1)
    [failed] = await events(settings, EventType.REPLY_FORWARD_FAILED)
    assert "451" in failed.data["error"] and failed.touch_id == a.touch_id
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.scalar(select(ReplyForward))
        assert (row.state, row.attempts) == (ForwardState.PENDING, 1)
        assert "451" in row.last_error
    # the server recovers: the next pass (no new mail) sends it, once
    smtp.handler.behaviour.rcpt.clear()
    second = await ingest(failing, maildir, LATER + timedelta(minutes=1))
    third = await ingest(failing, maildir, LATER + timedelta(minutes=2))
    assert (second.forwarded, third.forwarded) == (1, 0)
    assert [m.rcpt_tos for m in smtp.messages] == [["lena.vogt@planwerk.example"]]
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.scalar(select(ReplyForward))
        assert (row.state, row.body) == (ForwardState.SENT, None)  # the text is not kept


class Died(Exception):
    pass


async def test_a_forward_claimed_by_a_process_that_died_is_in_doubt_and_never_resent(
    settings, maildir
):
    [a] = await send_welcome(settings, 1)
    deliver(maildir, mail.reply(a.email, in_reply_to=a.message_id))

    async def claims_then_dies(c, now):
        await forward._claim(c.db_url, now, 10)
        raise Died  # before the mail server's answer is recorded: it may have the mail

    with pytest.raises(Died):
        await run_inbox_pass(
            build_context(with_inbox(settings, maildir)), LATER, forward=claims_then_dies
        )
    before = len(outbox(settings))
    soon = await ingest(settings, maildir, LATER + timedelta(minutes=1))
    later = await ingest(settings, maildir, LATER + timedelta(hours=1))
    assert (soon.forwarded, soon.forwards_in_doubt) == (0, 0)  # may still be sending
    assert (later.forwarded, later.forwards_in_doubt) == (0, 1)
    assert len(outbox(settings)) == before
    assert await events(settings, EventType.REPLY_FORWARDED) == []
    assert len(await events(settings, EventType.REPLIED)) == 1


async def test_a_forward_refused_for_good_or_unbuildable_fails_at_once_and_visibly(
    settings, maildir, smtp
):
    a, b = await send_welcome(settings, 2)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(
            update(Lead).where(Lead.id == a.lead_id).values(owner_email="gone@planwerk.example")
        )
        await session.execute(
            update(Lead).where(Lead.id == b.lead_id).values(owner_email="Jonas, Vertrieb")
        )
    smtp.handler.behaviour.rcpt["gone@planwerk.example"] = "550 5.1.1 no such user"
    failing = settings.model_copy(update={"mail_url": SecretStr(smtp.url)})
    deliver(
        maildir,
        mail.reply(a.email, in_reply_to=a.message_id),
        mail.reply(b.email, in_reply_to=b.message_id),
    )
    report = await ingest(failing, maildir)
    assert (report.replies, report.forwarded, report.forward_failed) == (2, 0, 2)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = {r.lead_id: r for r in (await session.execute(select(ReplyForward))).scalars()}
    assert rows[a.lead_id].state == ForwardState.FAILED and "5.1.1" in rows[a.lead_id].last_error
    assert rows[b.lead_id].state == ForwardState.FAILED
    assert "cannot build the forward" in rows[b.lead_id].last_error
    assert len(await events(settings, EventType.REPLY_FORWARD_FAILED)) == 2
    again = await ingest(failing, maildir, LATER + timedelta(minutes=5))
    assert (again.forwarded, again.forward_failed) == (0, 0)  # not retried
    assert smtp.messages == []
