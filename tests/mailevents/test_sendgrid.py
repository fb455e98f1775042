"""SendGrid's Signed Event Webhook: ECDSA P-256 over the timestamp header and the raw body;
smtp-id is our Message-ID, sg_event_id the replay key."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nurture.feedback.service import FeedbackKind
from nurture.leads.events import EventType
from nurture.leads.models import SuppressionReason
from nurture.ledger.models import EnrollmentState
from nurture.mailevents import sendgrid
from nurture.mailevents.common import Refused, Unavailable
from nurture.settings import Settings
from tests.factories import sent_touches
from tests.mailevents.conftest import (
    lead_state,
    recorded,
    sendgrid_event,
    sendgrid_headers,
    sendgrid_public,
)

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SEND = SimpleNamespace(id=17, email="anna@firma.de", message_id="<abc.1.def@planwerk.example>")
PATH = "/api/mail-events/sendgrid"


@pytest.mark.parametrize(
    ("event", "extra", "kind"),
    [
        ("bounce", {"type": "bounce", "status": "5.1.1"}, FeedbackKind.HARD_BOUNCE),
        ("bounce", {}, FeedbackKind.HARD_BOUNCE),
        ("bounce", {"type": "blocked", "status": "4.0.0"}, FeedbackKind.SOFT_BOUNCE),
        ("dropped", {"reason": "Bounced Address"}, FeedbackKind.HARD_BOUNCE),
        ("dropped", {"reason": "Spam Reporting Address"}, FeedbackKind.COMPLAINT),
        ("dropped", {"reason": "Unsubscribed Address"}, None),
        ("spamreport", {}, FeedbackKind.COMPLAINT),
        ("deferred", {"response": "400 try again later", "attempt": "5"}, None),
        ("delivered", {"response": "250 OK"}, None),
        ("open", {"useragent": "Mozilla/5.0"}, None),
        ("click", {"url": "https://planwerk.example"}, None),
        ("processed", {}, None),
    ],
)
def test_event_kinds(event, extra, kind):
    raw = sendgrid_event(SEND, event, **extra)
    notices = sendgrid.read(json.dumps([raw]).encode(), NOW)
    if kind is None:
        assert notices == []
        return
    [notice] = notices
    [item] = notice.items
    assert notice.key == raw["sg_event_id"]
    assert (item.kind, item.message_id, item.email) == (kind, SEND.message_id, SEND.email)


def test_a_time_out_of_range_is_taken_as_now():
    raw = sendgrid_event(SEND, "bounce", timestamp=10**20)
    [notice] = sendgrid.read(json.dumps([raw]).encode(), NOW)
    assert notice.items[0].at == NOW


def test_an_event_without_an_id_is_keyed_by_its_content():
    raw = sendgrid_event(SEND, "bounce")
    del raw["sg_event_id"]
    body = json.dumps([raw]).encode()
    [one], [two] = sendgrid.read(body, NOW), sendgrid.read(body, NOW)
    assert one.key == two.key and one.key.startswith("sha256:")


def test_signature_checks(sendgrid_key):
    settings = Settings(sendgrid_webhook_public_key=sendgrid_public(sendgrid_key))
    body = b'[{"event":"bounce"}]'
    headers = sendgrid_headers(sendgrid_key, body, "1764669600")
    sig, stamp = headers[sendgrid.SIGNATURE_HEADER], headers[sendgrid.TIMESTAMP_HEADER]
    sendgrid.verify(settings, sig, stamp, body)
    pem = sendgrid_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sendgrid.verify(Settings(sendgrid_webhook_public_key=pem.decode()), sig, stamp, body)
    other = ec.generate_private_key(ec.SECP256R1())
    for args in (
        (sig, stamp, body + b" "),
        (sig, "1764669601", body),
        ("", stamp, body),
        (sig, "", body),
        ("%%%", stamp, body),
        (sendgrid_headers(other, body, stamp)[sendgrid.SIGNATURE_HEADER], stamp, body),
    ):
        with pytest.raises(Refused):
            sendgrid.verify(settings, *args)
    with pytest.raises(Unavailable, match="not an EC public key"):
        sendgrid.verify(Settings(sendgrid_webhook_public_key="bm90IGEga2V5"), sig, stamp, body)


async def test_a_signed_batch_records_bounces_and_complaints_only(
    hooks, mail_settings, sendgrid_key
):
    hard, blocked, complainer, delivered = await sent_touches(mail_settings, 4, MONDAY)
    events = [
        sendgrid_event(delivered, "processed"),
        sendgrid_event(delivered, "delivered", response="250 OK"),
        sendgrid_event(delivered, "open", useragent="Mozilla/5.0"),
        sendgrid_event(delivered, "deferred", response="421 try later", attempt="1"),
        sendgrid_event(hard, "bounce", type="bounce", status="5.1.1", reason="user unknown"),
        sendgrid_event(blocked, "bounce", type="blocked", status="4.7.1", reason="rate"),
        sendgrid_event(complainer, "spamreport"),
    ]
    body = json.dumps(events).encode()
    response = await hooks.client.post(
        PATH, content=body, headers=sendgrid_headers(sendgrid_key, body)
    )
    assert response.status_code == 200, response.text
    assert response.json()["notifications"] == 3 and response.json()["recorded"] == 3
    state = await lead_state(mail_settings, hard.lead_id)
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert state.enrollments == [EnrollmentState.EXITED]
    assert state.feedback == [(EventType.BOUNCED, hard.id, "sendgrid")]
    soft = await lead_state(mail_settings, blocked.lead_id)
    assert soft.suppression_reason is None
    assert soft.feedback == [(EventType.SOFT_BOUNCED, blocked.id, "sendgrid")]
    spam = await lead_state(mail_settings, complainer.lead_id)
    assert spam.suppression_reason == SuppressionReason.COMPLAINED
    untouched = await lead_state(mail_settings, delivered.lead_id)
    assert untouched.feedback == [] and untouched.suppression_reason is None
    # The same batch again (SendGrid retries): nothing new.
    again = await hooks.client.post(
        PATH, content=body, headers=sendgrid_headers(sendgrid_key, body)
    )
    assert again.json()["new"] == 0 and again.json()["recorded"] == 0
    # A second blocked bounce within the window reaches the limit (2, signals.yaml).
    body = json.dumps([sendgrid_event(blocked, "bounce", type="blocked")]).encode()
    await hooks.client.post(PATH, content=body, headers=sendgrid_headers(sendgrid_key, body))
    soft = await lead_state(mail_settings, blocked.lead_id)
    assert soft.suppression_reason == SuppressionReason.BOUNCED


async def test_a_bad_signature_records_nothing(hooks, mail_settings, sendgrid_key):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = json.dumps([sendgrid_event(send, "spamreport")]).encode()
    headers = sendgrid_headers(sendgrid_key, body)
    changed = body.replace(b"spamreport", b"bounce")
    assert (await hooks.client.post(PATH, content=changed, headers=headers)).status_code == 401
    assert (await hooks.client.post(PATH, content=body)).status_code == 401
    stale = sendgrid_headers(sendgrid_key, body, str(int(time.time()) - 1))
    stale[sendgrid.TIMESTAMP_HEADER] = str(int(time.time()))
    response = await hooks.client.post(PATH, content=body, headers=stale)
    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"] == ["header", sendgrid.SIGNATURE_HEADER]
    assert await recorded(mail_settings) == (0, 0)


async def test_signed_garbage_answers_422(hooks, mail_settings, sendgrid_key):
    for body, loc in (
        (b"not json", ["body"]),
        (b'{"event": "bounce"}', ["body"]),
        (b"[]", ["body"]),
        (b'[{"email": "a@firma.de"}]', ["body", 0, "event"]),
    ):
        response = await hooks.client.post(
            PATH, content=body, headers=sendgrid_headers(sendgrid_key, body)
        )
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc
    assert await recorded(mail_settings) == (0, 0)


async def test_without_its_key_sendgrid_is_off(app_client):
    assert (await app_client.post(PATH, json=[])).status_code == 404
