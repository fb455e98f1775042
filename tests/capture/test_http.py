"""Capture over HTTP: landing page, browser and JSON posts, double opt-in, CORS."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import func, select

from nurture.app import create_app, get_state_from
from nurture.capture.routes import CAPTURES
from nurture.db import session_scope
from nurture.leads.models import Consent, Event, Lead
from nurture.ledger.models import Enrollment
from nurture.mail.transports import MemoryTransport

FORM = {
    "first_name": "Max",
    "last_name": "Mustermann",
    "email": " Max.Mustermann@Example.COM ",
    "company": "Mustermann GmbH",
    "job_title": "CEO",
    "company_size": "50-199",
    "consent": "on",
    "utm_source": "linkedin",
    "utm_medium": "paid",
    "utm_campaign": "q4",
    "tz": "Europe/Vienna",
}


@pytest.fixture
async def client(settings):
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as c:
        yield c


def outbox(settings):
    name = settings.mail_url.get_secret_value().split("://")[1]
    return MemoryTransport.outboxes.setdefault(name, [])


async def lead_by_email(settings, email):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await session.scalar(select(Lead).where(Lead.email == email))


async def test_landing_page_carries_utm_parameters_and_honeypot(client):
    page = await client.get("/f/leitfaden?utm_source=newsletter&utm_campaign=winter")
    assert page.status_code == 200
    assert 'name="utm_source" value="newsletter"' in page.text
    assert 'name="utm_campaign" value="winter"' in page.text
    assert 'name="website"' in page.text and 'name="consent"' in page.text
    assert (await client.get("/f/nope")).status_code == 404


async def test_browser_post_redirects_and_waits_for_confirmation(client, settings):
    response = await client.post("/f/leitfaden", data=FORM, headers={"user-agent": "UA/1"})
    assert response.status_code == 303 and response.headers["location"] == "/f/leitfaden/thanks"
    lead = await lead_by_email(settings, "max.mustermann@example.com")
    assert lead.first_name == "Max" and lead.custom == {"company_size": "50-199"}
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("linkedin", "paid", "q4")
    assert lead.timezone == "Europe/Vienna" and lead.lifecycle_stage == "subscriber"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        consent = await session.scalar(select(Consent))
        assert consent.ip == "203.0.113.7" and consent.user_agent == "UA/1"
        assert consent.confirmed_at is None and consent.text_version
        enrollment = await session.scalar(select(Enrollment))
        assert enrollment.state == "pending" and enrollment.next_due_at is None
    [confirmation] = outbox(settings)
    assert confirmation.recipient == "max.mustermann@example.com"


def confirmation_link(settings) -> str:
    body = outbox(settings)[0].data.decode().replace("=\r\n", "")
    link = re.search(r"http://nurture\.test(/c/[A-Za-z0-9_.\-=]+)", body).group(1)
    return link.replace("=3D", "=")


async def test_fetching_the_confirmation_link_confirms_nothing(client, settings):
    """Mail gateways fetch (GET, HEAD) every link of an incoming email: the link shows a
    button, and only the person's POST confirms."""
    await client.post("/f/leitfaden", data=FORM)
    link = confirmation_link(settings)
    page = await client.get(link, headers={"user-agent": "Mozilla/5.0 (Safe Links scanner)"})
    assert page.status_code == 200
    assert f'method="post" action="{link}"' in page.text and "m***" in page.text
    assert "max.mustermann@example.com" not in page.text  # the link holder sees it masked
    assert (await client.head(link)).status_code in (200, 405)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert (await session.scalar(select(Consent))).confirmed_at is None
        assert (await session.scalar(select(Enrollment))).state == "pending"
        kinds = (await session.scalars(select(Event.type))).all()
        assert "confirmed" not in kinds
    assert (await lead_by_email(settings, "max.mustermann@example.com")).email_verified_at is None


async def test_confirmation_link_starts_the_drip_once(client, settings):
    await client.post("/f/leitfaden", data=FORM)
    link = confirmation_link(settings)
    first = await client.post(link, headers={"user-agent": "Firefox/140"})
    assert first.status_code == 200
    again = await client.post(link, headers={"user-agent": "Other/1"})
    assert again.status_code == 200
    shown = await client.get(link)  # after confirming: the confirmed page, no second button
    assert shown.status_code == 200 and 'method="post"' not in shown.text
    async with session_scope(settings.database_url.get_secret_value()) as session:
        enrollment = await session.scalar(select(Enrollment))
        assert enrollment.state == "active" and enrollment.next_due_at is not None
        consent = await session.scalar(select(Consent))
        assert consent.confirmed_at is not None and consent.confirmed_ip == "203.0.113.7"
        assert consent.confirmed_user_agent == "Firefox/140"  # the first, confirming request
        kinds = (await session.scalars(select(Event.type).order_by(Event.id))).all()
        assert kinds.count("confirmed") == 1
    lead = await lead_by_email(settings, "max.mustermann@example.com")
    assert lead.lifecycle_stage == "lead"


async def test_forged_confirmation_token_is_404_and_changes_nothing(client, settings):
    await client.post("/f/leitfaden", data=FORM)
    assert (await client.get("/c/eyJmYWtlIjoxfQ.forged.sig")).status_code == 404
    assert (await client.post("/c/eyJmYWtlIjoxfQ.forged.sig")).status_code == 404
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert (await session.scalar(select(Enrollment))).state == "pending"


async def test_json_post_returns_201_and_per_field_422(client, settings):
    ok = await client.post(
        "/f/leitfaden", json={"email": "anna@example.org", "consent": True, "first_name": "Anna"}
    )
    assert ok.status_code == 201
    assert ok.json()["status"] == "pending_confirmation" and len(ok.json()["lead_id"]) == 32
    bad = await client.post(
        "/f/leitfaden", json={"email": "not-an-email", "consent": False, "company_size": "viele"}
    )
    assert bad.status_code == 422
    fields = {e["loc"][-1]: e["msg"] for e in bad.json()["detail"]}
    assert set(fields) == {"email", "consent", "first_name", "company_size"}
    too_long = await client.post(
        "/f/leitfaden", json={"email": "a@b.de", "consent": True, "first_name": "x" * 101}
    )
    assert too_long.status_code == 422


async def test_browser_post_with_errors_rerenders_with_messages_and_values(client):
    response = await client.post("/f/leitfaden", data={**FORM, "email": "kaputt"})
    assert response.status_code == 422
    assert 'id="err-email"' in response.text and 'value="Max"' in response.text


async def test_repeat_submission_updates_but_does_not_enrol_twice(client, settings):
    await client.post("/f/leitfaden", data=FORM)
    await client.post("/f/leitfaden", data={**FORM, "job_title": "CTO", "company": ""})
    lead = await lead_by_email(settings, "max.mustermann@example.com")
    assert lead.job_title == "CTO" and lead.company == "Mustermann GmbH"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await session.scalar(select(func.count()).select_from(Enrollment)) == 1
        assert await session.scalar(select(func.count()).select_from(Lead)) == 1
        captured = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "captured")
        )
        assert captured == 2


async def test_honeypot_submission_is_dropped_silently(client, settings):
    response = await client.post("/f/leitfaden", data={**FORM, "website": "http://spam"})
    assert response.status_code == 303
    assert await lead_by_email(settings, "max.mustermann@example.com") is None


async def test_cors_allows_configured_origin_only(client):
    allowed = "https://www.planwerk.example"
    pre = await client.options("/f/leitfaden", headers={"origin": allowed})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == allowed
    post = await client.post(
        "/f/leitfaden",
        json={"email": "c@example.org", "consent": True, "first_name": "C"},
        headers={"origin": allowed},
    )
    assert post.status_code == 201 and post.headers["access-control-allow-origin"] == allowed
    evil = await client.post(
        "/f/leitfaden",
        json={"email": "d@example.org", "consent": True},
        headers={"origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    assert (
        await client.options("/f/leitfaden", headers={"origin": "https://evil.example"})
    ).status_code == 403


async def test_hostile_values_are_stored_verbatim(client, settings):
    name = "{{ 7*7 }}<script>alert(1)</script>"
    await client.post("/f/leitfaden", data={**FORM, "first_name": name})
    lead = await lead_by_email(settings, "max.mustermann@example.com")
    assert lead.first_name == name


async def test_concurrent_posts_share_transactions_and_lose_nothing(client, settings):
    """Group commit: 40 posts at once, one address three times; every post answered 201."""
    emails = [f"lead{i}@example.com" for i in range(37)] + ["twice@example.com"] * 3
    bodies = [{"email": e, "first_name": "Max", "consent": True} for e in emails]
    responses = await asyncio.gather(*(client.post("/f/leitfaden", json=b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 40
    state = get_state_from(client._transport.app)  # type: ignore[attr-defined]
    assert state.writer(CAPTURES).transactions < 40  # they were batched
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 38
        twice = await session.scalar(select(Lead).where(Lead.email == "twice@example.com"))
        counts = {
            model.__name__: await session.scalar(
                select(func.count()).select_from(model).where(model.lead_id == twice.id)
            )
            for model in (Enrollment, Consent)
        }
        captured = await session.scalar(
            select(func.count()).where(Event.lead_id == twice.id, Event.type == "captured")
        )
    assert counts == {"Enrollment": 1, "Consent": 3} and captured == 3
    assert {r.json()["lead_id"] for r in responses[-3:]} == {twice.public_id}
