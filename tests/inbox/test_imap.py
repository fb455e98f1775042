"""The inbox pass against a real IMAP server (dovecot, started by the suite): IMAPS and
STARTTLS with a self-signed certificate, \\Seen as the processed mark, and an unreachable
inbox that fails with the reason and marks nothing."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from nurture.db import session_scope
from nurture.inbox.run import build_context, run_inbox_pass
from nurture.inbox.sources import InboxUnavailable, source_from_url
from nurture.leads.events import EventType
from nurture.leads.models import Event
from tests.inbox import mail
from tests.inbox.conftest import LATER, send_welcome
from tests.smtp_server import free_port


def imap_settings(settings, url: str):
    return settings.model_copy(update={"inbox_url": SecretStr(url)})


async def replied(settings) -> list[Event]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return list(
            (await session.scalars(select(Event).where(Event.type == EventType.REPLIED))).all()
        )


@pytest.mark.parametrize("tls", ["imaps", "starttls"])
async def test_replies_and_bounces_from_imap_are_recorded_and_marked_seen(settings, imap, tls):
    a, b = await send_welcome(settings, 2)
    imap.append(
        mail.reply(a.email, in_reply_to=a.message_id),
        mail.dsn(b.message_id, b.email),
        mail.auto_reply(a.email, a.message_id, "Auto-Submitted: auto-replied", "Urlaub"),
    )
    report = await run_inbox_pass(build_context(imap_settings(settings, imap.url(tls))), LATER)
    assert (report.read, report.replies, report.hard_bounces, report.auto_replies) == (3, 1, 1, 1)
    assert report.forwarded == 1
    assert imap.seen() == (3, 0)
    [event] = await replied(settings)
    assert (event.lead_id, event.touch_id) == (a.lead_id, a.touch_id)
    # a second pass finds nothing unseen
    again = await run_inbox_pass(build_context(imap_settings(settings, imap.url(tls))), LATER)
    assert again.read == 0


async def test_a_message_marked_unseen_again_records_nothing_new(settings, imap):
    [a] = await send_welcome(settings, 1)
    imap.append(mail.reply(a.email, in_reply_to=a.message_id))
    url = imap.url("plain")
    await run_inbox_pass(build_context(imap_settings(settings, url)), LATER)
    client = imap.client()  # someone reads the inbox and marks it unread again
    client.remove_flags(client.search(["ALL"]), [b"\\Seen"])
    client.logout()
    report = await run_inbox_pass(build_context(imap_settings(settings, url)), LATER)
    assert (report.read, report.duplicates, report.replies) == (1, 1, 0)
    assert len(await replied(settings)) == 1
    assert imap.seen() == (1, 0)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("wrong-password", "login to imap://"),
        ("refused", "Connection refused"),
    ],
)
async def test_an_unreachable_inbox_fails_with_the_reason_and_marks_nothing(
    settings, imap, url, reason
):
    [a] = await send_welcome(settings, 1)
    imap.append(mail.reply(a.email, in_reply_to=a.message_id))
    target = (
        imap.url("plain", password="wrong")
        if url == "wrong-password"
        else imap.url("plain", port=free_port())
    )
    with pytest.raises(InboxUnavailable, match=reason) as failed:
        await run_inbox_pass(build_context(imap_settings(settings, target)), LATER)
    assert "wrong" not in str(failed.value)  # the password is masked
    assert imap.seen() == (0, 1)
    assert await replied(settings) == []
    # once the inbox can be reached, nothing was lost
    report = await run_inbox_pass(build_context(imap_settings(settings, imap.url("plain"))), LATER)
    assert report.replies == 1


async def test_a_folder_that_is_no_maildir_is_an_error(tmp_path):
    with pytest.raises(InboxUnavailable, match="not a Maildir"):
        await source_from_url(f"maildir://{tmp_path}").open()


def test_inbox_urls_are_read_and_bad_ones_named():
    imaps = source_from_url("imaps://u%40x.de:p%40ss@mail.example.com/Replies?cafile=/ca.pem")
    assert (imaps.host, imaps.port, imaps.username, imaps.password, imaps.folder) == (
        "mail.example.com",
        993,
        "u@x.de",
        "p@ss",
        "Replies",
    )
    assert imaps.tls and imaps.cafile == "/ca.pem" and "p@ss" not in imaps.display
    plain = source_from_url("imap://u:p@mail.example.com")
    # STARTTLS required: a man in the middle could strip its offer from the capabilities
    assert (plain.port, plain.tls, plain.starttls, plain.folder) == (143, False, "yes", "INBOX")
    for local in ("localhost", "127.0.0.1", "[::1]", "LOCALHOST"):
        assert source_from_url(f"imap://u:p@{local}").starttls == "auto"
    assert source_from_url("imap://u:p@mail.example.com?starttls=no").starttls == "no"
    assert source_from_url("imap://u:p@mail.example.com?starttls=auto").starttls == "auto"
    for bad, words in [
        ("pop3://u:p@host", "unknown inbox URL scheme"),
        ("imap://host/INBOX", "give user"),
        ("imap://u:p@host/?starttls=maybe", "starttls"),
    ]:
        with pytest.raises(ValueError, match=words):
            source_from_url(bad)


def with_attachment(raw: bytes, size: int = 2_000_000) -> bytes:
    """A reply with its text first and a large attachment after, as mail clients send it."""
    head, _, body = raw.partition(b"\r\n\r\n")
    head = head.replace(b"Content-Type: text/plain", b"X-Was: text/plain").replace(
        b"Content-Transfer-Encoding: 8bit\r\n", b""
    )
    blob = (b"QUJD" * (size // 4 + 1))[:size]
    lines = b"\r\n".join(blob[i : i + 76] for i in range(0, len(blob), 76))
    return (
        head
        + b'\r\nContent-Type: multipart/mixed; boundary="M"\r\n\r\n--M\r\n'
        + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
        + b"\r\n--M\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        + b"Content-Disposition: attachment; filename=a.pdf\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + lines
        + b"\r\n--M--\r\n"
    )


async def test_of_a_huge_message_only_the_start_is_read_from_imap_and_maildir(imap, maildir):
    from nurture.inbox.classify import classify_bytes
    from nurture.inbox.sources import MAX_BYTES
    from tests.inbox.conftest import deliver

    raw = with_attachment(mail.reply("max@example.com", in_reply_to="<x@planwerk.example>"))
    assert len(raw) > 3 * MAX_BYTES
    imap.append(raw)
    deliver(maildir, raw)
    for url in (imap.url("plain"), f"maildir://{maildir}"):
        source = source_from_url(url)
        await source.open()
        try:
            [(_, read)] = await source.read(await source.pending())
        finally:
            await source.close()
        assert read == raw[:MAX_BYTES]
        found = classify_bytes(read)
        assert found.snippet.startswith("Hallo Frau Vogt, bitte rufen Sie mich morgen an")
