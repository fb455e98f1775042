"""Postmark bounce and spam-complaint webhooks, behind HTTP basic auth (the user and password
are part of the webhook URL set in Postmark).

Postmark's ``MessageID`` is its own, so while the webhook's credentials are set our mail
carries its touch id as Postmark metadata (``X-PM-Metadata-nurture-touch``), which every
webhook echoes in ``Metadata``; else the recipient's address finds the lead. Bounce types:
https://postmarkapp.com/developer/api/bounce-api#bounce-types
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime

from pydantic import Field

from nurture.feedback.service import Feedback, FeedbackKind
from nurture.mailevents.common import (
    Notice,
    Payload,
    Refused,
    Unreadable,
    load_json,
    replay_key,
    timestamp,
    touch_id,
    validate,
)
from nurture.rendering.compose import TOUCH_TAG
from nurture.settings import Settings

SOURCE = "postmark"

# The address does not exist or will never accept mail from us.
HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
# Worth counting: a full mailbox, a DNS failure, a block, a delivered-as-spam notice.
SOFT = frozenset(
    {"SoftBounce", "Transient", "DnsError", "Unknown", "Blocked", "SpamNotification", "DMARCPolicy"}
)
# Everything else Postmark files under bounces (AutoResponder, AddressChange, Subscribe,
# Unsubscribe, ChallengeVerification, VirusNotification, OpenRelayTest, InboundError,
# SMTPApiError, TemplateRenderingFailed, Unconfirmed, ...) is not a bounce of our mail.


def configured(settings: Settings) -> bool:
    return bool(settings.postmark_webhook_user and settings.postmark_webhook_password)


def check_auth(authorization: str, settings: Settings) -> None:
    """HTTP basic auth against the settings, compared in constant time; Refused if not."""
    loc: list[str | int] = ["header", "authorization"]
    scheme, _, encoded = authorization.partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    user, _, password = given.partition(b":")
    want_user = settings.postmark_webhook_user.encode()
    want_password = settings.postmark_webhook_password.get_secret_value().encode()
    # Both compared always: which of the two is wrong takes no different time.
    ok_user = secrets.compare_digest(user, want_user)
    ok_password = secrets.compare_digest(password, want_password)
    if scheme.lower() != "basic" or not (ok_user and ok_password):
        raise Refused(loc, "basic auth with the webhook's user and password is required")


class Record(Payload):
    RecordType: str = Field(min_length=1)
    ID: int | str | None = None
    Type: str = ""
    MessageID: str | None = None
    Email: str | None = Field(None, max_length=320)
    BouncedAt: datetime | None = None
    Description: str = ""
    Details: str = ""
    Inactive: bool = False
    Metadata: dict[str, str | int | float | None] = Field(default_factory=dict)


def _kind(record: Record) -> FeedbackKind | None:
    if record.RecordType == "SpamComplaint" or record.Type == "SpamComplaint":
        return FeedbackKind.COMPLAINT
    if record.RecordType != "Bounce":
        return None  # Delivery, Open, Click, SubscriptionChange, ...
    if record.Type in HARD:
        return FeedbackKind.HARD_BOUNCE
    if record.Type in SOFT:
        # Postmark deactivated the address: it sends nothing more to it, so neither do we.
        return FeedbackKind.HARD_BOUNCE if record.Inactive else FeedbackKind.SOFT_BOUNCE
    return None


def read(body: bytes, now: datetime) -> list[Notice]:
    record = validate(Record, load_json(body))
    kind = _kind(record)
    if kind is None:
        return []
    if record.ID is None or record.ID == "":
        raise Unreadable.at(["body", "ID"], "a bounce or complaint has an ID")
    touch = record.Metadata.get(TOUCH_TAG)
    item = Feedback(
        kind,
        timestamp(record.BouncedAt, now),
        SOURCE,
        touch_id=touch_id(str(touch) if isinstance(touch, int) else touch),
        email=record.Email,
        detail=" ".join(x for x in (record.Type, record.Description, record.Details) if x),
    )
    return [Notice(replay_key(f"{record.RecordType}:{record.ID}"), [item])]
