"""Every open and click is recorded with its verdict, and a machine still gets its answer:
HEAD, scanner agents and networks, fetched at delivery, the hidden link and its burst,
several links at once; a person who clicks two links a minute apart stays a person."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email.policy import default

import httpx
from sqlalchemy import select

from nurture.app import create_app
from nurture.config.signals import EngagementSignals
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.leads.models import Event
from nurture.ledger.models import Touch
from nurture.mail.transports import MemoryTransport
from nurture.tracking.engagement import record_engagement
from nurture.verdict.bursts import judge_bursts
from tests.factories import BROWSER, enrolled_leads

SIGNALS = EngagementSignals()  # 10 s after delivery, bursts of 5 s


async def sent_html(settings, at) -> str:
    await enrolled_leads(settings, 1, at)
    assert (await run_pass(build_dispatcher(settings), at)).total("sent") == 1
    [message] = MemoryTransport.outboxes[settings.mail_url.get_secret_value().split("://")[1]]
    return email.message_from_bytes(message.data, policy=default).get_body(("html",)).get_content()


def hidden_and_visible(html: str) -> tuple[str, list[str]]:
    [hidden] = re.findall(r'href="http://nurture\.test(/r/[^"]+)" aria-hidden="true"', html)
    visible = re.findall(r'href="http://nurture\.test(/r/[^"]+)"[^>]*>\s*[^<\s]', html)
    return hidden, visible


async def engagement(settings) -> list[tuple[str, str | None, str | None]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Event.type, Event.machine, Event.data["url"].as_string())
            .where(Event.type.in_([EventType.OPEN, EventType.CLICK]))
            .order_by(Event.id)
        )
        return [tuple(r) for r in rows]


def client(settings, ip: str = "198.51.100.7", **headers) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings), client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=settings.base_url, headers=headers)


async def test_a_person_an_hour_after_delivery_is_human(settings):
    html = await sent_html(settings, utcnow() - timedelta(hours=1))
    _, visible = hidden_and_visible(html)
    [pixel] = re.findall(r"http://nurture\.test(/o/[^\"]+)", html)
    async with client(settings, **BROWSER) as c:
        assert (await c.get(pixel)).status_code == 200
        assert (await c.get(visible[0])).status_code == 302
    assert [(t, m) for t, m, _ in await engagement(settings)] == [
        (EventType.OPEN, None),
        (EventType.CLICK, None),
    ]


async def test_machines_by_request_still_get_their_redirect(settings):
    html = await sent_html(settings, utcnow() - timedelta(hours=1))
    _, visible = hidden_and_visible(html)
    async with client(settings, **BROWSER) as c:
        head = await c.head(visible[0])
        assert head.status_code == 302 and head.headers["location"].startswith("https://")
    async with client(settings, ip="40.94.12.3", **BROWSER) as c:  # Safe Links' network
        assert (await c.get(visible[0])).status_code == 302
    async with client(settings) as c:  # python-httpx: a script
        assert (await c.get(visible[0])).status_code == 302
    async with client(
        settings, **{"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"}
    ) as c:
        assert (await c.get(visible[0])).status_code == 302
    assert [m for _, m, _ in await engagement(settings)] == [
        MachineReason.HEAD_REQUEST,
        MachineReason.KNOWN_NETWORK,
        MachineReason.BOT,
        MachineReason.KNOWN_AGENT,
    ]


async def test_fetched_at_delivery_is_a_machine(settings):
    html = await sent_html(settings, utcnow())
    [pixel] = re.findall(r"http://nurture\.test(/o/[^\"]+)", html)
    async with client(settings, **BROWSER) as c:  # Apple's proxy fetches on arrival
        assert (await c.get(pixel)).status_code == 200
    assert [m for _, m, _ in await engagement(settings)] == [MachineReason.AT_DELIVERY]


async def test_the_hidden_link_marks_its_burst_and_redirects_home(settings):
    html = await sent_html(settings, utcnow() - timedelta(hours=1))
    hidden, visible = hidden_and_visible(html)
    [pixel] = re.findall(r"http://nurture\.test(/o/[^\"]+)", html)
    async with client(settings, **BROWSER) as c:  # a scanner with a browser's agent
        await c.get(pixel)
        await c.get(visible[0])
        response = await c.get(hidden)
        assert response.status_code == 302
        assert response.headers["location"] == f"{settings.base_url}/"
    assert [m for _, m, _ in await engagement(settings)] == [MachineReason.HIDDEN_LINK] * 3


async def _touch(settings) -> int:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await session.scalar(select(Touch.id))


async def _hits(settings, touch_id: int, *hits: tuple[float, str, str | None]) -> None:
    """Hits at seconds after a base time, each written in its own batch (as they arrive)."""
    base = utcnow()
    for seconds, type_, url in hits:
        hit = {
            "touch_id": touch_id,
            "type": type_,
            "occurred_at": base + timedelta(seconds=seconds),
            "machine": None,
            "data": {"url": url} if url else {},
        }
        async with session_scope(settings.database_url.get_secret_value()) as session:
            await record_engagement(session, [hit], SIGNALS)


async def test_several_links_within_seconds_are_a_machine(settings):
    await sent_html(settings, utcnow() - timedelta(hours=1))
    touch = await _touch(settings)
    await _hits(
        settings,
        touch,
        (0, EventType.OPEN, None),
        (1, EventType.CLICK, "https://a.example/1"),
        (2, EventType.CLICK, "https://a.example/2"),
        (2.5, EventType.CLICK, "https://a.example/3"),
    )
    assert [m for _, m, _ in await engagement(settings)] == [
        None,  # the open is not part of a link burst
        MachineReason.LINK_BURST,
        MachineReason.LINK_BURST,
        MachineReason.LINK_BURST,
    ]


async def test_a_person_clicking_two_links_a_minute_apart_stays_human(settings):
    await sent_html(settings, utcnow() - timedelta(hours=1))
    touch = await _touch(settings)
    await _hits(
        settings,
        touch,
        (0, EventType.OPEN, None),
        (3, EventType.CLICK, "https://a.example/pricing"),
        (4, EventType.CLICK, "https://a.example/pricing"),  # a double click: the same link
        (64, EventType.CLICK, "https://a.example/demo"),
    )
    assert [m for _, m, _ in await engagement(settings)] == [None] * 4


async def test_the_pass_settles_bursts_that_two_processes_wrote(settings):
    """Hits written without each other's sight (two server processes): the scoring pass's
    sweep finds the burst."""
    await sent_html(settings, utcnow() - timedelta(hours=1))
    touch = await _touch(settings)
    at = utcnow()
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_id = await session.scalar(select(Touch.lead_id))
        await record_events(
            session,
            [
                event_row(lead_id, EventType.CLICK, at, touch_id=touch, url="https://a.example/1"),
                event_row(
                    lead_id,
                    EventType.CLICK,
                    at + timedelta(seconds=1),
                    touch_id=touch,
                    url="https://a.example/2",
                ),
            ],
        )
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await judge_bursts(session, 5, since=at - timedelta(days=1)) == 2
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert await judge_bursts(session, 5, since=at - timedelta(days=1)) == 0  # settled
    assert [m for _, m, _ in await engagement(settings)] == [MachineReason.LINK_BURST] * 2
