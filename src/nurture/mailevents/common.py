"""What the provider modules share: a notification read from a payload, the three ways a
request is refused (401 not authentic, 422 unreadable, with a message per field; 503 when
we cannot check it now), and reading what a provider sends: its times, touch ids and texts
made safe to compare and to store."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from nurture.feedback.service import Feedback


@dataclass(frozen=True)
class Notice:
    """One notification from a provider: its replay key (claimed in receipts) and the bounces
    and complaints it reports (none for deliveries, opens, ...: nothing is recorded)."""

    key: str
    items: list[Feedback] = field(default_factory=list)

    def cleaned(self) -> Notice:
        """The same with every text from the payload that reaches a column or a key made
        storable (``clean``)."""
        return Notice(
            clean(self.key),
            [
                replace(
                    item,
                    message_id=item.message_id and clean(item.message_id),
                    email=item.email and clean(item.email),
                    detail=clean(item.detail),
                )
                for item in self.items
            ],
        )


class Refused(Exception):
    """Not authentic: a bad or missing signature or credential (401)."""

    def __init__(self, loc: list[str | int], msg: str, more: Sequence[dict[str, Any]] = ()):
        super().__init__(msg)
        self.errors = [{"loc": loc, "msg": msg}, *more]


class Unreadable(Exception):
    """A payload we cannot read (422), with a message per field."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(str(e["msg"]) for e in errors))
        self.errors = errors

    @classmethod
    def at(cls, loc: list[str | int], msg: str) -> Unreadable:
        return cls([{"loc": loc, "msg": msg}])


class Unavailable(Exception):
    """Something we need cannot be reached or is misconfigured on our side (503): the
    provider retries later."""


# NUL, which PostgreSQL refuses in text and JSONB (SQLite takes it), and lone surrogates
# (JSON's "\ud800" decodes to one), which UTF-8 cannot encode at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD, so it can be stored, sent to
    the database as a parameter or hashed."""
    return _UNSTORABLE.sub("\ufffd", text)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 to check a signature over: a lone surrogate (which no provider
    signs) passes through as bytes that verify nothing, instead of raising."""
    return text.encode("utf-8", "surrogatepass")


def touch_id(value: object) -> int | None:
    """A touch id echoed by a provider (a tag, metadata), or None: ASCII digits only (``"²"``
    is a digit to str.isdigit but not to int), and at most 18 of them (a bigint holds them)."""
    text = value if isinstance(value, str) else ""
    return int(text) if re.fullmatch(r"\d{1,18}", text, re.ASCII) else None


def replay_key(value: str) -> str:
    """A notification's id as a receipts key: cleaned (``clean``), long ones hashed (the
    column holds 255)."""
    value = clean(value)
    if len(value) <= 200:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


class Payload(BaseModel):
    """A provider's JSON: the fields we read, any others ignored (providers add fields)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def load_json(body: bytes, loc: list[str | int] | None = None) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable.at(loc or ["body"], f"not JSON: {exc}") from None


def validate(model: type[Payload], data: Any, loc: list[str | int] | None = None) -> Any:
    """``model`` from ``data``, or Unreadable with pydantic's message per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unreadable(_errors(exc, loc or ["body"])) from None


def load_signed(body: bytes) -> Any:
    """The JSON of a provider that signs inside the body (SNS, Mailgun); Refused if it is not
    JSON: without the signature read, the request is not authentic, and it gets a 401 before
    any 422 (no reader without the key learns how we read a payload)."""
    try:
        return load_json(body)
    except Unreadable as exc:
        raise Refused(["body"], f"{exc}: no signature to check") from None


def signature_fields(model: type[Payload], data: Any, loc: list[str | int]) -> Any:
    """``model`` (the signature's fields) from ``data``, or Refused with a message per field:
    a missing or malformed signature is a 401, like a wrong one."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first, *more = _errors(exc, loc)
        raise Refused(first["loc"], first["msg"], more) from None


def _errors(exc: ValidationError, prefix: list[str | int]) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]


# How far a provider's clock may run ahead of ours, and how old a report can sensibly be
# (providers retry for hours or days, not years): a time outside is taken as now, as a
# missing one is, so that a bounce dated 9999 never stays in the soft-bounce window and one
# dated year 1 is not dropped from it at once.
CLOCK_SKEW = timedelta(minutes=5)
OLDEST = timedelta(days=366)


def timestamp(value: float | str | datetime | None, now: datetime) -> datetime:
    """A provider's time (Unix seconds or ISO 8601) as an aware UTC datetime; ``now`` if it
    is missing, unreadable, out of range, more than CLOCK_SKEW ahead or more than OLDEST ago."""
    try:
        if value is None or value == "":
            return now
        if isinstance(value, datetime):
            at = value
        elif isinstance(value, int | float):
            at = datetime.fromtimestamp(value, UTC)
        else:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Near year 1 or 9999 a UTC offset overflows: OverflowError.
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (OverflowError, OSError, ValueError):  # out of range, NaN, not ISO 8601
        return now
    if at > now + CLOCK_SKEW or at < now - OLDEST:
        return now
    return at
