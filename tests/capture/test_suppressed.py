"""A form post lifts a suppression (unsubscribed, bounced: the person opts in again), but
never a complaint: an address that marked our mail as spam is never mailed again, not even a
confirmation (anyone can type an address into a form)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from nurture.db import session_scope
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.leads.service import suppress
from nurture.ledger.models import Enrollment, EnrollmentState
from nurture.mail.transports import MemoryTransport

POST = {"email": "anna@firma.de", "first_name": "Anna", "consent": True}
WHEN = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def outbox(settings):
    return MemoryTransport.outboxes.setdefault(settings.mail_url.get_secret_value()[9:], [])


async def suppressed_lead(app_client, settings, reason: SuppressionReason) -> int:
    assert (await app_client.post("/f/leitfaden", json=POST)).status_code == 201
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_id = await session.scalar(select(Lead.id))
        assert await suppress(session, {lead_id: {}}, reason, WHEN) == [lead_id]
    return lead_id


@pytest.mark.parametrize("reason", [SuppressionReason.UNSUBSCRIBED, SuppressionReason.BOUNCED])
async def test_a_form_post_lifts_an_unsubscribe_or_a_bounce(app_client, settings, reason):
    lead_id = await suppressed_lead(app_client, settings, reason)
    mailed = len(outbox(settings))
    again = await app_client.post("/f/leitfaden", json=POST)
    assert again.json()["status"] == "pending_confirmation"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.get(Lead, lead_id)
        resubscribed = await session.scalar(
            select(func.count()).where(Event.type == EventType.RESUBSCRIBED)
        )
    assert lead.suppressed_at is None and resubscribed == 1
    assert len(outbox(settings)) == mailed + 1  # a new confirmation request


async def test_a_form_post_never_lifts_a_complaint(app_client, settings):
    lead_id = await suppressed_lead(app_client, settings, SuppressionReason.COMPLAINED)
    mailed = len(outbox(settings))
    again = await app_client.post("/f/leitfaden", json=POST)
    assert again.status_code == 201 and again.json()["enrolled"] == []
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.get(Lead, lead_id)
        kinds = (await session.scalars(select(Event.type).where(Event.lead_id == lead_id))).all()
        states = (await session.scalars(select(Enrollment.state))).all()
    assert lead.suppression_reason == SuppressionReason.COMPLAINED
    assert EventType.RESUBSCRIBED not in kinds and kinds.count(EventType.CAPTURED) == 2
    assert len(outbox(settings)) == mailed  # no confirmation mail to a complainer
    assert EnrollmentState.ACTIVE not in states
