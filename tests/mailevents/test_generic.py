"""The generic shape behind the bearer NURTURE_API_KEY: for relays and providers without a
module of their own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from nurture.app import create_app
from nurture.leads.events import EventType
from nurture.leads.models import SuppressionReason
from nurture.ledger.models import EnrollmentState
from tests.factories import sent_touches
from tests.mailevents.conftest import API_KEY, lead_state, recorded

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PATH = "/api/mail-events/generic"
AUTH = {"authorization": f"Bearer {API_KEY}"}


def event(type_: str, **fields) -> dict:
    return {"id": uuid.uuid4().hex, "type": type_, **fields}


async def test_events_by_message_id_or_address(hooks, mail_settings):
    hard, soft, spam = await sent_touches(mail_settings, 3, MONDAY)
    body = {
        "events": [
            event("hard_bounce", message_id=hard.message_id, detail="550 5.1.1 user unknown"),
            event("soft_bounce", message_id=soft.message_id.strip("<>")),
            event("soft_bounce", email=soft.email, occurred_at=datetime.now(UTC).isoformat()),
            event("complaint", email=spam.email.upper()),
            event("complaint", email="stranger@example.org"),
        ]
    }
    response = await hooks.client.post(PATH, json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "notifications": 5,
        "new": 5,
        "recorded": 4,
        "unmatched": 1,
        "suppressed": 3,
        "exited": 3,
    }
    state = await lead_state(mail_settings, hard.lead_id)
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert state.enrollments == [EnrollmentState.EXITED]
    assert state.feedback == [(EventType.BOUNCED, hard.id, "generic")]
    state = await lead_state(mail_settings, soft.lead_id)  # two soft: the configured limit
    assert state.suppression_reason == SuppressionReason.BOUNCED
    assert state.feedback == [
        (EventType.SOFT_BOUNCED, soft.id, "generic"),
        (EventType.SOFT_BOUNCED, None, "generic"),
    ]
    state = await lead_state(mail_settings, spam.lead_id)
    assert state.suppression_reason == SuppressionReason.COMPLAINED
    again = await hooks.client.post(PATH, json=body, headers=AUTH)
    assert again.json()["new"] == 0 and again.json()["recorded"] == 0


async def test_the_bearer_key_is_required(hooks, mail_settings):
    [send] = await sent_touches(mail_settings, 1, MONDAY)
    body = {"events": [event("complaint", email=send.email)]}
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": API_KEY}):
        response = await hooks.client.post(PATH, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["detail"][0]["loc"] == ["header", "authorization"]
    assert await recorded(mail_settings) == (0, 0)


async def test_unreadable_events_answer_422_per_field(hooks, mail_settings):
    body = {
        "events": [
            {"id": "1", "type": "bounce", "email": "a@firma.de"},
            {"id": "2", "type": "complaint"},
            {"id": "3", "type": "complaint", "email": "a@firma.de", "colour": "red"},
            {"id": "4", "type": "soft_bounce", "email": "a@firma.de", "occurred_at": "soon"},
        ]
    }
    response = await hooks.client.post(PATH, json=body, headers=AUTH)
    assert response.status_code == 422
    locs = [tuple(e["loc"]) for e in response.json()["detail"]]
    assert locs == [
        ("body", "events", 0, "type"),
        ("body", "events", 1),
        ("body", "events", 2, "colour"),
        ("body", "events", 3, "occurred_at"),
    ]
    empty = await hooks.client.post(PATH, json={"events": []}, headers=AUTH)
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "events"]
    assert (await hooks.client.post(PATH, content=b"{", headers=AUTH)).status_code == 422
    assert await recorded(mail_settings) == (0, 0)


async def test_without_an_api_key_generic_is_off(mail_settings):
    app = create_app(mail_settings.model_copy(update={"api_key": SecretStr("")}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://nurture.test"
    ) as client:
        response = await client.post(PATH, json={"events": []}, headers=AUTH)
    assert response.status_code == 404
    assert "NURTURE_API_KEY" in response.json()["detail"][0]["msg"]
