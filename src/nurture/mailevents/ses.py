"""Amazon SES bounces and complaints, delivered by Amazon SNS to an HTTPS subscription.

An SNS message is signed (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over the
canonical string of its documented fields, with the key of a certificate that SNS publishes
at ``SigningCertURL``; that URL must be an SNS host (``https://sns.<region>.amazonaws.com``,
``.amazonaws.com.cn`` in China), or anyone could sign with a key of their own. The signature's
fields are read and checked before the rest of the message. A subscription is confirmed by
fetching ``SubscribeURL`` (an SNS host too), once its signature checks out.

SES rewrites the Message-ID of what it sends, so the send is found by the touch id our mail
carries as an SES message tag while NURTURE_SES_TOPIC_ARNS is set
(``X-SES-MESSAGE-TAGS: nurture-touch=<id>``, reported in ``mail.tags`` with a configuration
set, and in ``mail.headers`` when SES includes the original headers), else by the original
Message-ID, else by the recipient's address.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import Field, model_validator

from nurture.feedback.service import Feedback, FeedbackKind
from nurture.mailevents.common import (
    Notice,
    Payload,
    Refused,
    Unavailable,
    load_json,
    load_signed,
    replay_key,
    signature_fields,
    timestamp,
    touch_id,
    utf8,
    validate,
)
from nurture.rendering.compose import TOUCH_TAG

SOURCE = "ses"

# Fetches a URL (the signing certificate, SubscribeURL) and returns the body; raises on
# failure. Injectable: tests serve their own certificate.
Fetch = Callable[[str], Awaitable[bytes]]

# sns.<region>.amazonaws.com(.cn), a region as AWS's own validators spell it: never the S3
# bucket "sns" (sns.s3.amazonaws.com) nor a legacy S3 website or regional bucket host.
_SNS_HOST = re.compile(
    r"^sns\.(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)\.amazonaws\.com(?:\.cn)?$", re.ASCII
)
# The fields each message type is signed over, in this order (a field absent is left out).
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED["UnsubscribeConfirmation"] = _SIGNED["SubscriptionConfirmation"]
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


class Signed(Payload):
    """What checking an SNS message's signature takes (its Type names the signed fields):
    read before anything else, a missing or malformed one refused (401)."""

    Type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    TopicArn: str = Field(min_length=1, max_length=1024)
    SignatureVersion: Literal["1", "2"]
    Signature: str = Field(min_length=1)
    SigningCertURL: str = Field(min_length=1, max_length=2048)


class Envelope(Signed):
    """The whole SNS message, read once its signature checked out (422 if unreadable)."""

    MessageId: str = Field(min_length=1, max_length=200)
    Message: str
    Timestamp: str
    Subject: str | None = None
    SubscribeURL: str | None = Field(None, max_length=2048)
    Token: str | None = None

    @model_validator(mode="after")
    def _confirmation_fields(self) -> Envelope:
        if self.Type != "Notification" and not (self.SubscribeURL and self.Token):
            raise ValueError(f"a {self.Type} has a SubscribeURL and a Token")
        return self


def canonical(raw: dict[str, Any]) -> bytes:
    """The string SNS signs: ``name\\nvalue\\n`` for each signed field present, in order."""
    fields = _SIGNED[raw["Type"]]
    return utf8("".join(f"{k}\n{raw[k]}\n" for k in fields if raw.get(k) is not None))


def sns_url(url: str, loc: list[str | int], pem: bool = False) -> str:
    """``url`` if it is https on an SNS host (and a .pem for the certificate), else Refused."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme != "https"
        or not _SNS_HOST.fullmatch(parts.hostname or "")
        or parts.username is not None
        or port not in (None, 443)
        or (pem and not parts.path.endswith(".pem"))
    ):
        what = "https://sns.<region>.amazonaws.com/….pem" if pem else "https://sns.<region>…"
        raise Refused(loc, f"not an Amazon SNS URL (must be {what})")
    return url


class Sns:
    """Checks SNS signatures; keeps the certificates it fetched (a few, by URL)."""

    def __init__(self, fetch: Fetch, keep: int = 16):
        self.fetch = fetch
        self._keep = keep
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()

    async def certificate(self, url: str) -> x509.Certificate:
        cert = self._certs.get(url)
        if cert is None:
            try:
                pem = await self.fetch(url)
            except Exception as exc:
                raise Unavailable(f"cannot fetch the SNS signing certificate: {exc}") from exc
            try:
                cert = x509.load_pem_x509_certificate(pem)
            except ValueError:
                raise Refused(["body", "SigningCertURL"], "not a PEM certificate") from None
            self._certs[url] = cert
            while len(self._certs) > self._keep:
                self._certs.popitem(last=False)
        return cert

    async def verify(self, raw: dict[str, Any], envelope: Signed, now: datetime) -> None:
        url = sns_url(envelope.SigningCertURL, ["body", "SigningCertURL"], pem=True)
        try:
            signature = base64.b64decode(envelope.Signature, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(["body", "Signature"], "not base64") from None
        cert = await self.certificate(url)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise Refused(["body", "SigningCertURL"], "the signing certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Refused(["body", "SigningCertURL"], "not an RSA certificate")
        try:
            key.verify(
                signature,
                canonical(raw),
                padding.PKCS1v15(),
                _HASHES[envelope.SignatureVersion](),
            )
        except InvalidSignature:
            raise Refused(["body", "Signature"], "the signature does not verify") from None

    async def confirm(self, envelope: Envelope) -> None:
        """Confirm a subscription: fetch its SubscribeURL."""
        assert envelope.SubscribeURL is not None
        url = sns_url(envelope.SubscribeURL, ["body", "SubscribeURL"])
        try:
            await self.fetch(url)
        except Exception as exc:
            raise Unavailable(f"cannot confirm the subscription: {exc}") from exc


def read_signed(body: bytes, topics: list[str]) -> tuple[dict[str, Any], Signed]:
    """The SNS message's raw fields and its signature (not checked yet); Refused if either is
    missing or its topic is not ours."""
    raw = load_signed(body)
    signed = signature_fields(Signed, raw, ["body"])
    if signed.TopicArn not in topics:
        raise Refused(
            ["body", "TopicArn"], "this topic is not in NURTURE_SES_TOPIC_ARNS: not accepted"
        )
    return raw, signed


def read_envelope(raw: dict[str, Any]) -> Envelope:
    """The whole SNS message, once its signature checked out; Unreadable per field."""
    return validate(Envelope, raw)  # type: ignore[no-any-return]


# The SES notification (the SNS Message): feedback notifications say notificationType,
# event publishing (configuration sets) says eventType.
class Recipient(Payload):
    emailAddress: str = Field(min_length=1, max_length=320)
    status: str | None = None
    diagnosticCode: str | None = None


class Bounce(Payload):
    bounceType: str
    bounceSubType: str = ""
    bouncedRecipients: list[Recipient] = Field(min_length=1)
    timestamp: datetime | None = None


class Complaint(Payload):
    complainedRecipients: list[Recipient] = Field(min_length=1)
    timestamp: datetime | None = None
    complaintFeedbackType: str | None = None


class Header(Payload):
    name: str
    value: str


class CommonHeaders(Payload):
    messageId: str | None = None


class Mail(Payload):
    headers: list[Header] = Field(default_factory=list)
    commonHeaders: CommonHeaders | None = None
    tags: dict[str, list[str]] = Field(default_factory=dict)


class SesMessage(Payload):
    notificationType: str | None = None
    eventType: str | None = None
    mail: Mail = Mail()
    bounce: Bounce | None = None
    complaint: Complaint | None = None

    @model_validator(mode="after")
    def _kind(self) -> SesMessage:
        kind = self.notificationType or self.eventType
        if not kind:
            raise ValueError("neither notificationType nor eventType")
        if kind == "Bounce" and self.bounce is None:
            raise ValueError("a Bounce without a bounce object")
        if kind == "Complaint" and self.complaint is None:
            raise ValueError("a Complaint without a complaint object")
        return self


def _touch(mail: Mail) -> int | None:
    values = list(mail.tags.get(TOUCH_TAG, []))
    for header in mail.headers:
        if header.name.lower() == "x-ses-message-tags":
            for tag in header.value.split(","):
                name, _, value = tag.partition("=")
                if name.strip() == TOUCH_TAG:
                    values.append(value.strip())
    return next((t for t in map(touch_id, values) if t is not None), None)


def _message_id(mail: Mail) -> str | None:
    if mail.commonHeaders and mail.commonHeaders.messageId:
        return mail.commonHeaders.messageId
    return next((h.value for h in mail.headers if h.name.lower() == "message-id"), None)


def _kind(bounce_type: str) -> FeedbackKind:
    # Permanent: the address does not exist; Transient and Undetermined: counted.
    return FeedbackKind.HARD_BOUNCE if bounce_type == "Permanent" else FeedbackKind.SOFT_BOUNCE


def read_message(envelope: Envelope, now: datetime) -> Notice:
    """The bounces and complaints a verified SNS Notification carries (none for deliveries,
    sends, opens, ...)."""
    loc: list[str | int] = ["body", "Message"]
    message = validate(SesMessage, load_json(utf8(envelope.Message), loc), loc)
    kind = message.notificationType or message.eventType
    mail = message.mail
    common = {"source": SOURCE, "message_id": _message_id(mail), "touch_id": _touch(mail)}
    items: list[Feedback] = []
    if kind == "Bounce" and message.bounce is not None:
        bounce = message.bounce
        at = timestamp(bounce.timestamp, now)
        for r in bounce.bouncedRecipients:
            detail = " ".join(
                x
                for x in (bounce.bounceType, bounce.bounceSubType, r.status, r.diagnosticCode)
                if x
            )
            items.append(
                Feedback(_kind(bounce.bounceType), at, email=_address(r), detail=detail, **common)
            )
    elif kind == "Complaint" and message.complaint is not None:
        complaint = message.complaint
        # "not-spam": the recipient said it is NOT spam (an ARF report type): no complaint.
        if complaint.complaintFeedbackType != "not-spam":
            at = timestamp(complaint.timestamp, now)
            detail = complaint.complaintFeedbackType or ""
            for r in complaint.complainedRecipients:
                items.append(
                    Feedback(FeedbackKind.COMPLAINT, at, email=_address(r), detail=detail, **common)
                )
    return Notice(replay_key(envelope.MessageId), items)


def _address(recipient: Recipient) -> str:
    return parseaddr(recipient.emailAddress)[1] or recipient.emailAddress
