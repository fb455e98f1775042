"""Mailgun webhooks (the JSON ones): ``signature`` holds a timestamp, a token and their
HMAC-SHA256 with the HTTP webhook signing key. A stale timestamp is refused, and so is a token
used before (routes.py claims it in receipts, for 30 minutes); ``event-data.id`` is the replay
key.

Mailgun echoes our Message-ID (without <>) in ``event-data.message.headers.message-id``.
``failed`` with severity ``permanent`` → hard bounce, ``temporary`` → soft; ``complained`` →
complaint; anything else (delivered, opened, clicked, unsubscribed, ...) → nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from nurture.feedback.service import Feedback, FeedbackKind
from nurture.mailevents.common import (
    Notice,
    Payload,
    Refused,
    load_signed,
    replay_key,
    signature_fields,
    timestamp,
    utf8,
    validate,
)
from nurture.settings import Settings

SOURCE = "mailgun"
MAX_AGE = timedelta(minutes=15)


def configured(settings: Settings) -> bool:
    return bool(settings.mailgun_signing_key.get_secret_value())


class Signature(Payload):
    timestamp: str = Field(min_length=1, max_length=20)
    token: str = Field(min_length=1, max_length=200)
    signature: str = Field(min_length=1, max_length=200)


class Headers(Payload):
    message_id: str | None = Field(None, alias="message-id")


class Message(Payload):
    headers: Headers = Headers()


class DeliveryStatus(Payload):
    code: int | str | None = None
    message: str | None = None
    description: str | None = None


class EventData(Payload):
    event: str = Field(min_length=1)
    id: str = Field(min_length=1, max_length=200)
    timestamp: float | None = None
    severity: str | None = None
    reason: str | None = None
    recipient: str | None = Field(None, max_length=320)
    message: Message = Message()
    delivery_status: DeliveryStatus = Field(DeliveryStatus(), alias="delivery-status")


class Webhook(Payload):
    signature: Signature
    event_data: EventData = Field(alias="event-data")


def read_signature(body: bytes) -> tuple[Any, Signature]:
    """The JSON and its ``signature`` (not checked yet); Refused if either is missing."""
    raw = load_signed(body)
    given = raw.get("signature") if isinstance(raw, dict) else None
    return raw, signature_fields(Signature, given, ["body", "signature"])


def read(raw: Any) -> Webhook:
    """The whole webhook, once its signature checked out; Unreadable per field."""
    return validate(Webhook, raw)  # type: ignore[no-any-return]


def verify(settings: Settings, signature: Signature, now: datetime) -> None:
    """The HMAC (constant-time) and the timestamp's age; Refused if either is wrong."""
    key = settings.mailgun_signing_key.get_secret_value().encode()
    expected = hmac.new(
        key, utf8(signature.timestamp + signature.token), hashlib.sha256
    ).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters (TypeError).
    if not hmac.compare_digest(expected.encode(), utf8(signature.signature.lower())):
        raise Refused(["body", "signature", "signature"], "the signature does not verify")
    try:
        seconds = float(signature.timestamp)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise Refused(["body", "signature", "timestamp"], "not a Unix time")
    if abs(now.timestamp() - seconds) > MAX_AGE.total_seconds():
        raise Refused(
            ["body", "signature", "timestamp"], "stale: signed more than 15 minutes from now"
        )


# The signature covers the timestamp and the token, not the event: every token is claimed
# (a delivery's too, or its signature could carry a forged bounce), under a source of its own,
# and forgotten once its timestamp is refused anyway (MAX_AGE either side of our clock).
TOKEN_SOURCE = "mailgun-token"
TOKEN_KEPT = 2 * MAX_AGE


def token_key(signature: Signature) -> str:
    """The receipts key (under TOKEN_SOURCE) that makes a token usable once."""
    return replay_key("token:" + signature.token)


def _kind(event: EventData) -> FeedbackKind | None:
    if event.event == "failed":
        if event.severity == "permanent":
            return FeedbackKind.HARD_BOUNCE
        if event.severity == "temporary":
            return FeedbackKind.SOFT_BOUNCE
        return None
    if event.event == "complained":
        return FeedbackKind.COMPLAINT
    return None


def notices(webhook: Webhook, now: datetime) -> list[Notice]:
    event = webhook.event_data
    kind = _kind(event)
    if kind is None:
        return []
    status = event.delivery_status
    detail = " ".join(
        str(x)
        for x in (event.severity, event.reason, status.code, status.description, status.message)
        if x
    )
    item = Feedback(
        kind,
        timestamp(event.timestamp, now),
        SOURCE,
        message_id=event.message.headers.message_id,
        email=event.recipient,
        detail=detail,
    )
    return [Notice(replay_key("event:" + event.id), [item])]
