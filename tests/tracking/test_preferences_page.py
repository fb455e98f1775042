"""The preference page behind the unsubscribe link: a GET shows it and changes nothing (mail
scanners fetch every link), a POST saves topics and a pause once, "Ja, abmelden" and RFC 8058
one-click still unsubscribe from everything."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from nurture.app import create_app
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.ledger.models import Enrollment, EnrollmentState, Touch
from nurture.preferences.models import Pause, TopicOptOut
from nurture.preferences.service import PAUSE
from nurture.rendering.compose import build_composer
from nurture.settings import Settings
from tests.conftest import SHIPPED
from tests.factories import BROWSER, enrolled_leads
from tests.preferences.project import NEWS, NURTURE, with_topics
from tests.tracking.test_routes import MONDAY

SCANNER = {"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}


@pytest.fixture
def topic_settings(settings: Settings, tmp_path) -> Settings:
    return with_topics(settings, tmp_path)


@pytest.fixture
async def client(topic_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(topic_settings))
    async with httpx.AsyncClient(transport=transport, base_url=topic_settings.base_url) as c:
        yield c


async def page_path(settings: Settings, email: str = "lead0@example.com") -> str:
    """The /u/ path of a lead enrolled in both topics' sequences."""
    await enrolled_leads(settings, 1, MONDAY)
    await enrolled_leads(settings, 1, MONDAY, sequence_id="news")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        public_id = await session.scalar(select(Lead.public_id).where(Lead.email == email))
    url = build_composer(settings).links.unsubscribe_lead_url(public_id)
    return url.removeprefix(settings.base_url)


async def footprint(settings: Settings) -> tuple[int, ...]:
    """Everything a visit could change: events, opt-outs, pauses, suppressions, drips."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(table))
                for table in (Event, TopicOptOut, Pause)
            ]
            + [
                await session.scalar(select(func.count()).where(Lead.suppressed_at.is_not(None))),
                await session.scalar(
                    select(func.count()).where(Enrollment.state == EnrollmentState.ACTIVE)
                ),
            ]
        )


def checked(html: str) -> dict[str, bool]:
    boxes = re.findall(r'<input type="checkbox" name="(topic|pause)" value="([^"]+)"([^>]*)>', html)
    return {value: "checked" in rest for _, value, rest in boxes}


async def test_the_page_shows_the_topics_the_pause_and_the_masked_address(topic_settings, client):
    path = await page_path(topic_settings)
    response = await client.get(path, headers=BROWSER)
    assert response.status_code == 200
    html = response.text
    assert "l****@example.com" in html and "lead0@example.com" not in html
    assert checked(html) == {NEWS: True, NURTURE: True, "30d": False}
    assert "Praxis tipps" in html and "Neuigkeiten" in html
    assert html.count(f'action="{path}"') == 2  # save, and "Ja, abmelden" (everything)
    assert "Ja, abmelden" in html
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in response.headers["cache-control"]


async def test_a_scanners_get_changes_nothing(topic_settings, client):
    path = await page_path(topic_settings)
    before = await footprint(topic_settings)
    for headers in (SCANNER, BROWSER, SCANNER):
        assert (await client.get(path, headers=headers)).status_code == 200
    assert await footprint(topic_settings) == before


async def test_saving_records_the_choice_with_its_time_once(topic_settings, client):
    path = await page_path(topic_settings)
    form = {"choice": "preferences", "offered": [NEWS, NURTURE], "topic": [NEWS], "pause": "30d"}
    start = utcnow()
    response = await client.post(path, data=form)
    assert response.status_code == 200
    assert "Gespeichert" in response.text and checked(response.text) == {
        NEWS: True,
        NURTURE: False,
        "30d": True,
    }
    async with session_scope(topic_settings.database_url.get_secret_value()) as session:
        [event] = (
            await session.scalars(select(Event).where(Event.type == EventType.PREFERENCES_CHANGED))
        ).all()
        pause = await session.scalar(select(Pause))
    assert start <= event.occurred_at <= utcnow()
    assert event.data["via"] == "page" and event.data["opted_out"] == [NURTURE]
    assert pause.paused_until == pause.paused_at + PAUSE == event.occurred_at + PAUSE
    shown = (await client.get(path)).text
    assert checked(shown) == {NEWS: True, NURTURE: False, "30d": True}
    assert f"pausiert bis {(event.occurred_at + PAUSE):%d.%m.%Y}" in shown
    # a replay (a reload, a second click) records nothing more
    before = await footprint(topic_settings)
    assert (await client.post(path, data=form)).status_code == 200
    assert await footprint(topic_settings) == before


async def test_unknown_topics_from_the_browser_are_ignored(topic_settings, client):
    path = await page_path(topic_settings)
    form = {"choice": "preferences", "offered": ["<script>", NEWS], "topic": ["<script>", NEWS]}
    before = await footprint(topic_settings)
    response = await client.post(path, data=form)
    assert response.status_code == 200 and "<script>" not in response.text
    assert await footprint(topic_settings) == before


async def test_one_click_still_unsubscribes_from_everything_without_a_page(topic_settings, client):
    path = await page_path(topic_settings)
    # a one-click POST carries only List-Unsubscribe=One-Click (RFC 8058)
    response = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and response.text == "unsubscribed"
    async with session_scope(topic_settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead).where(Lead.email == "lead0@example.com"))
        drips = (await session.scalars(select(Enrollment.exit_reason))).all()
    assert lead.suppression_reason == SuppressionReason.UNSUBSCRIBED
    assert drips == ["unsubscribed", "unsubscribed"]
    assert "Sie sind abgemeldet" in (await client.get(path)).text


async def test_the_pages_button_unsubscribes_from_everything(topic_settings, client):
    path = await page_path(topic_settings)
    response = await client.post(path)  # "Ja, abmelden": the form has no fields
    assert response.status_code == 200 and "Sie sind abgemeldet" in response.text
    async with session_scope(topic_settings.database_url.get_secret_value()) as session:
        reason = await session.scalar(select(Lead.suppression_reason))
    assert reason == SuppressionReason.UNSUBSCRIBED


async def test_a_forged_token_saves_nothing(topic_settings, client):
    path = await page_path(topic_settings)
    before = await footprint(topic_settings)
    form = {"choice": "preferences", "offered": [NEWS], "pause": "30d"}
    for forged in (path[:-3] + "xyz", "/u/nonsense"):
        assert (await client.get(forged)).status_code == 404
        assert (await client.post(forged, data=form)).status_code == 404
    assert await footprint(topic_settings) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the template, not the database
async def test_the_shipped_page_shows_and_confirms_the_choice(topic_settings):
    settings = topic_settings.model_copy(update={"templates_dir": SHIPPED / "templates"})
    path = await page_path(settings)
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as client:
        page = await client.get(path)
        assert checked(page.text) == {NEWS: True, NURTURE: True, "30d": False}
        assert "Ja, abmelden" in page.text and "Gespeichert" not in page.text
        form = {"choice": "preferences", "offered": [NEWS, NURTURE], "topic": [NURTURE]}
        saved = (await client.post(path, data=form | {"pause": "30d"})).text
    assert checked(saved) == {NEWS: False, NURTURE: True, "30d": True}
    assert "Gespeichert." in saved and "Sie erhalten: Praxis tipps." in saved
    assert "Abbestellt: Neuigkeiten." in saved and "pausiert bis" in saved


async def test_the_event_names_the_email_whose_link_was_used(topic_settings, client):
    await page_path(topic_settings)
    await run_pass(build_dispatcher(topic_settings), MONDAY)
    async with session_scope(topic_settings.database_url.get_secret_value()) as session:
        touch = await session.scalar(select(Touch).where(Touch.sequence_id == "news"))
    url = build_composer(topic_settings).links.unsubscribe_send_url(touch.id)
    form = {"choice": "preferences", "offered": [NEWS], "topic": []}
    assert (await client.post(url, data=form)).status_code == 200
    async with session_scope(topic_settings.database_url.get_secret_value()) as session:
        event = await session.scalar(
            select(Event).where(Event.type == EventType.PREFERENCES_CHANGED)
        )
    assert (event.sequence_id, event.step_id) == ("news", "welcome")
    assert event.data["opted_out"] == [NEWS]
