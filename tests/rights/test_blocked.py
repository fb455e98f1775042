"""A forgotten address is mailed again only after a new, confirmed consent: a form post goes
through double opt-in even where the form has none, only the confirmation lifts the block, and
the CRM API, which names leads by id, cannot bring the anonymous record back."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from sqlalchemy import select

from nurture.capture.service import Submission, capture_many, confirm, prepare
from nurture.config.project import load_project
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.events import EventType
from nurture.leads.forgotten import forgotten_among
from nurture.leads.models import Consent, Event, Lead, SuppressionReason
from nurture.leads.service import suppress
from nurture.ledger.models import Enrollment, EnrollmentState
from nurture.rights.find import find_lead
from nurture.rights.forget import forget_lead

EMAIL = "ines.vorberg@kunde.de"
API = {"authorization": "Bearer s3cret-key"}


async def forgotten_lead(settings, client) -> str:
    """A confirmed lead in the drip, then forgotten; returns its (anonymous) lead id."""
    posted = await client.post(
        "/f/leitfaden", json={"email": EMAIL, "first_name": "Ines", "consent": True}
    )
    lead_id = posted.json()["lead_id"]
    secret = settings.resolved_secret_key()
    async with session_scope(settings.database_url.get_secret_value()) as session:
        consent = await session.scalar(select(Consent))
        project = load_project(settings.config_dir)
        await confirm(session, project, consent.id, None, None, utcnow(), timedelta(days=1), secret)
        await forget_lead(session, await find_lead(session, EMAIL), secret, utcnow(), "cli")
    return lead_id


async def post(settings, *, double_opt_in: bool) -> tuple:
    project = load_project(settings.config_dir)
    data = {"email": EMAIL, "first_name": "Ines", "consent": "on"}
    prepared = prepare(project, Submission("leitfaden", data, utcnow()))
    form = prepared.form.model_copy(update={"double_opt_in": double_opt_in})
    prepared = dataclasses.replace(prepared, form=form)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        [(result, lead)] = await capture_many(
            session, project, [prepared], settings.resolved_secret_key()
        )
    return result, lead


async def drips(settings, lead_id: int) -> list[str]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.scalars(select(Enrollment.state).where(Enrollment.lead_id == lead_id))
        return list(rows.all())


async def still_forgotten(settings) -> bool:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return bool(await forgotten_among(session, [EMAIL], settings.resolved_secret_key()))


async def test_a_single_opt_in_form_asks_a_forgotten_address_to_confirm(settings, api):
    old_id = await forgotten_lead(settings, api)
    result, lead = await post(settings, double_opt_in=False)
    assert result.created and result.needs_confirmation
    assert lead.public_id != old_id  # a fresh lead: nothing of the old one comes back
    assert await drips(settings, lead.id) == [EnrollmentState.PENDING]
    assert await still_forgotten(settings)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        consent = await session.get(Consent, result.consent_id)
        assert (consent.double_opt_in, consent.confirmed_at) == (True, None)
    # posting again does not lift it either
    again, _ = await post(settings, double_opt_in=False)
    assert again.needs_confirmation and await still_forgotten(settings)

    async with session_scope(settings.database_url.get_secret_value()) as session:
        await confirm(
            session,
            load_project(settings.config_dir),
            result.consent_id,
            "203.0.113.9",
            "Firefox",
            utcnow(),
            timedelta(days=1),
            settings.resolved_secret_key(),
        )
    assert not await still_forgotten(settings)
    assert await drips(settings, lead.id) == [EnrollmentState.ACTIVE]
    # confirmed: from now on the form is what it says again
    after, _ = await post(settings, double_opt_in=False)
    assert not after.needs_confirmation


async def test_a_form_post_over_http_gets_a_confirmation_mail(settings, api):
    await forgotten_lead(settings, api)
    posted = await api.post("/f/leitfaden", json={"email": EMAIL, "first_name": "I", "consent": 1})
    assert posted.json()["status"] == "pending_confirmation"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await find_lead(session, EMAIL)
    assert (lead.first_name, lead.company, lead.email_verified_at) == ("I", None, None)


async def test_the_crm_api_cannot_bring_a_forgotten_lead_back(settings, api):
    lead_id = await forgotten_lead(settings, api)
    moved = await api.post(
        f"/api/leads/{lead_id}/stage", json={"stage": "customer", "value": 900}, headers=API
    )
    assert moved.status_code == 200  # the anonymous record counts in the report's revenue
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await find_lead(session, lead_id)
        assert lead.suppression_reason == SuppressionReason.FORGOTTEN
        assert await session.scalar(select(Lead.id).where(Lead.email == EMAIL)) is None
    assert await drips(settings, lead.id) == [EnrollmentState.EXITED]
    # nor a form, with the anonymous record's address
    posted = await api.post(
        "/f/leitfaden", json={"email": lead.email, "first_name": "X", "consent": True}
    )
    assert posted.status_code == 422
    report = await run_pass(build_dispatcher(settings), utcnow() + timedelta(days=60))
    assert report.total("sent") == 0


async def test_a_complaint_after_forget_leaves_it_forgotten(settings, api):
    await forgotten_lead(settings, api)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead))
        assert await suppress(session, {lead.id: {}}, SuppressionReason.COMPLAINED, utcnow()) == []
        await session.refresh(lead)
        assert lead.suppression_reason == SuppressionReason.FORGOTTEN


async def test_two_forgets_at_once_erase_once(settings, api):
    posted = await api.post(
        "/f/leitfaden", json={"email": EMAIL, "first_name": "Ines", "consent": True}
    )
    path = f"/api/leads/{posted.json()['lead_id']}/forget"
    answers = await asyncio.gather(api.post(path, headers=API), api.post(path, headers=API))
    assert sorted(a.json()["already"] for a in answers) == [False, True]
    async with session_scope(settings.database_url.get_secret_value()) as session:
        kinds = (
            await session.scalars(select(Event.type).where(Event.type == EventType.FORGOTTEN))
        ).all()
    assert len(kinds) == 1
