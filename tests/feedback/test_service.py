"""Bounces and complaints applied to leads and the ledger (feedback/service.py), on both
databases: matched to the send by Message-ID (with or without <>), else by the address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.config.signals import BounceSignals
from nurture.db import session_scope
from nurture.feedback.service import Feedback, FeedbackKind, apply_feedback
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.ledger.models import Enrollment, EnrollmentState
from tests.factories import sent_touches

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = MONDAY + timedelta(hours=2)
LIMIT = BounceSignals(soft_limit=3, soft_window_days=7)
HARD, SOFT, COMPLAINT = FeedbackKind.HARD_BOUNCE, FeedbackKind.SOFT_BOUNCE, FeedbackKind.COMPLAINT


async def apply(settings, items, now=LATER, config=LIMIT):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await apply_feedback(session, items, config, now)


async def lead_state(settings, lead_id):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.get(Lead, lead_id)
        enrollments = (
            await session.scalars(select(Enrollment).where(Enrollment.lead_id == lead_id))
        ).all()
        events = (
            await session.execute(
                select(Event.type, Event.touch_id, Event.sequence_id, Event.step_id, Event.data)
                .where(Event.lead_id == lead_id)
                .order_by(Event.id)
            )
        ).all()
    return lead, enrollments, events


async def test_a_hard_bounce_by_message_id_suppresses_and_ends_the_drip(settings):
    first, other = await sent_touches(settings, 2, MONDAY)
    assert first.message_id.startswith("<")
    report = await apply(
        settings, [Feedback(HARD, LATER, "ses", message_id=first.message_id, detail="5.1.1")]
    )
    assert (report.recorded, report.suppressed, report.exited) == (1, 1, 1)
    assert report.by_kind == {HARD: 1} and not report.unmatched
    lead, [enrollment], events = await lead_state(settings, first.lead_id)
    assert lead.suppression_reason == SuppressionReason.BOUNCED and lead.suppressed_at == LATER
    assert enrollment.state == EnrollmentState.EXITED
    assert enrollment.exit_reason == SuppressionReason.BOUNCED
    [bounced] = [e for e in events if e.type == EventType.BOUNCED]
    assert (bounced.touch_id, bounced.sequence_id, bounced.step_id) == (
        first.id,
        first.sequence_id,
        first.step_id,
    )
    assert bounced.data["source"] == "ses" and bounced.data["detail"] == "5.1.1"
    untouched, [live], _ = await lead_state(settings, other.lead_id)
    assert untouched.suppressed_at is None and live.state != EnrollmentState.EXITED


async def test_a_message_id_without_angle_brackets_finds_the_send(settings):
    [send] = await sent_touches(settings, 1, MONDAY)
    bare = send.message_id.strip("<>")
    report = await apply(settings, [Feedback(COMPLAINT, LATER, "mailgun", message_id=bare)])
    assert report.recorded == 1 and not report.unmatched
    lead, _, events = await lead_state(settings, send.lead_id)
    assert lead.suppression_reason == SuppressionReason.COMPLAINED
    assert [e.touch_id for e in events if e.type == EventType.COMPLAINED] == [send.id]


async def test_soft_bounces_suppress_at_the_limit_within_the_window(settings):
    [send] = await sent_touches(settings, 1, MONDAY)
    soft = [Feedback(SOFT, LATER, "postmark", message_id=send.message_id) for _ in range(2)]
    report = await apply(settings, soft)
    assert report.recorded == 2 and report.suppressed == 0
    lead, [enrollment], _ = await lead_state(settings, send.lead_id)
    assert lead.suppressed_at is None and enrollment.state != EnrollmentState.EXITED
    third = LATER + timedelta(days=6)  # still within 7 days of the first two
    report = await apply(settings, [Feedback(SOFT, third, "postmark", email=send.email)], third)
    assert report.suppressed == 1 and report.exited == 1
    lead, [enrollment], events = await lead_state(settings, send.lead_id)
    assert lead.suppression_reason == SuppressionReason.BOUNCED
    assert enrollment.state == EnrollmentState.EXITED
    [suppressed] = [e for e in events if e.type == EventType.SUPPRESSED]
    assert suppressed.data["soft_bounces"] == 3


async def test_soft_bounces_outside_the_window_do_not_count(settings):
    [send] = await sent_touches(settings, 1, MONDAY)
    old = [Feedback(SOFT, LATER, "sendgrid", message_id=send.message_id) for _ in range(2)]
    await apply(settings, old)
    later = LATER + timedelta(days=8)
    report = await apply(settings, [Feedback(SOFT, later, "sendgrid", email=send.email)], later)
    assert report.recorded == 1 and report.suppressed == 0
    lead, _, events = await lead_state(settings, send.lead_id)
    assert lead.suppressed_at is None
    assert [e.type for e in events].count(EventType.SOFT_BOUNCED) == 3


async def test_a_complaint_outranks_a_bounce_in_one_batch_and_later(settings):
    one, two = await sent_touches(settings, 2, MONDAY)
    report = await apply(
        settings,
        [
            Feedback(HARD, LATER, "ses", message_id=one.message_id),
            Feedback(COMPLAINT, LATER, "ses", message_id=one.message_id),
        ],
    )
    assert report.suppressed == 1
    lead, _, _ = await lead_state(settings, one.lead_id)
    assert lead.suppression_reason == SuppressionReason.COMPLAINED
    # Bounced first, complained later: the complaint replaces the bounce (a form post may
    # lift a bounce, never a complaint).
    await apply(settings, [Feedback(HARD, LATER, "ses", message_id=two.message_id)])
    later = LATER + timedelta(days=1)
    report = await apply(
        settings, [Feedback(COMPLAINT, later, "ses", message_id=two.message_id)], later
    )
    assert report.suppressed == 1
    lead, _, events = await lead_state(settings, two.lead_id)
    assert lead.suppression_reason == SuppressionReason.COMPLAINED
    reasons = [e.data["reason"] for e in events if e.type == EventType.SUPPRESSED]
    assert reasons == [SuppressionReason.BOUNCED, SuppressionReason.COMPLAINED]
    # A second complaint changes nothing more.
    again = await apply(settings, [Feedback(COMPLAINT, later, "ses", email=two.email)], later)
    assert again.recorded == 1 and again.suppressed == 0


async def test_unmatched_reports_are_returned_and_nothing_is_recorded(settings):
    [send] = await sent_touches(settings, 1, MONDAY)
    items = [
        Feedback(HARD, LATER, "generic", message_id="<nobody@nowhere.example>"),
        Feedback(COMPLAINT, LATER, "generic", email="stranger@example.org"),
        Feedback(HARD, LATER, "generic", email="not an address"),
        Feedback(SOFT, LATER, "generic"),
    ]
    report = await apply(settings, items)
    assert report.recorded == 0 and report.unmatched == items and report.suppressed == 0
    lead, _, events = await lead_state(settings, send.lead_id)
    assert lead.suppressed_at is None
    assert not [e for e in events if e.type in (EventType.BOUNCED, EventType.COMPLAINED)]


async def test_matched_by_address_when_the_message_id_is_unknown(settings):
    [send] = await sent_touches(settings, 1, MONDAY)
    item = Feedback(
        HARD, LATER, "ses", message_id="<rewritten@amazonses.example>", email=send.email.upper()
    )
    report = await apply(settings, [item])
    assert report.recorded == 1 and report.suppressed == 1
    lead, [enrollment], events = await lead_state(settings, send.lead_id)
    assert lead.suppression_reason == SuppressionReason.BOUNCED
    assert enrollment.state == EnrollmentState.EXITED
    [bounced] = [e for e in events if e.type == EventType.BOUNCED]
    assert bounced.touch_id is None  # the lead, not a send


async def test_matched_by_touch_id(settings):
    _, send = await sent_touches(settings, 2, MONDAY)
    report = await apply(settings, [Feedback(HARD, LATER, "postmark", touch_id=send.id)])
    assert report.recorded == 1
    lead, _, events = await lead_state(settings, send.lead_id)
    assert lead.suppression_reason == SuppressionReason.BOUNCED
    assert [e.touch_id for e in events if e.type == EventType.BOUNCED] == [send.id]
