"""Mail transports: small classes with one job, ``send(batch)``, chosen by URL
(``transport_from_url``). What a transport is and what its results mean: mail/backend.py; the
SMTP transport: mail/smtp.py; the file and memory outboxes are here.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from nurture.mail.backend import SendResult, SendStatus, Transport, TransportUnavailable
from nurture.mail.message import OutgoingMessage
from nurture.mail.smtp import SmtpOptions, SmtpTransport

__all__ = [
    "FileTransport",
    "MemoryTransport",
    "SendResult",
    "SendStatus",
    "SmtpOptions",
    "SmtpTransport",
    "Transport",
    "TransportUnavailable",
    "transport_from_url",
]


class MemoryTransport(Transport):
    """Keeps messages in a named in-process outbox (``memory://NAME``); for tests."""

    outboxes: ClassVar[dict[str, list[OutgoingMessage]]] = {}

    def __init__(self, name: str = "default"):
        self.outbox = self.outboxes.setdefault(name, [])

    async def send(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        self.outbox.extend(batch)
        return [SendResult(m, SendStatus.SENT, 250, "stored in memory") for m in batch]


class FileTransport(Transport):
    """Writes each message as an .eml file into a folder (the local outbox)."""

    _counter = itertools.count()

    def __init__(self, folder: Path):
        self.folder = folder

    async def send(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        return await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        self.folder.mkdir(parents=True, exist_ok=True)
        results = []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for message in batch:
            name = f"{stamp}-{message.touch_id or 'x'}-{next(self._counter)}.eml"
            tmp = self.folder / f".{name}.tmp"
            tmp.write_bytes(message.data)
            tmp.rename(self.folder / name)  # readers never see half a file
            results.append(SendResult(message, SendStatus.SENT, 250, f"written to {name}"))
        return results


def transport_from_url(url: str) -> Transport:
    """``file://DIR``, ``memory://NAME``, ``smtp://``, ``smtp+starttls://``, ``smtps://``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return FileTransport(Path(unquote(parts.netloc + parts.path)))
    if scheme == "memory":
        return MemoryTransport(parts.netloc or "default")
    if scheme in ("smtp", "smtp+starttls", "smtps"):
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return SmtpTransport(
            SmtpOptions(
                hostname=parts.hostname or "localhost",
                port=parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[scheme],
                use_tls=scheme == "smtps",
                start_tls=scheme == "smtp+starttls",
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                pool=max(1, int(query.get("pool", 8))),
                timeout=float(query.get("timeout", 30)),
            )
        )
    raise ValueError(
        f"unknown mail URL scheme {scheme!r}: use file://, smtp://, smtp+starttls://, "
        "smtps:// or memory://"
    )
