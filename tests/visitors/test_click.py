"""A person's tracked click: the browser's nurture_aid cookie joins the lead the email went
to (its earlier page views become the lead's), or a new cookie bound to the lead is set; a
machine's click (here a HEAD request) joins nothing and sets no cookie."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email.policy import default

import httpx
from sqlalchemy import select

from nurture.app import create_app
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.events import EventType
from nurture.leads.models import Event
from nurture.mail.transports import MemoryTransport
from nurture.visitors.models import Visitor
from nurture.visitors.service import Call, page_data, record
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# A person's browser (httpx's own user agent is judged a bot's).
BROWSER = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
}


async def click_path(settings) -> str:
    await enrolled_leads(settings, 1, MONDAY)
    assert (await run_pass(build_dispatcher(settings), MONDAY)).total("sent") == 1
    [message] = MemoryTransport.outboxes[settings.mail_url.get_secret_value().split("://")[1]]
    html = email.message_from_bytes(message.data, policy=default).get_body(("html",)).get_content()
    # a link a person sees (not the hidden one, which only scanners follow)
    return re.findall(r'href="http://nurture\.test(/r/[^"]+)"(?! aria-hidden)', html)[0]


async def test_a_click_joins_the_browser_or_gives_it_a_cookie(settings) -> None:
    path = await click_path(settings)
    url = settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        view = page_data("https://site.example/preise", "/preise", "Preise", None)
        await record(
            session, [Call(EventType.PAGE, MONDAY - timedelta(days=1), view, None, "aid-x")], MONDAY
        )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://nurture.test", headers=BROWSER
    ) as browser:
        browser.cookies.set("nurture_aid", "aid-x")
        for _ in range(2):  # clicked twice: joined once
            answer = await browser.get(path)
            assert answer.status_code == 302
            assert "nurture_aid=aid-x" in answer.headers["set-cookie"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://nurture.test", headers=BROWSER
    ) as fresh:
        checked = await fresh.head(path)  # a link checker's HEAD: a machine's
        assert checked.status_code == 302 and "set-cookie" not in checked.headers
        answer = await fresh.get(path)
        new_id = re.search(r"nurture_aid=([0-9a-f]{32})", answer.headers["set-cookie"])[1]
        assert "samesite=lax" in answer.headers["set-cookie"].lower()
    async with session_scope(url) as session:
        lead_id = await session.scalar(
            select(Visitor.lead_id).where(Visitor.anonymous_id == "aid-x")
        )
        assert lead_id is not None
        rows = (
            await session.execute(
                select(Event.type, Event.data).where(Event.lead_id == lead_id).order_by(Event.id)
            )
        ).all()
        bound = await session.scalar(select(Visitor.lead_id).where(Visitor.anonymous_id == new_id))
    assert bound == lead_id
    assert [r.data["url"] for r in rows if r.type == EventType.PAGE] == [
        "https://site.example/preise"
    ]
    identified = [r.data for r in rows if r.type == EventType.IDENTIFIED]
    assert sorted((d["anonymous_id"], d["via"]) for d in identified) == sorted(
        [("aid-x", "click"), (new_id, "click")]
    )
