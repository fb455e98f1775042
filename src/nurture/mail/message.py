"""Build a well-formed multipart/alternative message as bytes, fast and injection-proof.

We write the bytes ourselves instead of using ``email.message.EmailMessage``: it costs ~3.4 ms
per message (a 300/s ceiling), and Python 3.11.7 predates the CVE-2024-6923 fix, so a subject
holding RFC 2047 encoded words with an encoded CR/LF comes out as a real extra header. Here
every header value is stripped of control characters, and any value that is not plain short
ASCII, or that contains ``=?``, is written as our own base64 encoded words.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_PLAIN_ADDR = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$")
_ATOM_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_MAX_ENCODED_CHUNK = 39  # bytes of UTF-8 per encoded word: 52 base64 chars, line <= 78


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a transport needs: envelope, the message bytes, and who it belongs to."""

    sender: str
    recipient: str
    data: bytes
    message_id: str
    touch_id: int | None = None


def clean_header_text(value: str, limit: int = 900) -> str:
    """One line of text: control characters (CR, LF, NUL, ...) become a space."""
    return _CONTROL.sub(" ", value).strip()[:limit]


def _encoded_words(text: str) -> str:
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _MAX_ENCODED_CHUNK:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
            chunk = bytearray()
        chunk += encoded
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
    return "\r\n ".join(words)


@lru_cache(maxsize=4096)  # a step's subject is often the same for many leads
def encode_header_text(value: str, room: int = 68) -> str:
    """An unstructured header value (e.g. Subject), safe whatever the input holds."""
    text = clean_header_text(value)
    if text.isascii() and "=?" not in text and len(text) <= room:
        return text
    return _encoded_words(text)


def check_address(address: str) -> str:
    if not _PLAIN_ADDR.match(address) or len(address) > 320:
        raise ValueError(f"not a plain email address: {address!r}")
    return address


@lru_cache(maxsize=4096)  # the sender's is the same in every message of a sequence
def format_address(name: str | None, address: str) -> str:
    check_address(address)
    name = clean_header_text(name or "", 200)
    if not name:
        return address
    if not name.isascii() or "=?" in name:
        return f"{_encoded_words(name)} <{address}>"
    if _ATOM_SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


# Unique per process (random) and per message (counter): no syscall per message as uuid4 has.
_PROCESS = secrets.token_hex(8)
_counter = itertools.count()


def make_message_id(domain: str) -> str:
    return f"<{time.time_ns():x}.{next(_counter)}.{_PROCESS}@{domain}>"


@lru_cache(maxsize=64)
def _date_header(date: datetime) -> str:
    return format_datetime(date)  # a pass stamps all its messages with the same time


def _qp(text: str) -> bytes:
    body = _lf(text).encode("utf-8")
    return binascii.b2a_qp(body, quotetabs=False, istext=True).replace(b"\n", b"\r\n")


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


_RAW_TEXT = re.compile(r"<(style|script)\b[^>]*>(.*?)</\1", re.IGNORECASE | re.DOTALL)


def _html_body(html: str) -> tuple[str, bytes]:
    """The HTML part's transfer encoding and bytes. 7bit where possible: non-ASCII written
    as character references (``&#228;``), which every HTML reader decodes as the character.
    That saves quoted-printable (~35 us a message) and halves the lines a server reads
    (no soft breaks in long styled lines). Quoted-printable where 7bit cannot hold the
    part: a NUL, a line over 998 bytes, or non-ASCII in <style>/<script>, whose text is
    not decoded."""
    text = _lf(html)
    if "\x00" not in text and (
        text.isascii() or all(m.group(2).isascii() for m in _RAW_TEXT.finditer(text))
    ):
        body = text.encode("ascii", "xmlcharrefreplace")
        if max(map(len, body.split(b"\n"))) <= 998:
            return "7bit", body.replace(b"\n", b"\r\n")
    return "quoted-printable", _qp(html)


def build_message(
    *,
    from_name: str,
    from_addr: str,
    to_name: str | None,
    to_addr: str,
    subject: str,
    html: str,
    text: str,
    date: datetime,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    touch_id: int | None = None,
) -> OutgoingMessage:
    """A multipart/alternative message (text first, HTML preferred) with CRLF line ends."""
    message_id = make_message_id(from_addr.rpartition("@")[2])
    # "==" never occurs in quoted-printable bodies ("=" is encoded as "=3D"): always unique.
    boundary = f"==nurture_{_PROCESS}_{next(_counter)}"
    lines = [
        f"From: {format_address(from_name, from_addr)}",
        f"To: {format_address(to_name, to_addr)}",
        f"Subject: {encode_header_text(subject)}",
        f"Date: {_date_header(date)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    if reply_to:
        lines.append(f"Reply-To: {format_address(None, reply_to)}")
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {clean_header_text(value)}")
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    part = (
        f'--{boundary}\r\nContent-Type: text/%s; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: %s\r\n\r\n"
    )
    html_encoding, html_body = _html_body(html)
    data = b"".join(
        (
            head,
            (part % ("plain", "quoted-printable")).encode(),
            _qp(text),
            b"\r\n",
            (part % ("html", html_encoding)).encode(),
            html_body,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return OutgoingMessage(from_addr, to_addr, data, message_id, touch_id)
