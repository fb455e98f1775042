"""Capture over HTTP -> double opt-in -> all 7 touches delivered to a real SMTP server at the
right simulated times, parsed back and checked. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from nurture.app import create_app
from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.ledger.models import Enrollment


async def test_capture_confirm_and_the_whole_drip_over_smtp(settings, smtp):
    settings = settings.model_copy(update={"mail_url": SecretStr(smtp.url)})
    sequence = load_project(settings.config_dir).sequences["b2b-nurture"]
    window = sequence.send_window
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://nurture.test"
    ) as client:
        posted = await client.post(
            "/f/leitfaden",
            data={
                "first_name": "Jürgen",
                "last_name": "Weiß",
                "email": "juergen@example.de",
                "company": "Weiß & Söhne KG",
                "consent": "on",
                "tz": "Europe/Berlin",
                "utm_source": "google",
            },
        )
        assert posted.status_code == 303
        [confirmation] = smtp.handler.to("juergen@example.de")
        body = confirmation.parsed().get_body(("plain",)).get_content()
        link = re.search(r"http://nurture\.test(/c/\S+)", body).group(1)
        assert (await client.post(link)).status_code == 200  # the person's press of the button

    zone = ZoneInfo("Europe/Berlin")
    delivered = []
    for number, step in enumerate(sequence.steps, start=1):
        async with session_scope(settings.database_url.get_secret_value()) as session:
            enrollment = await session.scalar(select(Enrollment))
            due = enrollment.next_due_at
        # A pass just before the due time sends nothing; at the due time, exactly this step.
        early = await run_pass(build_dispatcher(settings), due - timedelta(minutes=1))
        assert early.claimed == 0, step.id
        report = await run_pass(build_dispatcher(settings), due)
        assert report.total("sent") == 1, step.id
        message = smtp.handler.to("juergen@example.de")[-1].parsed()
        delivered.append(message)
        local = due.astimezone(zone)
        if not step.ignore_window:
            assert local.strftime("%a").lower() in window.weekdays, (step.id, local)
            assert window.start <= local.time() <= window.end, (step.id, local)
        assert message["Date"].datetime == due.replace(microsecond=0)
        assert message["To"].addresses[0].addr_spec == "juergen@example.de"
        assert message["To"].addresses[0].display_name == "Jürgen Weiß"
        assert message["From"].addresses[0].addr_spec == sequence.sender.email
        assert message["Message-ID"] and message["MIME-Version"] == "1.0"
        assert message["List-Unsubscribe"].startswith("<http://nurture.test/u/")
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        # The HTML part writes non-ASCII as character references (&#252;): as a reader sees it.
        assert "Jürgen" in text and "Jürgen" in unescape(html), step.id
        assert "style=" in html  # CSS inlined for mail clients
        assert "Abmelden" in text or "abmelden" in text.lower()
        assert number == len(delivered)

    assert len({m["Message-ID"] for m in delivered}) == 7
    assert len({m["Subject"] for m in delivered}) == 7
    async with session_scope(settings.database_url.get_secret_value()) as session:
        enrollment = await session.scalar(select(Enrollment))
        assert enrollment.state == "completed" and enrollment.current_step == 7
    later = await run_pass(build_dispatcher(settings), due + timedelta(days=60))
    assert later.claimed == 0
    assert len(smtp.handler.to("juergen@example.de")) == 1 + 7
