"""End to end through the tracking server: a scanner's click on a variant's mail is recorded
(a machine's) and counts for nothing; a person's counts for its variant."""

from __future__ import annotations

import email
import re
import uuid
from datetime import timedelta
from email.policy import default

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

from nurture.app import create_app
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.experiments.counts import VariantCounts, variant_counts
from nurture.leads.events import EventType
from nurture.leads.models import Event
from nurture.mail.transports import MemoryTransport
from tests.experiments.project import SEQ, project, recorded
from tests.factories import BROWSER, enrolled_leads

SCANNER = {"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"}


def first_link(message) -> str:
    html = email.message_from_bytes(message.data, policy=default).get_body(("html",)).get_content()
    return re.findall(r'href="http://nurture\.test(/r/[^"]+)"[^>]*>\s*[^<\s]', html)[0]


async def test_a_scanners_click_does_not_count_a_persons_does(settings, tmp_path):
    s = project(settings, tmp_path).model_copy(
        update={"mail_url": SecretStr(f"memory://{uuid.uuid4().hex}")}
    )
    an_hour_ago = utcnow() - timedelta(hours=1)  # nobody reads within seconds of delivery
    await enrolled_leads(s, 20, an_hour_ago, sequence_id=SEQ)
    assert (await run_pass(build_dispatcher(s), an_hour_ago)).total("sent") == 20
    variants = await recorded(s)
    sent = MemoryTransport.outboxes[s.mail_url.get_secret_value().split("://")[1]]
    of_a = [m for m in sent if variants[m.touch_id] == "a"]
    of_b = [m for m in sent if variants[m.touch_id] == "b"]
    assert of_a and len(of_b) >= 2
    app = create_app(s)

    def client(**headers: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        return httpx.AsyncClient(transport=transport, base_url=s.base_url, headers=headers)

    async with client(**SCANNER) as scanner:  # the gateway clicks every a mail
        for m in of_a:
            assert (await scanner.get(first_link(m))).status_code == 302
    async with client(**BROWSER) as person:  # two people click their b mail
        for m in of_b[:2]:
            assert (await person.get(first_link(m))).status_code == 302
    async with session_scope(s.database_url.get_secret_value()) as session:
        clicks = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type == EventType.CLICK)
        )
        assert clicks == len(of_a) + 2  # the scanner's are kept, as a machine's
        counts = await variant_counts(session, {(SEQ, "step0")})
    assert counts[(SEQ, "step0")] == {
        "a": VariantCounts(sends=len(of_a), opens=0, clicks=0),
        "b": VariantCounts(sends=len(of_b), opens=0, clicks=2),
    }
