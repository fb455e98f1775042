"""A real SMTP server (aiosmtpd on loopback) whose handler can be told to misbehave."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Behaviour:
    """Per-recipient replies: rcpt codes (e.g. {'a@x': '550 5.1.1 no such user'}), data
    replies, and how many times a 4xx is given before accepting."""

    rcpt: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    temporary_times: dict[str, int] = field(default_factory=dict)
    drop_in_data: set[str] = field(default_factory=set)
    stall_seconds: float = 0.0
    refuse_greeting: str = ""  # e.g. "550 5.7.1 go away": the reply to EHLO and HELO
    refuse_sender: str = ""  # the reply to MAIL FROM


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.behaviour = Behaviour()
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if self.behaviour.refuse_greeting:
            return [self.behaviour.refuse_greeting]
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        if self.behaviour.refuse_greeting:
            return self.behaviour.refuse_greeting
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.behaviour.refuse_sender:
            return self.behaviour.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        b = self.behaviour
        if address in b.temporary_times and b.temporary_times[address] > 0:
            b.temporary_times[address] -= 1
            return "451 4.7.1 try again later"
        if address in b.rcpt:
            return b.rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        b = self.behaviour
        if b.stall_seconds:
            await asyncio.sleep(b.stall_seconds)
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        if rcpt in b.drop_in_data:
            server.transport.close()  # the connection dies after the data was sent
            return "421 closing"
        if rcpt in b.data:
            return b.data[rcpt]
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                )
            )
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


def free_port() -> int:
    # aiosmtpd's Controller cannot listen on port 0 (it connects to its own port to check).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self._port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self._port, decode_data=False, ready_timeout=10
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?pool=4&timeout=5"

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages
