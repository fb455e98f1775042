"""nurture.compat.aiosmtplib against the installed aiosmtplib: the private parts it uses exist
with the signatures it calls, and our DATA step puts on the wire exactly what aiosmtplib's own
would. A failure here means aiosmtplib changed underneath: read the module's docstring."""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import aiosmtplib
import pytest
from aiosmtplib.protocol import SMTPProtocol
from hypothesis import given
from hypothesis import strategies as st

from nurture.compat.aiosmtplib import send_content, wire_data


def test_the_major_version_is_the_one_the_module_was_checked_against() -> None:
    assert version("aiosmtplib").split(".")[0] == "5", "re-check nurture/compat/aiosmtplib.py"


def test_the_private_parts_exist_with_the_signatures_we_call() -> None:
    from aiosmtplib.protocol import normalize_message_line_endings

    assert list(inspect.signature(normalize_message_line_endings).parameters) == ["message"]
    assert list(inspect.signature(SMTPProtocol.write).parameters) == ["self", "data"]
    read = inspect.signature(SMTPProtocol.read_response).parameters
    assert list(read) == ["self", "timeout"] and read["timeout"].default is None
    assert inspect.iscoroutinefunction(SMTPProtocol.read_response)
    assert aiosmtplib.SMTP().protocol is None  # an attribute, set by connect()


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


class BareServer:
    """An SMTP server on loopback that keeps each message's DATA bytes as they came over the
    wire (dots still doubled) and answers ``reply`` to the content; ``b""`` hangs up instead."""

    def __init__(self, reply: bytes = b"250 queued\r\n") -> None:
        self.reply = reply
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                data = b""
                while (line := await reader.readline()) != b".\r\n":
                    data += line
                self.received.append(data + b".\r\n")
                if not self.reply:
                    writer.close()
                    return
                writer.write(self.reply)
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                writer.close()
                return
            else:
                writer.write(b"250 OK\r\n")

    async def client(self) -> aiosmtplib.SMTP:
        """A client connected and greeted, its envelope sent up to the server's 354."""
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await client.connect()
        await client.ehlo()
        await client.mail("news@example.com")
        await client.rcpt("lead@example.com")
        return client

    async def envelope(self, client: aiosmtplib.SMTP) -> None:
        response = await client.execute_command(b"DATA")
        assert response.code == 354

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


BODY = b"Subject: dots\r\n\r\n.\r\n..\r\n.end\r\nbare\nlf\rcr"


async def test_send_content_sends_what_aiosmtplib_data_sends_and_returns_the_reply() -> None:
    server = BareServer(b"250 2.0.0 queued as 7\r\n")
    client = await server.client()
    try:
        await client.data(BODY)  # aiosmtplib's own DATA
        await client.mail("news@example.com")
        await client.rcpt("lead@example.com")
        await server.envelope(client)
        response = await send_content(client, BODY)
        assert (response.code, response.message) == (250, "2.0.0 queued as 7")
        assert client.is_connected  # the connection goes on to the next message
        await client.quit()
    finally:
        server.close()
    theirs, ours = server.received
    assert ours == theirs == wire_data(BODY)


@pytest.mark.parametrize("reply", [b"554 5.7.1 rejected\r\n", b"452 4.3.1 full\r\n"])
async def test_send_content_raises_the_refusal_with_its_code(reply: bytes) -> None:
    server = BareServer(reply)
    client = await server.client()
    try:
        await server.envelope(client)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send_content(client, BODY)
        assert refused.value.code == int(reply[:3])
    finally:
        client.close()
        server.close()


async def test_a_connection_lost_after_the_content_raises_and_closes_the_client() -> None:
    server = BareServer(reply=b"")
    client = await server.client()
    try:
        await server.envelope(client)
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await send_content(client, BODY)
        assert not client.is_connected and client.protocol is None
    finally:
        server.close()
