"""POST /api/track: Segment calls behind the API key or the public write key; anonymous page
views join the lead exactly once; a retried batch records nothing twice; a bad call rejects
its whole batch with a message per call and field; a demo_booked goal ends the drip."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from nurture.app import create_app
from nurture.capture.service import confirm
from nurture.config.project import load_project
from nurture.db import session_scope, utcnow
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.events import EventType
from nurture.leads.models import Consent, Event, Lead
from nurture.ledger.models import Enrollment
from nurture.visitors.models import Visitor, VisitorEvent

API = {"authorization": "Bearer s3cret-key"}
WRITE_KEY = "pk_public_write"


@pytest.fixture
def tracked(settings):
    return settings.model_copy(
        update={"api_key": SecretStr("s3cret-key"), "tracking_key": WRITE_KEY}
    )


@pytest.fixture
async def api(tracked):
    transport = httpx.ASGITransport(app=create_app(tracked))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as client:
        yield client


def page(aid: str, url: str, **extra) -> dict:
    return {"type": "page", "anonymousId": aid, "context": {"page": {"url": url}}, **extra}


async def browser(api, body: dict, **headers) -> httpx.Response:
    return await api.post("/api/track", json={**body, "writeKey": WRITE_KEY}, headers=headers)


async def signup(api, email: str = "ada@firma.de", **extra) -> str:
    posted = await api.post(
        "/f/leitfaden", json={"email": email, "first_name": "Ada", "consent": True, **extra}
    )
    assert posted.status_code == 201, posted.text
    return posted.json()["lead_id"]


async def counts(settings) -> tuple[int, int]:
    """(events of type page or custom.*, visitor_events)."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_events = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where((Event.type == EventType.PAGE) | Event.type.like("custom.%"))
        )
        waiting = await session.scalar(select(func.count()).select_from(VisitorEvent))
    return int(lead_events or 0), int(waiting or 0)


async def lead_events(settings, public_id: str) -> list[tuple[str, dict]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Event.type, Event.data)
            .join(Lead, Lead.id == Event.lead_id)
            .where(Lead.public_id == public_id)
            .order_by(Event.id)
        )
        return [(r.type, r.data) for r in rows.all()]


async def test_who_may_send_what(api, tracked) -> None:
    lead_id = await signup(api)
    view = page("aid-1", "https://site.example/preise")
    assert (await api.post("/api/track", json=view, headers=API)).status_code == 200
    assert (await browser(api, view)).status_code == 200
    basic = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    segment = await api.post("/api/track", json=view, headers={"authorization": f"Basic {basic}"})
    assert segment.status_code == 200
    for headers, body in (
        ({}, view),
        ({"authorization": "Bearer wrong"}, view),
        ({}, {**view, "writeKey": "pk_guessed"}),
    ):
        denied = await api.post("/api/track", json=body, headers=headers)
        assert denied.status_code == 401, denied.text
        assert denied.json()["detail"][0]["loc"] == ["header", "authorization"]
    identify = await browser(api, {"type": "identify", "userId": lead_id, "anonymousId": "aid-1"})
    assert identify.status_code == 403
    assert identify.json()["detail"][0]["loc"] == ["body", "type"]
    assert "API key" in identify.json()["detail"][0]["msg"]
    as_lead = await browser(api, {**view, "userId": lead_id})
    assert as_lead.status_code == 403
    assert as_lead.json()["detail"][0]["loc"] == ["body", "userId"]
    assert await counts(tracked) == (0, 3)
    # Without a write key configured, only the API key works.
    off = tracked.model_copy(update={"tracking_key": ""})
    transport = httpx.ASGITransport(app=create_app(off))
    async with httpx.AsyncClient(transport=transport, base_url="http://nurture.test") as client:
        assert (await browser(client, view)).status_code == 401


async def test_identify_joins_anonymous_page_views_exactly_once(api, tracked) -> None:
    ada = await signup(api, "ada@firma.de")
    bob = await signup(api, "bob@firma.de")
    for aid, url in (("aid-1", "/preise"), ("aid-1", "/demo"), ("aid-2", "/blog")):
        assert (await browser(api, page(aid, f"https://site.example{url}"))).status_code == 200
    assert await counts(tracked) == (0, 3)
    identify = {"type": "identify", "userId": ada, "anonymousId": "aid-1"}
    for _ in range(2):  # twice: joined once
        assert (await api.post("/api/track", json=identify, headers=API)).status_code == 200
    by_address = {"type": "identify", "userId": "ADA@firma.de", "anonymousId": "aid-2"}
    assert (await api.post("/api/track", json=by_address, headers=API)).status_code == 200
    to_bob = {"type": "identify", "userId": bob, "anonymousId": "aid-1"}  # already joined
    assert (await api.post("/api/track", json=to_bob, headers=API)).status_code == 200
    got = await lead_events(tracked, ada)
    urls = sorted(d["url"] for t, d in got if t == EventType.PAGE)
    assert urls == [f"https://site.example{u}" for u in ("/blog", "/demo", "/preise")]
    assert sorted(d["anonymous_id"] for t, d in got if t == EventType.IDENTIFIED) == [
        "aid-1",
        "aid-2",
    ]
    assert [t for t, _ in await lead_events(tracked, bob) if t == EventType.PAGE] == []
    # The joined browser's next page view is the lead's at once.
    assert (await browser(api, page("aid-1", "https://site.example/kontakt"))).status_code == 200
    assert await counts(tracked) == (4, 0)
    assert (await lead_events(tracked, ada))[-1][1]["url"] == "https://site.example/kontakt"


async def test_a_batch_of_100_and_its_replay(api, tracked) -> None:
    lead_id = await signup(api)
    calls = [
        {
            "type": "track",
            "userId": lead_id,
            "event": "Pricing Viewed",
            "properties": {"plan": "team", "n": i},
            "messageId": f"m-{i}",
        }
        for i in range(50)
    ] + [page(f"aid-{i % 7}", f"https://site.example/p/{i}", messageId=f"p-{i}") for i in range(50)]
    first = await api.post("/api/track", json={"batch": calls}, headers=API)
    assert first.status_code == 200, first.text
    assert first.json() == {"success": True, "accepted": 100, "duplicates": 0, "ignored": 0}
    again = await api.post("/api/track", json={"batch": calls}, headers=API)
    assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 100
    assert await counts(tracked) == (50, 50)
    tracked_ = [d for t, d in await lead_events(tracked, lead_id) if t == "custom.pricing_viewed"]
    assert sorted(d["n"] for d in tracked_) == list(range(50))


async def test_bad_calls_reject_the_whole_batch_with_a_message_each(api, tracked) -> None:
    future = (utcnow() + timedelta(hours=1)).isoformat()
    batch = [
        page("aid-1", "https://site.example/ok"),
        {"type": "track", "anonymousId": "aid-1"},
        page("aid-1", "https://site.example/later", timestamp=future),
        {"type": "alias", "anonymousId": "aid-1"},
        {"type": "page"},
        {"type": "track", "anonymousId": "a b", "event": "x"},
        {"type": "track", "anonymousId": "aid-1", "event": "!!!"},
    ]
    bad = await api.post("/api/track", json={"batch": batch}, headers=API)
    assert bad.status_code == 422, bad.text
    locs = {tuple(e["loc"]) for e in bad.json()["detail"]}
    assert locs == {
        ("body", "batch", 1, "event"),
        ("body", "batch", 2, "timestamp"),
        ("body", "batch", 3, "type"),
        ("body", "batch", 4, "anonymousId"),
        ("body", "batch", 5, "anonymousId"),
        ("body", "batch", 6, "event"),
    }
    unknown = await api.post(
        "/api/track",
        json={
            "batch": [
                page("aid-1", "https://site.example/ok"),
                {**page("x", "/"), "userId": "nope"},
            ]
        },
        headers=API,
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "batch", 1, "userId"]
    garbled = await api.post("/api/track", content=b"{not json", headers=API)
    assert garbled.status_code == 400
    assert await counts(tracked) == (0, 0)
    async with session_scope(tracked.database_url.get_secret_value()) as session:
        assert await session.scalar(select(func.count()).select_from(Visitor)) == 0


async def test_do_not_track_and_gpc_headers_record_nothing(api, tracked) -> None:
    for header in ({"DNT": "1"}, {"Sec-GPC": "1"}):
        answer = await browser(api, page("aid-1", "https://site.example/"), **header)
        assert answer.json()["ignored"] == 1
    assert await counts(tracked) == (0, 0)


async def test_the_sites_clock_is_corrected_and_the_text_plain_beacon_read(api, tracked) -> None:
    now = utcnow()
    skewed = page(
        "aid-1",
        "https://site.example/",
        timestamp=(now + timedelta(hours=2, seconds=-3)).isoformat(),
        sentAt=(now + timedelta(hours=2)).isoformat(),  # the visitor's clock is 2 h ahead
        writeKey=WRITE_KEY,
    )
    import json

    answer = await api.post(
        "/api/track", content=json.dumps(skewed), headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 200, answer.text
    async with session_scope(tracked.database_url.get_secret_value()) as session:
        at = await session.scalar(select(VisitorEvent.occurred_at))
    assert abs((at - now).total_seconds() + 3) < 5


async def test_form_post_with_anonymous_id_joins_once(api, tracked) -> None:
    await browser(api, page("aid-form", "https://site.example/preise"))
    await browser(api, page("aid-html", "https://site.example/demo"))
    lead_id = await signup(api, "ada@firma.de", anonymous_id="aid-form")
    again = await signup(api, "ada@firma.de", anonymous_id="aid-form")
    assert again == lead_id
    html = await api.post(
        "/f/leitfaden",
        data={
            "email": "bob@firma.de",
            "first_name": "Bob",
            "consent": "on",
            "anonymous_id": "aid-html",
        },
    )
    assert html.status_code == 303
    ada = await lead_events(tracked, lead_id)
    assert [d["url"] for t, d in ada if t == EventType.PAGE] == ["https://site.example/preise"]
    assert len([t for t, _ in ada if t == EventType.IDENTIFIED]) == 1
    assert await counts(tracked) == (2, 0)
    bad = await api.post(
        "/f/leitfaden",
        json={"email": "c@firma.de", "first_name": "C", "consent": True, "anonymous_id": "a b"},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "anonymous_id"]


async def enrollment(settings, public_id: str) -> tuple[str, str | None]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = (
            await session.execute(
                select(Enrollment.state, Enrollment.exit_reason)
                .join(Lead, Lead.id == Enrollment.lead_id)
                .where(Lead.public_id == public_id, Enrollment.sequence_id == "b2b-nurture")
            )
        ).one()
    return row.state, row.exit_reason


@pytest.mark.parametrize("sender", ["site", "crm"])
async def test_demo_booked_ends_the_drip_at_the_next_pass(api, tracked, sender) -> None:
    lead_id = await signup(api, anonymous_id="aid-demo")
    async with session_scope(tracked.database_url.get_secret_value()) as session:
        consent_id = await session.scalar(select(Consent.id))
        await confirm(
            session,
            load_project(tracked.config_dir),
            consent_id,
            None,
            None,
            utcnow(),
            timedelta(days=1),
            tracked.resolved_secret_key(),
        )
    await run_handoff_pass(build_context(tracked), utcnow())
    assert (await enrollment(tracked, lead_id))[0] == "active"
    booked = {"type": "track", "event": "Demo Booked", "properties": {"slot": "tue 10:00"}}
    if sender == "site":  # the browser that posted the form, now known
        answer = await browser(api, {**booked, "anonymousId": "aid-demo"})
    else:
        answer = await api.post("/api/track", json={**booked, "userId": lead_id}, headers=API)
    assert answer.status_code == 200, answer.text
    await run_handoff_pass(build_context(tracked), utcnow() + timedelta(seconds=1))
    assert await enrollment(tracked, lead_id) == ("exited", "goal_custom.demo_booked")
