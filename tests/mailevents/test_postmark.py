"""Postmark's bounce and spam-complaint webhooks behind basic auth; the send found by the
touch id our mail carries as Postmark metadata (Postmark's MessageID is its own)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from nurture.feedback.service import FeedbackKind
from nurture.leads.events import EventType
from nurture.leads.models import SuppressionReason
from nurture.ledger.models import EnrollmentState
from nurture.mailevents import postmark
from nurture.mailevents.common import Refused
from nurture.settings import Settings
from tests.factories import sent_touches
from tests.mailevents.conftest import (
    lead_state,
    postmark_auth,
    postmark_bounce,
    postmark_complaint,
    recorded,
)

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SEND = SimpleNamespace(id=17, email="anna@firma.de", message_id="<abc.1.def@planwerk.example>")
PATH = "/api/mail-events/postmark"


@pytest.mark.parametrize(
    ("type_", "inactive", "kind"),
    [
        ("HardBounce", True, FeedbackKind.HARD_BOUNCE),
        ("BadEmailAddress", False, FeedbackKind.HARD_BOUNCE),
        ("ManuallyDeactivated", True, FeedbackKind.HARD_BOUNCE),
        ("SoftBounce", False, FeedbackKind.SOFT_BOUNCE),
        ("Transient", False, FeedbackKind.SOFT_BOUNCE),
        ("DnsError", False, FeedbackKind.SOFT_BOUNCE),
        ("Blocked", False, FeedbackKind.SOFT_BOUNCE),
        ("SoftBounce", True, FeedbackKind.HARD_BOUNCE),  # Postmark deactivated the address
        ("SpamComplaint", True, FeedbackKind.COMPLAINT),
        ("AutoResponder", False, None),
        ("AddressChange", False, None),
        ("Subscribe", False, None),
    ],
)
def test_bounce_types(type_, inactive, kind):
    body = json.dumps(postmark_bounce(SEND, type_, Inactive=inactive)).encode()
    notices = postmark.read(body, NOW)
    if kind is None:
        assert notices == []
        return
    [notice] = notices
    [item] = notice.items
    assert (item.kind, item.touch_id, item.email, item.message_id) == (
        kind,
        17,
        SEND.email,
        None,
    )
    assert notice.key.startswith("Bounce:") and type_ in item.detail


def test_complaints_deliveries_and_unreadable_records():
    [notice] = postmark.read(json.dumps(postmark_complaint(SEND)).encode(), NOW)
    assert notice.items[0].kind == FeedbackKind.COMPLAINT
    assert notice.key.startswith("SpamComplaint:")
    delivery = {"RecordType": "Delivery", "MessageID": "x", "Recipient": SEND.email}
    assert postmark.read(json.dumps(delivery).encode(), NOW) == []
    opened = {"RecordType": "Open", "FirstOpen": True, "Recipient": SEND.email}
    assert postmark.read(json.dumps(opened).encode(), NOW) == []


def test_the_basic_auth_is_checked():
    settings = Settings(postmark_webhook_user="pm", postmark_webhook_password="pw")
    postmark.check_auth(postmark_auth("pm", "pw")["authorization"], settings)
    for header in (
        "",
        "Basic",
        "Basic !!!",
        postmark_auth("pm", "wrong")["authorization"],
        postmark_auth("other", "pw")["authorization"],
        postmark_auth("pm", "pw")["authorization"].replace("Basic", "Bearer"),
    ):
        with pytest.raises(Refused):
            postmark.check_auth(header, settings)


async def test_a_hard_bounce_suppresses_and_ends_the_drip(hooks, mail_settings):
    first, _ = await sent_touches(mail_settings, 2, MONDAY)
    response = await hooks.client.post(PATH, json=postmark_bounce(first), headers=postmark_auth())
    assert response.status_code == 200, response.text
    assert response.json()["suppressed"] == 1 and response.json()["exited"] == 1
    state = await lead_state(mail_settings, first.lead_id)
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert state.enrollments == [EnrollmentState.EXITED]
    assert state.feedback == [(EventType.BOUNCED, first.id, "postmark")]


async def test_soft_bounces_suppress_at_the_configured_limit(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)  # signals.yaml: 2 within 7 days
    one = await hooks.client.post(
        PATH, json=postmark_bounce(send, "SoftBounce"), headers=postmark_auth()
    )
    assert one.json()["suppressed"] == 0
    assert (await lead_state(mail_settings, send.lead_id)).suppression_reason is None
    two = await hooks.client.post(
        PATH, json=postmark_bounce(send, "SoftBounce"), headers=postmark_auth()
    )
    assert two.json()["suppressed"] == 1
    state = await lead_state(mail_settings, send.lead_id)
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert [f[0] for f in state.feedback] == [EventType.SOFT_BOUNCED] * 2


async def test_a_spam_complaint_suppresses_as_complained(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    response = await hooks.client.post(PATH, json=postmark_complaint(send), headers=postmark_auth())
    assert response.status_code == 200
    state = await lead_state(mail_settings, send.lead_id)
    assert state.suppression_reason == SuppressionReason.COMPLAINED
    assert state.feedback == [(EventType.COMPLAINED, send.id, "postmark")]


async def test_without_credentials_nothing_is_recorded(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = postmark_bounce(send)
    assert (await hooks.client.post(PATH, json=body)).status_code == 401
    wrong = await hooks.client.post(PATH, json=body, headers=postmark_auth(password="guess"))
    assert wrong.status_code == 401
    assert wrong.json()["detail"][0]["loc"] == ["header", "authorization"]
    assert await recorded(mail_settings) == (0, 0)


async def test_a_replay_records_nothing_new(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = postmark_bounce(send, "SoftBounce")
    await hooks.client.post(PATH, json=body, headers=postmark_auth())
    again = await hooks.client.post(PATH, json=body, headers=postmark_auth())
    assert again.status_code == 200 and again.json()["new"] == 0
    state = await lead_state(mail_settings, send.lead_id)
    assert len(state.feedback) == 1 and state.suppression_reason is None


async def test_unreadable_and_ignored_records(hooks, mail_settings):
    garbage = await hooks.client.post(PATH, content=b"<xml/>", headers=postmark_auth())
    assert garbage.status_code == 422
    missing = await hooks.client.post(PATH, json={"Type": "HardBounce"}, headers=postmark_auth())
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "RecordType"]
    no_id = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "a@firma.de"}
    unkeyed = await hooks.client.post(PATH, json=no_id, headers=postmark_auth())
    assert unkeyed.status_code == 422 and unkeyed.json()["detail"][0]["loc"] == ["body", "ID"]
    delivery = {"RecordType": "Delivery", "MessageID": "x", "Recipient": "a@firma.de"}
    ok = await hooks.client.post(PATH, json=delivery, headers=postmark_auth())
    assert ok.status_code == 200 and ok.json()["notifications"] == 0
    assert await recorded(mail_settings) == (0, 0)


async def test_without_its_settings_postmark_is_off(app_client):
    response = await app_client.post(PATH, json={}, headers=postmark_auth())
    assert response.status_code == 404
