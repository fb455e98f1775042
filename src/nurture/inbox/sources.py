"""Where incoming mail is read from (``NURTURE_INBOX_URL``): a Maildir folder, or an IMAP
mailbox (imapclient, run in a thread: it is a blocking client).

A source lists what is new once (``pending``), reads messages by their ids (``read``) and
marks them processed (``mark``): Maildir moves ``new/`` to ``cur/`` with the ``S`` (seen)
flag, IMAP sets ``\\Seen``. Marking comes after the batch's transaction has committed, so a
crash in between leaves messages unmarked; they are read again and their receipts (claimed in
that transaction) make the second reading record nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from nurture.settings import masked_url

# What is read of each message: headers, reports and a person's text come first, attachments
# after; a batch of 500 then holds at most 256 MB however large the attachments.
MAX_BYTES = 512 * 1024


class InboxUnavailable(Exception):
    """The inbox cannot be reached or read (connection refused, login failed, no such
    folder): nothing was read or marked."""


class Source(Protocol):
    async def open(self) -> None: ...
    async def pending(self) -> list[str]: ...
    async def read(self, ids: Sequence[str]) -> list[tuple[str, bytes]]: ...
    async def mark(self, ids: Sequence[str]) -> None: ...
    async def close(self) -> None: ...


class MaildirSource:
    """A Maildir (new/, cur/, tmp/): unprocessed are the files in new/ and those in cur/
    without the S flag in their info (``name:2,FLAGS``)."""

    def __init__(self, path: Path):
        self.path = path

    async def open(self) -> None:
        if not (self.path / "new").is_dir() or not (self.path / "cur").is_dir():
            raise InboxUnavailable(f"{self.path} is not a Maildir (no new/ and cur/ in it)")

    async def pending(self) -> list[str]:
        return await asyncio.to_thread(self._pending)

    def _pending(self) -> list[str]:
        ids = []
        for folder in ("new", "cur"):
            with os.scandir(self.path / folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if folder == "cur" and "S" in _flags(entry.name):
                        continue
                    ids.append(f"{folder}/{entry.name}")
        return sorted(ids)

    async def read(self, ids: Sequence[str]) -> list[tuple[str, bytes]]:
        return await asyncio.to_thread(self._read, ids)

    def _read(self, ids: Sequence[str]) -> list[tuple[str, bytes]]:
        out = []
        for name in ids:
            try:
                with open(self.path / name, "rb") as f:
                    out.append((name, f.read(MAX_BYTES)))
            except FileNotFoundError:  # another reader marked it meanwhile
                continue
        return out

    async def mark(self, ids: Sequence[str]) -> None:
        await asyncio.to_thread(self._mark, ids)

    def _mark(self, ids: Sequence[str]) -> None:
        for name in ids:
            folder, _, filename = name.partition("/")
            base, _, _info = filename.partition(":")
            flags = "".join(sorted(set(_flags(filename)) | {"S"}))
            try:
                os.rename(self.path / folder / filename, self.path / "cur" / f"{base}:2,{flags}")
            except FileNotFoundError:  # marked by another reader
                continue

    async def close(self) -> None:
        return None


def _flags(filename: str) -> str:
    _, _, info = filename.partition(":")
    return info[2:] if info.startswith("2,") else ""


class ImapSource:
    """An IMAP folder: unprocessed are the UNSEEN messages, read with BODY.PEEK[] (which
    does not set \\Seen; the first MAX_BYTES), marked with \\Seen once recorded."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        folder: str = "INBOX",
        tls: bool = True,
        starttls: str = "yes",  # "yes": required; "auto": where offered; "no": never
        cafile: str | None = None,
        timeout: float = 30,
        display: str = "",
    ):
        self.host, self.port, self.folder = host, port, folder
        self.username, self.password = username, password
        self.tls, self.starttls, self.cafile, self.timeout = tls, starttls, cafile, timeout
        self.display = display or f"{host}:{port}"
        self.client: IMAPClient | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def _open(self) -> None:
        try:
            client = IMAPClient(
                self.host,
                self.port,
                ssl=self.tls,
                ssl_context=self._context() if self.tls else None,
                timeout=self.timeout,
            )
            if not self.tls and self.starttls != "no":
                if b"STARTTLS" in client.capabilities():
                    client.starttls(self._context())
                elif self.starttls == "yes":
                    raise InboxUnavailable(f"{self.display} does not offer STARTTLS")
            client.login(self.username, self.password)
            client.select_folder(self.folder)
        except LoginError as exc:
            raise InboxUnavailable(f"login to {self.display} failed: {_text(exc)}") from None
        except (TimeoutError, OSError, IMAPClientError, ssl.SSLError) as exc:
            raise InboxUnavailable(f"cannot read {self.display}: {_text(exc)}") from None
        self.client = client

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _call(self, name: str, *args: object) -> object:
        assert self.client is not None, "open() first"
        try:
            return getattr(self.client, name)(*args)
        except (OSError, IMAPClientError) as exc:
            raise InboxUnavailable(f"reading {self.display} failed: {_text(exc)}") from None

    async def pending(self) -> list[str]:
        uids = await asyncio.to_thread(self._call, "search", ["UNSEEN"])
        return [str(u) for u in sorted(uids)]  # type: ignore[call-overload]

    async def read(self, ids: Sequence[str]) -> list[tuple[str, bytes]]:
        if not ids:
            return []
        part = f"BODY.PEEK[]<0.{MAX_BYTES}>"
        found = await asyncio.to_thread(self._call, "fetch", [int(i) for i in ids], [part])
        out = []
        for uid, data in sorted(found.items()):  # type: ignore[attr-defined]
            body = data.get(b"BODY[]<0>", data.get(b"BODY[]"))
            if body is not None:
                out.append((str(uid), bytes(body)))
        return out

    async def mark(self, ids: Sequence[str]) -> None:
        if ids:
            await asyncio.to_thread(self._call, "add_flags", [int(i) for i in ids], [b"\\Seen"])

    def _close(self) -> None:
        if self.client is None:
            return
        with contextlib.suppress(OSError, IMAPClientError):
            self.client.logout()
        self.client = None

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


def _text(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else ""
    if isinstance(first, bytes):  # imapclient passes the server's words as bytes
        return first.decode(errors="replace")
    return str(exc) or type(exc).__name__


# Where a plain connection never leaves the machine, so STARTTLS need not be insisted on.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def source_from_url(url: str) -> Source:
    """``maildir:///path``, ``imaps://user:pass@host:993/INBOX``, ``imap://user:pass@host/
    INBOX`` (STARTTLS required: "where offered" would let anyone on the path strip the
    offer and read the password; on localhost only where offered; ``?starttls=no`` never,
    ``auto`` where offered). ``?cafile=/path/ca.pem``: trust this certificate (a self-signed
    server); ``?timeout=S``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "maildir":
        return MaildirSource(Path(unquote(parts.netloc + parts.path)))
    if scheme in ("imap", "imaps"):
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        default = "auto" if (parts.hostname or "").lower() in LOOPBACK else "yes"
        starttls = query.get("starttls", default).lower()
        if starttls not in ("auto", "yes", "no"):
            raise ValueError(f"inbox URL: starttls={starttls!r}; use auto, yes or no")
        if not parts.hostname or not parts.username:
            raise ValueError("inbox URL: give user, password and host, imaps://user:pass@host/")
        return ImapSource(
            parts.hostname,
            parts.port or (993 if scheme == "imaps" else 143),
            unquote(parts.username),
            unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
            tls=scheme == "imaps",
            starttls=starttls,
            cafile=query.get("cafile"),
            timeout=float(query.get("timeout", 30)),
            display=masked_url(url.split("?", 1)[0]),
        )
    raise ValueError(
        f"unknown inbox URL scheme {scheme!r}: use maildir:///path, imaps://user:pass@host/"
        "INBOX or imap://user:pass@host/INBOX"
    )
