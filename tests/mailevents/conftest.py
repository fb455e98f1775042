"""Providers as they call us: real-shaped payloads, signed with keys the suite makes (an RSA
key and a self-signed certificate standing in for SNS's, served through the injected fetcher;
an ECDSA P-256 key for SendGrid; HMAC keys and passwords for the others)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy import func, select

from nurture.app import create_app
from nurture.db import session_scope
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Enrollment
from nurture.mailevents.ses import Sns
from nurture.receipts import Receipt
from tests.conftest import CONTENT

TOPIC = "arn:aws:sns:eu-central-1:123456789012:nurture-ses"
CERT_URL = (
    "https://sns.eu-central-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)
SUBSCRIBE_URL = (
    "https://sns.eu-central-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    + TOPIC
    + "&Token=2336412f37fb687f5d51e6e2425dacbba"
)
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", "pm-webhook-secret"
MAILGUN_KEY = "key-mailgun-signing-0123456789abcdef"
API_KEY = "generic-api-key"
FEEDBACK = (EventType.BOUNCED, EventType.SOFT_BOUNCED, EventType.COMPLAINED)


def now() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class SnsKey:
    key: rsa.RSAPrivateKey
    pem: bytes


@pytest.fixture(scope="session")
def sns_key() -> SnsKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return SnsKey(key, cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="session")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's settings page shows it: base64 DER."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@dataclass
class Fetcher:
    """The injected fetcher: serves what it was given, records every URL asked for."""

    responses: dict[str, bytes]
    fetched: list[str] = field(default_factory=list)

    async def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.responses:
            raise httpx.ConnectError(f"nothing at {url}")
        return self.responses[url]


# SNS signs "name\nvalue\n" for these fields, in this order (docs: verify-signature-of-message).
SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}


def sns_envelope(
    key: SnsKey,
    message: str,
    type_: str = "Notification",
    version: str = "1",
    topic: str = TOPIC,
    cert_url: str = CERT_URL,
    **extra: Any,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "Type": type_,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message,
        "Timestamp": iso(now()),
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        **extra,
    }
    if type_ == "Notification":
        raw["UnsubscribeURL"] = "https://sns.eu-central-1.amazonaws.com/?Action=Unsubscribe"
    text = "".join(f"{k}\n{raw[k]}\n" for k in SIGNED[type_] if k in raw)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.key.sign(
        text.encode("utf-8", "surrogatepass"), padding.PKCS1v15(), digest
    )  # a lone surrogate too, as nurture reads it
    raw["Signature"] = base64.b64encode(signature).decode()
    return raw


def ses_mail(send: Any, via: str = "headers") -> dict[str, Any]:
    """SES's mail object for our send: the touch tag in mail.tags (event publishing), in the
    original headers (feedback notifications with headers), or neither (only the address)."""
    mail: dict[str, Any] = {
        "timestamp": iso(now() - timedelta(minutes=5)),
        "source": "Planwerk <news@planwerk.example>",
        "sourceArn": "arn:aws:ses:eu-central-1:123456789012:identity/planwerk.example",
        "sendingAccountId": "123456789012",
        "messageId": "0107018f3b4e5d6a-ses-own-id-000000",
        "destination": [send.email],
        "headersTruncated": False,
    }
    if via == "headers":
        mail["headers"] = [
            {"name": "From", "value": "Planwerk <news@planwerk.example>"},
            {"name": "To", "value": send.email},
            {"name": "Message-ID", "value": send.message_id},
            {"name": "X-SES-MESSAGE-TAGS", "value": f"nurture-touch={send.id}"},
        ]
        mail["commonHeaders"] = {
            "from": ["Planwerk <news@planwerk.example>"],
            "to": [send.email],
            "messageId": send.message_id,
            "subject": "Willkommen",
        }
    elif via == "tags":
        mail["tags"] = {
            "ses:configuration-set": ["nurture"],
            "ses:source-ip": ["192.0.2.0"],
            "nurture-touch": [str(send.id)],
        }
    return mail


def ses_bounce(send: Any, bounce_type: str = "Permanent", via: str = "headers", **kw: Any) -> str:
    kind = {"eventType": "Bounce"} if via == "tags" else {"notificationType": "Bounce"}
    return json.dumps(
        {
            **kind,
            "bounce": {
                "feedbackId": "0107018f-bounce-feedback",
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": send.email,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                ],
                "timestamp": iso(now()),
                "remoteMtaIp": "192.0.2.1",
                "reportingMTA": "dsn; a1-23.smtp-out.eu-central-1.amazonses.com",
            },
            "mail": ses_mail(send, via),
            **kw,
        }
    )


def ses_complaint(send: Any, via: str = "headers", feedback_type: str = "abuse") -> str:
    return json.dumps(
        {
            "notificationType": "Complaint",
            "complaint": {
                "feedbackId": "0107018f-complaint-feedback",
                "complaintSubType": None,
                "complainedRecipients": [{"emailAddress": send.email}],
                "timestamp": iso(now()),
                "userAgent": "Yahoo!-Mail-Feedback/2.0",
                "complaintFeedbackType": feedback_type,
                "arrivalDate": iso(now() - timedelta(minutes=1)),
            },
            "mail": ses_mail(send, via),
        }
    )


def postmark_auth(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def postmark_bounce(send: Any, type_: str = "HardBounce", **kw: Any) -> dict[str, Any]:
    """Postmark's bounce webhook (developer/webhooks/bounce-webhook)."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": int(time.time_ns() % 10**15),
        "Type": type_,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": str(uuid.uuid4()),  # Postmark's own id
        "Metadata": {"nurture-touch": str(send.id)},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": send.email,
        "From": "news@planwerk.example",
        "BouncedAt": iso(now()),
        "DumpAvailable": True,
        "Inactive": type_ == "HardBounce",
        "CanActivate": True,
        "Subject": "Willkommen",
        **kw,
    }


def postmark_complaint(send: Any) -> dict[str, Any]:
    return {
        **postmark_bounce(send, "SpamComplaint"),
        "RecordType": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
    }


def sendgrid_event(send: Any, event: str, **kw: Any) -> dict[str, Any]:
    return {
        "email": send.email,
        "timestamp": int(time.time()),
        "smtp-id": send.message_id,
        "event": event,
        "category": ["nurture"],
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **kw,
    }


def sendgrid_headers(key: ec.EllipticCurvePrivateKey, body: bytes, stamp: str | None = None):
    stamp = stamp or str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": stamp,
        "content-type": "application/json",
    }


def mailgun_signature(
    key: str = MAILGUN_KEY, stamp: int | str | None = None, token: str | None = None
) -> dict[str, str]:
    ts = str(stamp if stamp is not None else int(time.time()))
    token = token or uuid.uuid4().hex + uuid.uuid4().hex[:18]
    digest = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": ts, "token": token, "signature": digest}


def mailgun_event(send: Any, event: str = "failed", severity: str | None = "permanent", **kw):
    data: dict[str, Any] = {
        "id": uuid.uuid4().hex[:22],
        "timestamp": time.time(),
        "log-level": "error",
        "event": event,
        "recipient": send.email,
        "recipient-domain": send.email.rpartition("@")[2],
        "message": {
            "headers": {
                "to": send.email,
                "message-id": send.message_id.strip("<>"),  # Mailgun drops the <>
                "from": "news@planwerk.example",
                "subject": "Willkommen",
            },
            "attachments": [],
            "size": 4242,
        },
        "delivery-status": {
            "code": 550,
            "message": "5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
            "attempt-no": 1,
        },
        "tags": [],
        "user-variables": {},
        **kw,
    }
    if severity is not None:
        data["severity"] = severity
        data["reason"] = "bounce" if severity == "permanent" else "generic"
    return data


@pytest.fixture
def mail_settings(settings, sendgrid_key, tmp_path):
    """All five providers on; a config whose soft-bounce limit is 2 within 7 days."""
    config = tmp_path / "config"
    shutil.copytree(CONTENT / "config", config)
    (config / "signals.yaml").write_text("bounces:\n  soft_limit: 2\n  soft_window_days: 7\n")
    return settings.model_copy(
        update={
            "config_dir": config,
            "ses_topic_arns": [TOPIC],
            "postmark_webhook_user": POSTMARK_USER,
            "postmark_webhook_password": SecretStr(POSTMARK_PASSWORD),
            "sendgrid_webhook_public_key": sendgrid_public(sendgrid_key),
            "mailgun_signing_key": SecretStr(MAILGUN_KEY),
            "api_key": SecretStr(API_KEY),
        }
    )


@dataclass
class Provider:
    client: httpx.AsyncClient
    fetcher: Fetcher


@pytest.fixture
async def hooks(mail_settings, sns_key) -> AsyncIterator[Provider]:
    app = create_app(mail_settings)
    fetcher = Fetcher({CERT_URL: sns_key.pem, SUBSCRIBE_URL: b"<ConfirmSubscriptionResponse/>"})
    app.state.sns = Sns(fetcher)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as client:
        yield Provider(client, fetcher)


async def recorded(settings) -> tuple[int, int]:
    """(bounce and complaint events, receipts): what a refused request must leave at 0."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type.in_(FEEDBACK))
        )
        receipts = await session.scalar(select(func.count()).select_from(Receipt))
    return int(events or 0), int(receipts or 0)


@dataclass
class LeadState:
    suppression_reason: str | None
    enrollments: list[str]
    feedback: list[tuple[str, int | None, str]]  # (type, touch_id, source) of its events


async def lead_state(settings, lead_id: int) -> LeadState:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.get(Lead, lead_id)
        states = await session.scalars(
            select(Enrollment.state).where(Enrollment.lead_id == lead_id)
        )
        rows = await session.execute(
            select(Event.type, Event.touch_id, Event.data)
            .where(Event.lead_id == lead_id, Event.type.in_(FEEDBACK))
            .order_by(Event.id)
        )
        return LeadState(
            lead.suppression_reason,
            list(states),
            [(r.type, r.touch_id, r.data["source"]) for r in rows],
        )
