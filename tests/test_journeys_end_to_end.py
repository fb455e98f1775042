"""The journeys beyond forms, end to end on a tmp project (the issue's two scenarios): a lead
the CRM marks customer gets the onboarding mail and none of the nurture after that; a quiet
lead gets the re-engagement sequence and, after its sunset, no marketing mail at all."""

from __future__ import annotations

import email
from datetime import timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from nurture.app import create_app
from nurture.config.project import load_project
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Lead, SuppressionReason
from nurture.ledger.claims import next_due
from nurture.ledger.enrollment import enrol_many
from nurture.ledger.models import Enrollment, EnrollmentState
from nurture.mail.transports import MemoryTransport
from tests.journeys.project import mailable_leads, sequence, with_sequences


def subjects(settings, address: str) -> list[str]:
    outbox = MemoryTransport.outboxes.setdefault(
        settings.mail_url.get_secret_value().removeprefix("memory://"), []
    )
    return [
        str(email.message_from_bytes(m.data)["Subject"]) for m in outbox if m.recipient == address
    ]


async def run_until(settings, start, end) -> None:
    """Dispatch and the scoring and hand-off pass at each due time, as `nurture tick` would,
    and at least once a day (the triggers and the sunset are the pass's)."""
    url = settings.database_url.get_secret_value()
    moment = start
    while moment <= end:
        await run_pass(build_dispatcher(settings), moment)
        await run_handoff_pass(build_context(settings), moment)
        async with session_scope(url) as session:
            found = await next_due(session, moment)
        moment = min(found, moment + timedelta(days=1)) if found else moment + timedelta(days=1)


async def test_a_customer_from_the_crm_gets_onboarding_and_no_more_nurture(settings, tmp_path):
    onboarding = sequence("onboarding", {"stage": "customer"}, steps=3)
    settings = with_sequences(settings, tmp_path, onboarding)
    settings = settings.model_copy(update={"api_key": SecretStr("k")})
    url = settings.database_url.get_secret_value()
    now = utcnow()  # the CRM route records the stage at the wall clock's time
    [lead_id] = (await mailable_leads(settings, 1, now - timedelta(days=1))).values()
    project = load_project(settings.config_dir)
    async with session_scope(url) as session:
        lead = await session.get(Lead, lead_id)
        address, public_id = lead.email, lead.public_id
        await enrol_many(
            session, project.versions, [(lead, [project.sequences["b2b-nurture"]], False, now)]
        )
    await run_pass(build_dispatcher(settings), now)
    assert [s.startswith("Willkommen") for s in subjects(settings, address)] == [True]

    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as client:
        answer = await client.post(
            f"/api/leads/{public_id}/stage",
            json={"stage": "customer"},
            headers={"authorization": "Bearer k"},
        )
    assert answer.status_code == 200
    async with session_scope(url) as session:  # at once, before any pass
        [state] = (await session.scalars(select(Enrollment.state))).all()
        assert state == EnrollmentState.EXITED

    await run_until(settings, utcnow(), utcnow() + timedelta(days=40))
    got = subjects(settings, address)
    assert got[1:] == ["onboarding 0", "onboarding 1", "onboarding 2"]


async def test_a_quiet_lead_is_reengaged_then_sunset_and_mailed_no_more(settings, tmp_path):
    start = utcnow()
    settings = with_sequences(
        settings,
        tmp_path,
        sequence("re-engagement", {"inactive_for": "60d"}, steps=2, sunset={"after": "14d"}),
        sequence("webinar", {"event": "custom.webinar_registered"}),
    )
    url = settings.database_url.get_secret_value()
    ids = await mailable_leads(settings, 2, start - timedelta(days=90))
    (quiet_address, quiet), (engaged_address, engaged) = ids.items()

    await run_until(settings, start, start + timedelta(days=1))
    assert subjects(settings, quiet_address) == ["re-engagement 0"]
    async with session_scope(url) as session:  # the engaged one clicks
        at = start + timedelta(days=1, hours=1)
        await record_events(session, [event_row(engaged, EventType.CLICK, at)])
    end = start + timedelta(days=20)
    await run_until(settings, start + timedelta(days=1, hours=2), end)
    async with session_scope(url) as session:
        reasons = dict((await session.execute(select(Lead.id, Lead.suppression_reason))).all())
    assert reasons == {quiet: SuppressionReason.SUNSET, engaged: None}
    assert subjects(settings, quiet_address) == ["re-engagement 0", "re-engagement 1"]

    # marketing after the sunset: a webinar registration the CRM reports enrols only the other
    async with session_scope(url) as session:
        await record_events(
            session,
            [event_row(i, "custom.webinar_registered", end) for i in (quiet, engaged)],
        )
    await run_until(settings, end, end + timedelta(days=10))
    assert subjects(settings, quiet_address) == ["re-engagement 0", "re-engagement 1"]
    assert subjects(settings, engaged_address)[-1] == "webinar 0"
