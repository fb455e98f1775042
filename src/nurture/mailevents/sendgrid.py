"""SendGrid's Signed Event Webhook: an ECDSA (P-256, SHA-256) signature over the timestamp
header and the raw body, checked with the verification key from the SendGrid settings.

SendGrid echoes our Message-ID as ``smtp-id``. Which events count:

- ``bounce``: ``type`` ``bounce`` → hard; ``blocked`` (the receiver refused for now, e.g. a
  reputation block) → soft;
- ``dropped``: SendGrid did not even try, because of its own suppression lists: ``Bounced
  Address`` → hard, ``Spam Reporting Address`` → complaint (that person reported spam
  before); other reasons (unsubscribed, invalid headers, ...) → nothing;
- ``spamreport`` → complaint;
- ``deferred`` → nothing: SendGrid keeps retrying for up to 72 hours and then reports a
  ``bounce`` or ``blocked``; counting each deferral would count one message many times;
- everything else (processed, delivered, open, click, unsubscribe, ...) → nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, RootModel

from nurture.feedback.service import Feedback, FeedbackKind
from nurture.mailevents.common import (
    Notice,
    Payload,
    Refused,
    Unavailable,
    load_json,
    replay_key,
    timestamp,
    validate,
)
from nurture.settings import Settings

SOURCE = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


def configured(settings: Settings) -> bool:
    return bool(settings.sendgrid_webhook_public_key.strip())


@lru_cache(maxsize=4)
def public_key(setting: str) -> ec.EllipticCurvePublicKey:
    """The verification key: base64 DER as SendGrid shows it, or PEM."""
    try:
        if "BEGIN PUBLIC KEY" in setting:
            key = serialization.load_pem_public_key(setting.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(setting.strip()))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unavailable("NURTURE_SENDGRID_WEBHOOK_PUBLIC_KEY is not an EC public key")
    return key


def verify(settings: Settings, signature: str, stamp: str, body: bytes) -> None:
    if not signature or not stamp:
        raise Refused(
            ["header", SIGNATURE_HEADER], "the signed event webhook's signature is required"
        )
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(["header", SIGNATURE_HEADER], "not base64") from None
    key = public_key(settings.sendgrid_webhook_public_key)
    try:
        key.verify(der, stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(["header", SIGNATURE_HEADER], "the signature does not verify") from None


class Event(Payload):
    event: str = Field(min_length=1)
    email: str | None = Field(None, max_length=320)
    timestamp: int | float | None = None
    smtp_id: str | None = Field(None, alias="smtp-id")
    sg_event_id: str | None = None
    type: str | None = None
    reason: str | None = None
    status: str | None = None


class Events(RootModel[list[Event]]):
    root: list[Event] = Field(min_length=1, max_length=10_000)


def _kind(event: Event) -> FeedbackKind | None:
    if event.event == "bounce":
        return FeedbackKind.SOFT_BOUNCE if event.type == "blocked" else FeedbackKind.HARD_BOUNCE
    if event.event == "dropped":
        return {
            "Bounced Address": FeedbackKind.HARD_BOUNCE,
            "Spam Reporting Address": FeedbackKind.COMPLAINT,
        }.get(event.reason or "")
    if event.event == "spamreport":
        return FeedbackKind.COMPLAINT
    return None


def read(body: bytes, now: datetime) -> list[Notice]:
    raw = load_json(body)
    events = validate(Events, raw).root  # type: ignore[arg-type]
    notices = []
    for i, event in enumerate(events):
        kind = _kind(event)
        if kind is None:
            continue
        # sg_event_id is the replay key; an event without one is keyed by its content.
        key = (
            event.sg_event_id
            or "sha256:" + hashlib.sha256(json.dumps(raw[i], sort_keys=True).encode()).hexdigest()
        )
        detail = " ".join(x for x in (event.event, event.type, event.status, event.reason) if x)
        item = Feedback(
            kind,
            timestamp(event.timestamp, now),
            SOURCE,
            message_id=event.smtp_id,
            email=event.email,
            detail=detail,
        )
        notices.append(Notice(replay_key(key), [item]))
    return notices
