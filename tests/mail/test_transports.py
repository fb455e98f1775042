"""The SMTP transport (its DATA step byte for byte as aiosmtplib's: tests/compat) and how it
classifies a connection lost at each stage of a message."""

from __future__ import annotations

import asyncio

import pytest

from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import SendResult, transport_from_url
from tests.smtp_server import SmtpServer


async def test_dotted_lines_and_bare_line_ends_arrive_intact(smtp: SmtpServer) -> None:
    body = b"Subject: dots\r\n\r\n.\r\n..\r\n.end\r\nbare\nlf\rcr"
    message = OutgoingMessage("news@example.com", "lead@example.com", body, "<m1@example.com>")
    transport = transport_from_url(smtp.url)
    try:
        [result] = await transport.send([message])
    finally:
        await transport.close()
    assert result.status == "sent"
    [received] = smtp.messages
    assert received.data == b"Subject: dots\r\n\r\n.\r\n..\r\n.end\r\nbare\r\nlf\r\ncr\r\n"


async def _server_that_hangs_up(
    at: bytes, after_content: bytes = b"250 queued\r\n"
) -> asyncio.Server:
    """A bare SMTP server on loopback that closes the connection on the line ``at`` and
    answers ``after_content`` to a message's content."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test\r\n")
        in_data = False
        while line := await reader.readline():
            if line.upper().startswith(at) and not in_data:
                writer.close()
                return
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    if at == b".":
                        writer.close()
                        return
                    writer.write(after_content)
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                in_data = True
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                writer.close()
                return
            else:
                writer.write(b"250 OK\r\n")

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _send_one_to(server: asyncio.Server) -> SendResult:
    """One small message over one connection to ``server``; closes both."""
    port = server.sockets[0].getsockname()[1]
    message = OutgoingMessage(
        "news@example.com", "lead@example.com", b"Subject: x\r\n\r\nhi\r\n", "<m2@example.com>"
    )
    transport = transport_from_url(f"smtp://127.0.0.1:{port}?pool=1&timeout=5")
    try:
        [result] = await transport.send([message])
    finally:
        await transport.close()
        server.close()
    return result


@pytest.mark.parametrize(
    ("hang_up_at", "status"),
    [
        (b"RCPT", "retry"),  # before the content: nothing can have been delivered
        (b"DATA", "retry"),  # the DATA command, before the 354: still nothing
        (b".", "in_doubt"),  # after the content, before the reply: it may have been delivered
    ],
)
async def test_a_dropped_connection_is_classified_by_how_far_the_message_got(
    hang_up_at: bytes, status: str
) -> None:
    result = await _send_one_to(await _server_that_hangs_up(hang_up_at))
    assert result.status == status, result


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"252 2.0.0 accepted\r\n", "sent"),  # any 2xx
        (b"452 4.3.1 out of memory\r\n", "retry"),
        (b"554 5.7.1 rejected\r\n", "bounced"),
        (b"ok, got it\r\n", "in_doubt"),  # malformed: it may have been accepted
        (b"354 again?\r\n", "in_doubt"),  # not a reply to the content at all
    ],
)
async def test_the_reply_to_the_content_is_classified(reply: bytes, status: str) -> None:
    result = await _send_one_to(await _server_that_hangs_up(b"NEVER", after_content=reply))
    assert result.status == status, result
