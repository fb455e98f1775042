"""Anyone can mail the inbox: what a message says about a lead counts only when it names one
of our sends (or, for a reply by address, when our server authenticated the From domain);
and no message, however broken, keeps the others from being recorded."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from sqlalchemy import select

from nurture.db import session_scope
from nurture.inbox import classify
from nurture.inbox.ingest import UNVERIFIED
from nurture.inbox.models import ReplyForward
from nurture.leads.events import EventType
from nurture.leads.models import Lead
from nurture.ledger.models import EnrollmentState
from tests.inbox import mail
from tests.inbox.conftest import deliver, send_welcome
from tests.inbox.test_ingest import dmarc_pass, enrollment_states, events, ingest, outbox

FOREIGN = "<not-ours.1@attacker.example>"


async def suppression(settings) -> dict[int, str | None]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return dict((await session.execute(select(Lead.id, Lead.suppression_reason))).all())


def without_message_id(raw: bytes, original_id: str) -> bytes:
    return raw.replace(f"Message-ID: {original_id}\r\n".encode(), b"")


async def test_a_report_quoting_a_message_id_not_ours_records_nothing(settings, maildir):
    a, b, c = await send_welcome(settings)
    deliver(
        maildir,
        mail.dsn(FOREIGN, a.email, "5.1.1"),  # a forged bounce naming a lead's address
        mail.arf(FOREIGN, b.email),  # a forged complaint
        without_message_id(mail.arf(c.message_id, c.email), c.message_id),  # names no send
    )
    report = await ingest(settings, maildir)
    assert (report.hard_bounces, report.complaints, report.unmatched) == (0, 0, 3)
    assert await events(settings, EventType.BOUNCED, EventType.COMPLAINED) == []
    assert set((await suppression(settings)).values()) == {None}
    assert {s for s, _ in (await enrollment_states(settings)).values()} == {EnrollmentState.ACTIVE}


async def test_a_bounce_quoting_no_message_id_is_matched_by_its_recipient(settings, maildir):
    a, b = await send_welcome(settings, 2)
    deliver(
        maildir,
        without_message_id(mail.dsn(a.message_id, a.email, "5.1.1"), a.message_id),
        mail.dsn(b.message_id, b.email, "5.1.1"),  # ours: the send
    )
    report = await ingest(settings, maildir)
    assert (report.hard_bounces, report.unmatched) == (2, 0)
    bounced = {e.lead_id: e.touch_id for e in await events(settings, EventType.BOUNCED)}
    assert bounced == {a.lead_id: None, b.lead_id: b.touch_id}


async def test_delay_warnings_record_nothing_however_many(settings, maildir):
    [a] = await send_welcome(settings, 1)
    warnings = [mail.dsn(a.message_id, a.email, "4.4.7", action="delayed") for _ in range(5)]
    deliver(maildir, *warnings)
    report = await ingest(settings, maildir)
    assert (report.notices, report.soft_bounces, report.suppressed) == (5, 0, 0)
    assert await events(settings, EventType.SOFT_BOUNCED, EventType.BOUNCED) == []


async def test_a_read_receipt_records_nothing(settings, maildir):
    [a] = await send_welcome(settings, 1)
    receipt = mail.reply(a.email, in_reply_to=a.message_id).replace(
        b"Content-Type: text/plain;",
        b"Content-Type: multipart/report; report-type=disposition-notification; x=",
    )
    deliver(maildir, receipt)
    report = await ingest(settings, maildir)
    assert (report.notices, report.replies) == (1, 0)
    assert await events(settings, EventType.REPLIED, EventType.EXITED) == []


async def test_a_reply_by_address_only_counts_only_when_the_from_is_authenticated(
    settings, maildir
):
    a, b = await send_welcome(settings, 2)
    sent_before = len(outbox(settings))
    forged = "Authentication-Results: mx.planwerk.example; dmarc=fail header.from=example.com"
    deliver(
        maildir,
        mail.reply(a.email, subject="Bitte anrufen", headers=dmarc_pass(a.email)),
        mail.reply(b.email, subject="Bitte abmelden", headers=forged),
    )
    report = await ingest(settings, maildir)
    assert (report.replies, report.unverified, report.unmatched) == (1, 1, 0)
    assert [e.lead_id for e in await events(settings, EventType.REPLIED)] == [a.lead_id]
    states = await enrollment_states(settings)
    assert (states[a.lead_id][0], states[b.lead_id][0]) == (
        EnrollmentState.EXITED,
        EnrollmentState.ACTIVE,
    )
    # the unverified one still reaches a person, who is told it counted for nothing
    forwards = outbox(settings)[sent_before:]
    assert len(forwards) == 2
    [doubtful] = [text(f.data) for f in forwards if "Bitte abmelden" in text(f.data)]
    [trusted] = [text(f.data) for f in forwards if "Bitte anrufen" in text(f.data)]
    assert UNVERIFIED.strip() in doubtful and UNVERIFIED.strip() not in trusted


async def test_a_colleagues_reply_is_forwarded_with_reply_to_the_colleague(settings, maildir):
    [a] = await send_welcome(settings, 1)
    sent_before = len(outbox(settings))
    colleague = "eva.berg@kunde.example"
    deliver(maildir, mail.reply(colleague, in_reply_to=a.message_id))
    report = await ingest(settings, maildir)
    assert report.replies == 1
    [replied] = await events(settings, EventType.REPLIED)
    assert replied.lead_id == a.lead_id
    [forward] = outbox(settings)[sent_before:]
    assert f"Reply-To: {colleague}".encode() in forward.data
    assert f"Reply-To: {a.email}".encode() not in forward.data
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = (await session.execute(select(ReplyForward.from_name))).scalar_one()
    assert row == "Max Muster (via nurture)"


def text(data: bytes) -> str:
    return message_from_bytes(data, policy=default).get_body(("plain",)).get_content()


def broken(sender: str, in_reply_to: str) -> bytes:
    """NUL raw and encoded, a lone surrogate through UTF-7, in every field we store."""
    return (
        f"From: =?utf-8?q?Max=00?= <{sender}>\r\n"
        "Subject: =?utf-8?q?Re:_Hallo=00?= =?utf-7?q?+2AA-?=\r\n"
        "Message-ID: <broken.1@example.com>\r\n"
        f"In-Reply-To: {in_reply_to}\r\n"
        "Content-Type: text/plain; charset=utf-7\r\n\r\n"
        "Ja+2AA-, gerne\x00 morgen.\r\n"
    ).encode()


async def test_nul_and_lone_surrogates_are_recorded_cleaned(settings, maildir):
    a, b = await send_welcome(settings, 2)
    deliver(maildir, broken(a.email, a.message_id), mail.reply(b.email, in_reply_to=b.message_id))
    report = await ingest(settings, maildir)
    assert (report.replies, report.unreadable, report.forwarded) == (2, 0, 2)
    by_lead = {e.lead_id: e.data for e in await events(settings, EventType.REPLIED)}
    assert by_lead[a.lead_id] == {"subject": "Re: Hallo", "snippet": "Ja, gerne morgen."}


async def test_a_message_the_database_refuses_is_unreadable_and_the_batch_goes_on(
    settings, maildir, monkeypatch
):
    # Should a value the database refuses ever get past the cleaning (here: the cleaning
    # taken away), that message alone is set aside; the rest of its batch is recorded.
    monkeypatch.setattr(classify, "clean", lambda text: text)
    a, b = await send_welcome(settings, 2)
    deliver(maildir, broken(a.email, a.message_id), mail.reply(b.email, in_reply_to=b.message_id))
    report = await ingest(settings, maildir)
    assert (report.replies, report.unreadable, report.read) == (1, 1, 2)
    assert [e.lead_id for e in await events(settings, EventType.REPLIED)] == [b.lead_id]
    assert not list((maildir / "new").iterdir())  # both marked: nothing blocks the inbox
    again = await ingest(settings, maildir)
    assert again.read == 0
