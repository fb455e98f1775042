"""A lead's locale at capture (browser, field, country), the landing page per locale, the
confirmation email and the consent in the language shown: on both databases."""

from __future__ import annotations

import email
import re
from email.policy import default as policy

import httpx
import pytest
from sqlalchemy import select

from nurture.app import create_app
from nurture.db import session_scope
from nurture.leads.models import Consent, Lead
from nurture.mail.transports import MemoryTransport
from tests.locales.project import multilingual

SWEDISH = {"accept-language": "sv-SE,sv;q=0.9,en;q=0.5"}


@pytest.fixture
def lang_settings(settings, tmp_path):
    return multilingual(settings, tmp_path)


@pytest.fixture
async def client(lang_settings):
    transport = httpx.ASGITransport(app=create_app(lang_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as c:
        yield c


def outbox(settings):
    return MemoryTransport.outboxes.setdefault(settings.mail_url.get_secret_value()[9:], [])


async def lead(settings, address):
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.scalar(select(Lead).where(Lead.email == address))
        consents = (await session.scalars(select(Consent).where(Consent.lead_id == row.id))).all()
        return row, [c.text for c in consents]


def hidden_locale(html: str) -> str:
    return re.search(r'name="locale" value="([^"]*)"', html).group(1)


async def test_landing_page_follows_lang_then_browser_then_first_locale(client):
    page = await client.get("/f/guide", headers=SWEDISH)
    assert '<html lang="sv">' in page.text and "Guiden" in page.text
    assert "Ja, jag vill få mejl." in page.text and ">Skicka<" in page.text  # catalog default
    assert page.headers["content-language"] == "sv" and hidden_locale(page.text) == "sv"
    explicit = await client.get("/f/guide?lang=en", headers=SWEDISH)
    assert '<html lang="en">' in explicit.text and "The guide" in explicit.text
    assert hidden_locale(explicit.text) == "en"
    default = await client.get("/f/guide", headers={"accept-language": "fr"})
    assert '<html lang="de">' in default.text and ">Absenden<" in default.text


async def test_swedish_browser_gets_a_swedish_lead_confirmation_and_consent(client, lang_settings):
    page = await client.get("/f/guide", headers=SWEDISH)
    data = {"email": "anna@example.se", "first_name": "Anna", "consent": "on"}
    data["locale"] = hidden_locale(page.text)
    response = await client.post("/f/guide", data=data, headers=SWEDISH)
    assert response.status_code == 303
    assert response.headers["location"] == "/f/guide/thanks?lang=sv"
    thanks = await client.get(response.headers["location"])
    assert "Nästan klart" in thanks.text and '<html lang="sv">' in thanks.text
    row, consents = await lead(lang_settings, "anna@example.se")
    assert row.locale == "sv" and consents == ["Ja, jag vill få mejl."]
    [sent] = outbox(lang_settings)
    message = email.message_from_bytes(sent.data, policy=policy)
    assert message["Content-Language"] == "sv"
    assert message["Subject"] == "Bekräfta din e-postadress"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert '<html lang="sv">' in html and "Hej Anna!" in text and "”Guiden”" in text


async def test_json_post_without_signals_leaves_the_locale_empty(client, lang_settings):
    body = {"email": "nobody@example.com", "consent": True}
    response = await client.post("/f/guide", json=body, headers={"accept-language": "fr"})
    assert response.status_code == 201
    row, consents = await lead(lang_settings, "nobody@example.com")
    assert row.locale is None and consents == ["Ja, ich möchte E-Mails erhalten."]
    [sent] = outbox(lang_settings)  # the form's default locale: German
    assert email.message_from_bytes(sent.data, policy=policy)["Content-Language"] == "de"


@pytest.mark.parametrize(
    ("country", "locale"),
    [("SE", "sv"), ("Sverige", "sv"), ("Sweden", "sv"), ("Deutschland", "de")],
)
async def test_country_is_the_fallback(client, lang_settings, country, locale):
    body = {"email": "c@example.com", "consent": True, "country": country}
    assert (await client.post("/f/guide", json=body)).status_code == 201
    row, _ = await lead(lang_settings, "c@example.com")
    assert row.locale == locale


async def test_an_explicit_field_beats_the_header_and_updates_a_lead(settings, tmp_path):
    fields = [
        {
            "name": "email",
            "type": "email",
            "required": True,
            "label": {"de": "E", "sv": "E", "en": "E"},
        },
        {
            "name": "locale",
            "type": "select",
            "max_length": 16,
            "options": ["de", "sv", "en"],
            "label": {"de": "Sprache", "sv": "Språk", "en": "Language"},
        },
    ]
    lang_settings = multilingual(settings, tmp_path, fields=fields)
    transport = httpx.ASGITransport(app=create_app(lang_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as client:
        page = await client.get("/f/guide", headers=SWEDISH)
        assert 'name="locale" value=' not in page.text  # its own field, no hidden one
        body = {"email": "e@example.com", "consent": "on", "locale": "en"}
        assert (await client.post("/f/guide", data=body, headers=SWEDISH)).status_code == 303
        row, consents = await lead(lang_settings, "e@example.com")
        assert row.locale == "en" and consents == ["Yes, I would like to get emails."]
        body["locale"] = "de"
        await client.post("/f/guide", data=body, headers=SWEDISH)
        row, _ = await lead(lang_settings, "e@example.com")
        assert row.locale == "de"


async def test_a_weaker_signal_never_replaces_a_lead_locale(client, lang_settings):
    body = {"email": "w@example.com", "consent": "on", "locale": "sv"}
    await client.post("/f/guide", data=body)
    # again, from a German page in an English browser: the page's hidden field is no choice
    await client.post("/f/guide", data={**body, "locale": "de"}, headers={"accept-language": "en"})
    row, consents = await lead(lang_settings, "w@example.com")
    assert row.locale == "sv"
    assert consents == ["Ja, jag vill få mejl.", "Ja, ich möchte E-Mails erhalten."]


async def test_field_errors_in_the_page_locale(client):
    body = {"email": "not-an-address", "locale": "sv"}
    page = await client.post("/f/guide", data=body)
    assert page.status_code == 422 and '<html lang="sv">' in page.text
    assert "ange en giltig e-postadress" in page.text
    assert "utan ditt samtycke får vi inte skicka mejl till dig" in page.text
    api = await client.post("/f/guide", json={"email": "x@example.com", "consent": False})
    # an API client gets our English messages, whatever its locale field says
    assert api.json()["detail"][0]["msg"] == "consent is required to send you emails"


async def test_confirm_and_confirmed_pages_follow_the_lead(client, lang_settings):
    body = {"email": "k@example.se", "consent": "on", "locale": "sv"}
    await client.post("/f/guide", data=body)
    mail = outbox(lang_settings)[0].data.decode().replace("=\r\n", "").replace("=3D", "=")
    path = re.search(r"http://nurture\.test(/c/[A-Za-z0-9_.\-=]+)", mail).group(1)
    confirm = await client.get(path)
    assert '<html lang="sv">' in confirm.text and "Ja, bekräfta min e-postadress" in confirm.text
    done = await client.post(path)
    assert "Tack för din bekräftelse" in done.text  # the catalog's default title


async def test_an_api_post_takes_the_browser_header(client, lang_settings):
    body = {"email": "h@example.se", "consent": True, "country": "DE"}
    await client.post("/f/guide", json=body, headers=SWEDISH)  # the header beats the country
    row, consents = await lead(lang_settings, "h@example.se")
    assert row.locale == "sv" and consents == ["Ja, jag vill få mejl."]
