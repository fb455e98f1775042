"""/n/{token}: the score shows on a GET and is recorded by a POST, once per answer;
/ref/{token}: to the referral form, and a lead captured there is the referrer's referral."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.policy import default

import httpx
import pytest
from sqlalchemy import select

from nurture.app import create_app
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Event, Lead
from nurture.links import Links
from nurture.mail.transports import MemoryTransport
from nurture.rendering.compose import build_composer
from nurture.tokens import Tokens
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def client(loyalty_settings):
    transport = httpx.ASGITransport(app=create_app(loyalty_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as c:
        yield c


async def sent_email(settings) -> tuple[str, str]:
    """One lead's welcome email, sent by a dispatch pass: (html, text)."""
    await enrolled_leads(settings, 1, MONDAY)
    assert (await run_pass(build_dispatcher(settings), MONDAY)).total("sent") == 1
    [message] = MemoryTransport.outboxes[settings.mail_url.get_secret_value().split("://")[1]]
    parsed = email.message_from_bytes(message.data, policy=default)
    return parsed.get_body(("html",)).get_content(), parsed.get_body(("plain",)).get_content()


def paths(kind: str, content: str) -> list[str]:
    return re.findall(rf"http://nurture\.test(/{kind}/[A-Za-z0-9_.=-]+)", content)


async def events(settings, type_: str) -> list[Event]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return list(
            await session.scalars(select(Event).where(Event.type == type_).order_by(Event.id))
        )


async def test_the_emails_score_links_show_a_button_and_only_a_post_records(
    loyalty_settings, client
):
    html, text = await sent_email(loyalty_settings)
    scores = paths("n", html)
    assert len(scores) == 11 and paths("n", text) == [scores[9]]
    page = await client.get(scores[9])
    assert page.status_code == 200
    assert "Ihre Bewertung: 9" in page.text and f'action="{scores[9]}"' in page.text
    for path in scores:  # a mail scanner fetching every link, a link checker's HEAD
        assert (await client.get(path)).status_code == 200
        assert (await client.head(path)).status_code == 200
    assert await events(loyalty_settings, "nps_scored") == []
    done = await client.post(scores[9], data={"comment": "  Sehr hilfreich  "})
    assert done.status_code == 200 and "9 von 10" in done.text
    again = await client.post(scores[9], data={"comment": "Sehr hilfreich"})  # a double click
    assert again.status_code == 200
    [scored] = await events(loyalty_settings, "nps_scored")
    assert scored.data == {"score": 9, "comment": "Sehr hilfreich"}
    assert (scored.sequence_id, scored.step_id) == ("b2b-nurture", "welcome")
    assert scored.touch_id is not None


async def test_another_score_later_is_recorded_and_the_page_says_the_earlier_one(
    loyalty_settings, client
):
    html, _ = await sent_email(loyalty_settings)
    scores = paths("n", html)
    await client.post(scores[6])
    page = await client.get(scores[10])
    assert "bereits 6" in page.text
    await client.post(scores[10])
    recorded = await events(loyalty_settings, "nps_scored")
    assert [e.data["score"] for e in recorded] == [6, 10]
    assert len({e.touch_id for e in recorded}) == 1


async def test_forged_and_garbled_score_links_are_404_and_record_nothing(loyalty_settings, client):
    await sent_email(loyalty_settings)  # a real send 1: the forged link names it
    forged = Links(Tokens("not-our-key"), "http://nurture.test").nps_send_url(1, 10)
    ours = build_composer(loyalty_settings).links
    gone = ours.nps_send_url(987654, 10)  # signed, but no such send
    other_kind = ours.open_url(1)  # a valid token of another kind
    for url in (forged, gone, other_kind.replace("/o/", "/n/"), "http://nurture.test/n/x.y"):
        path = url.removeprefix("http://nurture.test")
        assert (await client.get(path)).status_code == 404
        assert (await client.post(path)).status_code == 404
    assert await events(loyalty_settings, "nps_scored") == []


async def test_a_preview_score_names_the_lead_and_no_send(loyalty_settings, client):
    await enrolled_leads(loyalty_settings, 1, MONDAY)
    async with session_scope(loyalty_settings.database_url.get_secret_value()) as session:
        public_id = await session.scalar(select(Lead.public_id))
    url = build_composer(loyalty_settings).links.nps_lead_url(public_id, 3)
    await client.post(url.removeprefix("http://nurture.test"))
    [scored] = await events(loyalty_settings, "nps_scored")
    assert (scored.touch_id, scored.sequence_id, scored.data) == (None, None, {"score": 3})


async def refer(client, path: str, address: str) -> httpx.Response:
    """Follow a referral link to its landing page and sign up there, as a browser does."""
    landing = await client.get(path)
    assert landing.status_code == 303
    page = await client.get(landing.headers["location"])
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text))
    return await client.post("/f/empfehlung", data={**hidden, "email": address, "consent": "on"})


async def test_a_lead_signing_up_through_a_referral_link_is_the_referrers_referral_once(
    loyalty_settings, client
):
    html, text = await sent_email(loyalty_settings)
    [path] = paths("ref", html)
    assert paths("ref", text) == [path]
    assert (await refer(client, path, "freundin@firma.de")).status_code == 303
    async with session_scope(loyalty_settings.database_url.get_secret_value()) as session:
        referrer = await session.scalar(select(Lead).where(Lead.email == "lead0@example.com"))
        friend = await session.scalar(select(Lead).where(Lead.email == "freundin@firma.de"))
    [referred] = await events(loyalty_settings, "referred")
    assert (referred.lead_id, referred.data) == (referrer.id, {"lead": friend.public_id})
    captured = [e for e in await events(loyalty_settings, "captured") if e.lead_id == friend.id]
    assert captured[0].data["referred_by"] == referrer.public_id
    assert (friend.utm_source, friend.source_form) == ("referral", "empfehlung")
    # the same address through the link again, and the referrer using its own link
    await refer(client, path, "freundin@firma.de")
    await refer(client, path, "lead0@example.com")
    assert len(await events(loyalty_settings, "referred")) == 1


async def test_a_forged_referral_token_credits_nobody(loyalty_settings, client):
    await enrolled_leads(loyalty_settings, 1, MONDAY)
    forged = Links(Tokens("not-our-key"), "http://nurture.test").referral_url("a" * 32)
    assert (await client.get(forged.removeprefix("http://nurture.test"))).status_code == 404
    posted = await client.post(
        "/f/empfehlung", data={"email": "neu@firma.de", "consent": "on", "ref": "forged.token"}
    )
    assert posted.status_code == 303  # signed up all the same
    assert await events(loyalty_settings, "referred") == []
    [captured] = [
        e for e in await events(loyalty_settings, "captured") if e.data["form"] == "empfehlung"
    ]
    assert "referred_by" not in captured.data


async def test_without_a_referral_form_the_link_is_404(settings, app_client):
    url = build_composer(settings).links.referral_url("a" * 32)
    response = await app_client.get(url.removeprefix("http://nurture.test"))
    assert response.status_code == 404
