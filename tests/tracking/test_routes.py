"""Tracking over HTTP: the open pixel and click redirects of sent emails, signed and recorded
(the rewriting itself is rendering/tracked_links.py)."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.policy import default

from sqlalchemy import select

from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Event, Lead
from nurture.links import Click, Links
from nurture.mail.transports import MemoryTransport
from nurture.rendering.tracked_links import literal_urls, track
from nurture.tokens import Tokens
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WHITEPAPER = "https://planwerk.example/downloads/leitfaden-ressourcenplanung-2027.pdf"


async def sent_parts(settings) -> tuple[str, str]:
    await enrolled_leads(settings, 1, MONDAY)
    report = await run_pass(build_dispatcher(settings), MONDAY)
    assert report.total("sent") == 1
    [message] = MemoryTransport.outboxes[settings.mail_url.get_secret_value().split("://")[1]]
    parsed = email.message_from_bytes(message.data, policy=default)
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    return html, text


def paths(kind: str, content: str) -> list[str]:
    return re.findall(rf"http://nurture\.test(/{kind}/[A-Za-z0-9_.=-]+)", content)


async def test_sent_email_routes_its_links_through_signed_redirects(settings):
    html, text = await sent_parts(settings)
    assert WHITEPAPER not in html and WHITEPAPER not in text
    assert paths("r", html) and paths("r", text)
    assert len(paths("o", html)) == 1  # the pixel
    assert paths("u", html)  # unsubscribe stays a direct link
    async with session_scope(settings.database_url.get_secret_value()) as session:
        public_id = await session.scalar(select(Lead.public_id))
    tokens = "".join(paths("r", html) + paths("o", html) + paths("u", html))
    assert "lead0" not in tokens and public_id not in tokens  # no lead id in the links


async def test_open_and_click_are_recorded_with_step_and_url(settings, app_client):
    html, _ = await sent_parts(settings)
    pixel = await app_client.get(paths("o", html)[0])
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert pixel.content.startswith(b"GIF89a") and "no-store" in pixel.headers["cache-control"]
    targets = []
    for path in paths("r", html):
        response = await app_client.get(path)
        assert response.status_code == 302
        targets.append(response.headers["location"])
    assert WHITEPAPER in targets
    async with session_scope(settings.database_url.get_secret_value()) as session:
        events = (
            await session.scalars(
                select(Event).where(Event.type.in_(["open", "click"])).order_by(Event.id)
            )
        ).all()
    assert [e.type for e in events] == ["open"] + ["click"] * len(targets)
    assert {(e.sequence_id, e.step_id) for e in events} == {("b2b-nurture", "welcome")}
    assert [e.data["url"] for e in events[1:]] == targets


async def test_forged_or_altered_tokens_get_404_and_record_nothing(settings, app_client):
    html, _ = await sent_parts(settings)
    click, pixel = paths("r", html)[0], paths("o", html)[0]
    token = click.removeprefix("/r/")
    payload, _, signature = token.rpartition(".")
    forged = Links(Tokens("not-our-key"), "http://nurture.test").click_url(
        1, "https://evil.example"
    )
    attempts = [
        f"/r/{payload[:-2]}xx.{signature}",  # altered URL or send
        f"/r/{payload}.{signature[:-2]}xx",  # altered signature
        forged.removeprefix("http://nurture.test"),  # signed with another key
        "/r/" + pixel.removeprefix("/o/"),  # an open token used as a click
        "/o/" + token,  # and the other way round
        "/r/nonsense",
    ]
    for path in attempts:
        assert (await app_client.get(path, follow_redirects=False)).status_code == 404, path
    [unsubscribe] = paths("u", html)
    forged_u = unsubscribe[:-3] + "xyz"
    assert (await app_client.get(forged_u)).status_code == 404
    one_click = {"List-Unsubscribe": "One-Click"}
    assert (await app_client.post(forged_u, data=one_click)).status_code == 404
    assert (await app_client.post("/u/" + token, data=one_click)).status_code == 404
    async with session_scope(settings.database_url.get_secret_value()) as session:
        assert (await session.scalar(select(Lead.suppressed_at))) is None
    async with session_scope(settings.database_url.get_secret_value()) as session:
        hits = await session.scalars(select(Event).where(Event.type.in_(["open", "click"])))
        assert not hits.all()


def test_only_urls_written_in_the_template_become_redirects():
    links = Links(Tokens("k"), "https://n.example")
    html = (
        '<html><body><a href="https://ok.example/a?x=1&amp;y=2">ok</a> '
        '<a href="https://from-lead-data.example">x</a></body></html>'
    )
    text = "See https://ok.example/a?x=1&y=2 and https://from-lead-data.example."
    out_html, out_text = track(links, html, text, 7, {"https://ok.example/a?x=1&y=2"})
    assert 'href="https://from-lead-data.example"' in out_html
    # the link to ok.example, and the hidden link right after <body>
    assert "https://ok.example/a" not in out_html and out_html.count("/r/") == 2
    hidden, tracked = re.findall(r'href="[^"]*/r/([^"]+)"', out_html)
    assert links.read_click(hidden).hidden and not links.read_click(tracked).hidden
    assert out_html.startswith(f'<html><body><a href="https://n.example/r/{hidden}" aria-hidden')
    assert out_html.count("/o/") == 1 and out_html.endswith("</body></html>")
    assert "https://from-lead-data.example." in out_text and out_text.count("/r/") == 1
    [token] = re.findall(r"/r/([^\"\s]+)", out_text)
    assert links.read_click(token) == Click(7, "https://ok.example/a?x=1&y=2")
    assert literal_urls('<a href="https://a.example/x">{{ links.demo }}</a>') == {
        "https://a.example/x"
    }
