"""The SMTP transport's own DATA path: byte for byte what aiosmtplib would send."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import transport_from_url, wire_data
from tests.smtp_server import SmtpServer


def aiosmtplib_wire(data: bytes) -> bytes:
    """What aiosmtplib's ``execute_data_command`` writes for ``data``."""
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"


@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"..x", b" "]), max_size=40))
def test_wire_data_matches_aiosmtplib_for_any_line_ends_and_dots(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert wire_data(data) == aiosmtplib_wire(data)


def test_wire_data_of_a_built_message_only_stuffs_dots() -> None:
    data = b"Subject: x\r\n\r\n.hidden\r\nline\r\n..two\r\n"
    assert wire_data(data) == b"Subject: x\r\n\r\n..hidden\r\nline\r\n...two\r\n.\r\n"


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
