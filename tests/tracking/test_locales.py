"""The preference/unsubscribe page and the NPS page speak the lead's language (resolved by
the project's locales for a link that names the lead); on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from nurture.app import create_app
from nurture.db import session_scope
from nurture.leads.service import upsert_leads
from nurture.rendering.compose import build_composer
from tests.locales.project import multilingual

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def lang_settings(settings, tmp_path):
    return multilingual(settings, tmp_path)


async def a_lead(settings, locale: str | None, email: str = "l@example.com") -> str:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        [(row, _)] = await upsert_leads(session, [(email, {"locale": locale}, NOW, None)])
    return row.public_id


async def pages(settings, public_id: str) -> tuple[str, str, str, str]:
    links = build_composer(settings).links
    unsubscribe = links.unsubscribe_lead_url(public_id).removeprefix(settings.base_url)
    nps = links.nps_lead_url(public_id, 9).removeprefix(settings.base_url)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as client:
        preferences = (await client.get(unsubscribe)).text
        saved = (
            await client.post(unsubscribe, data={"choice": "preferences", "pause": "30d"})
        ).text
        score = (await client.get(nps)).text
        done = (await client.post(unsubscribe)).text
    return preferences, saved, score, done


async def test_pages_in_swedish_for_a_swedish_lead(lang_settings):
    preferences, saved, score, done = await pages(lang_settings, await a_lead(lang_settings, "sv"))
    assert '<html lang="sv">' in preferences and "Dina e-postinställningar" in preferences
    # "for 30 days" counts from the wall clock; the date in babel's Swedish ("2 jan. 2027")
    assert re.search(r"pausade till och med \d{1,2} [a-zé]+\.? \d{4}\.", saved)
    assert '<html lang="sv">' in score and "Du valde 9 av 10." in score
    assert "Du är avregistrerad" in done


async def test_pages_in_english_and_in_the_default(lang_settings):
    preferences, _, score, _ = await pages(lang_settings, await a_lead(lang_settings, "en-GB"))
    assert '<html lang="en">' in preferences and "Yes, unsubscribe" in preferences
    assert "You chose 9 out of 10." in score


async def test_a_lead_without_a_locale_gets_the_project_default(lang_settings):
    preferences, _, _, _ = await pages(lang_settings, await a_lead(lang_settings, None))
    assert '<html lang="de">' in preferences and "Ja, abmelden" in preferences


async def test_a_bad_link_follows_the_browser(lang_settings):
    transport = httpx.ASGITransport(app=create_app(lang_settings))
    async with httpx.AsyncClient(transport=transport, base_url=lang_settings.base_url) as client:
        page = await client.get("/u/garbage", headers={"accept-language": "sv"})
    assert page.status_code == 404 and "Avregistreringslänken är ogiltig." in page.text


TOPIC = 'topic: ratgeber\ntopic_label: {de: "Ratgeber", sv: "Guider", en: "Guides"}\n'


async def test_the_topics_are_named_in_the_lead_s_language(lang_settings):
    sequence = lang_settings.config_dir / "sequences" / "b2b-nurture.yaml"
    sequence.write_text(sequence.read_text().replace("trigger:\n", TOPIC + "trigger:\n", 1))
    swedish, _, _, _ = await pages(lang_settings, await a_lead(lang_settings, "sv"))
    assert re.search(r'value="ratgeber"[^>]*> Guider</label>', swedish), swedish
    german, _, _, _ = await pages(lang_settings, await a_lead(lang_settings, None, "d@example.de"))
    assert re.search(r'value="ratgeber"[^>]*> Ratgeber</label>', german)
