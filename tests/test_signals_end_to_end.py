"""The scenario of the signals issue, over HTTP, a real SMTP server and a Maildir inbox, on
SQLite and PostgreSQL: a company's mail gateway follows every link of every email at once,
an image proxy fetches every pixel, and a scanner's fetch of the double opt-in link confirms
nothing. Scanned alone, a lead never becomes an MQL, however much the machines "engage".
Another lead at the same company, scanned the same way, later clicks the pricing link and
replies, a person: that lead is handed to sales exactly once and gets nothing more."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import Counter
from datetime import timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

from nurture.app import create_app
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.leads.stages import Stage
from nurture.ledger.claims import next_due
from nurture.ledger.models import Enrollment, EnrollmentState
from nurture.links import Links
from nurture.scheduler import inbox_once
from nurture.tokens import Tokens
from tests.conftest import CONTENT
from tests.factories import BROWSER
from tests.inbox.conftest import deliver, make_maildir
from tests.inbox.mail import reply

SCANNED, PERSON = "sam.scanned@muster-ag.de", "paula.person@muster-ag.de"
REP = "jonas.albrecht@planwerk.example"
GATEWAY = {"User-Agent": BROWSER["User-Agent"]}  # a scanner that passes for a browser
PROXY = {
    "User-Agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko (via ggpht.com GoogleImageProxy)"
}
BURST = 0.5  # seconds (config/signals.yaml below): the person acts a little later


def paths(message, kind: str) -> list[str]:
    html = message.parsed().get_body(("html",)).get_content()
    return re.findall(rf'http://nurture\.test(/{kind}/[^"\s]+)', html)


def visible(message) -> list[str]:
    html = message.parsed().get_body(("html",)).get_content()
    return re.findall(r'href="http://nurture\.test(/r/[^"\s]+)"[^>]*>\s*[^<\s]', html)


async def scan(client: httpx.AsyncClient, message) -> None:
    """What the gateway and the image proxy do with every email, on arrival."""
    for path in paths(message, "o"):
        assert (await client.get(path, headers=PROXY)).status_code == 200
    for path in paths(message, "r"):  # every link, the hidden one included
        assert (await client.head(path, headers=GATEWAY)).status_code == 302
        assert (await client.get(path, headers=GATEWAY)).status_code == 302


async def test_machines_never_make_an_mql_a_person_does_once(settings, smtp, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(CONTENT / "config", project / "config")
    (project / "config" / "signals.yaml").write_text(f"engagement:\n  burst_seconds: {BURST}\n")
    inbox = make_maildir(tmp_path / "Maildir")
    settings = settings.model_copy(
        update={
            "config_dir": project / "config",
            "mail_url": SecretStr(smtp.url),
            "inbox_url": SecretStr(f"maildir://{inbox}"),
        }
    )
    links = Links(Tokens(settings.resolved_secret_key()), settings.base_url)
    url = settings.database_url.get_secret_value()
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://nurture.test", headers=BROWSER
    ) as client:
        for address in (SCANNED, PERSON):
            posted = await client.post(
                "/f/leitfaden",
                json={
                    "email": address,
                    "first_name": address.split(".")[0].title(),
                    "consent": True,
                    "job_title": "Projektleiterin",  # no fit points for the title
                    "company_size": "50-199",
                    "country": "DE",
                },
            )
            assert posted.status_code == 201
            [confirmation] = smtp.handler.to(address)
            text = confirmation.parsed().get_body(("plain",)).get_content()
            confirm = re.search(r"http://nurture\.test(/c/\S+)", text)[1]
            # the gateway fetches the confirmation link: a page, nothing confirmed
            assert (await client.get(confirm, headers=GATEWAY)).status_code == 200
            async with session_scope(url) as session:
                lead = await session.scalar(select(Lead).where(Lead.email == address))
                assert (lead.lifecycle_stage, lead.email_verified_at) == (Stage.SUBSCRIBER, None)
            assert (await client.post(confirm)).status_code == 200  # the person's button

        seen: Counter[str] = Counter()
        handoffs, replied_to = 0, None
        moment = utcnow() - timedelta(hours=1)
        for _ in range(40):  # each due time, as `nurture tick --until` would
            await inbox_once(settings, moment, use_prefect=False)
            await run_pass(build_dispatcher(settings), moment)
            report = await run_handoff_pass(build_context(settings), moment)
            handoffs += report.handed_off
            for address in (SCANNED, PERSON):
                for message in smtp.handler.to(address)[1 + seen[address] :]:
                    seen[address] += 1
                    await scan(client, message)
                    pricing = [
                        p
                        for p in visible(message)
                        if "/preise" in links.read_click(p.removeprefix("/r/")).url
                    ]
                    if address == PERSON and pricing and replied_to is None:
                        await asyncio.sleep(BURST + 0.2)  # reads, then clicks: a person
                        assert (await client.get(pricing[0])).status_code == 302
                        deliver(inbox, reply(PERSON, in_reply_to=message.parsed()["Message-ID"]))
                        replied_to = message.parsed()["Message-ID"]
            async with session_scope(url) as session:
                found = await next_due(session, moment)
            if found is None:
                break
            moment = max(found, moment + timedelta(minutes=1))
        await inbox_once(settings, moment, use_prefect=False)
        handoffs += (await run_handoff_pass(build_context(settings), moment)).handed_off

    assert replied_to is not None, "the person never got the email with the pricing link"
    async with session_scope(url) as session:
        leads = {lead.email: lead for lead in await session.scalars(select(Lead))}
        drips = dict((await session.execute(select(Enrollment.lead_id, Enrollment.state))).all())
        counts = {
            (lead_id, type_, machine is None): n
            for lead_id, type_, machine, n in await session.execute(
                select(Event.lead_id, Event.type, Event.machine, func.count()).group_by(
                    Event.lead_id, Event.type, Event.machine
                )
            )
        }

    def count(address: str, type_: EventType, human: bool) -> int:
        return sum(
            n
            for (lead_id, t, h), n in counts.items()
            if lead_id == leads[address].id and t == type_ and h == human
        )

    scanned, person = leads[SCANNED], leads[PERSON]
    # The scanned lead: every mail of the drip, every link fetched, and no MQL.
    assert len(smtp.handler.to(SCANNED)) - 1 == 7  # the breakup too: it never clicked
    assert count(SCANNED, EventType.CLICK, human=False) >= 7 * 2  # a link and the hidden one
    assert count(SCANNED, EventType.OPEN, human=False) == 7
    assert count(SCANNED, EventType.CLICK, human=True) == 0
    assert count(SCANNED, EventType.OPEN, human=True) == 0
    assert scanned.lifecycle_stage == Stage.LEAD and drips[scanned.id] == EnrollmentState.COMPLETED
    # The person: one human click, one reply, handed off once, nothing after the reply.
    assert count(PERSON, EventType.CLICK, human=True) == 1
    assert count(PERSON, EventType.REPLIED, human=True) == 1
    assert person.lifecycle_stage == Stage.MQL and drips[person.id] == EnrollmentState.EXITED
    assert handoffs == 1
    # the rep's hand-off names the person (the forwarded reply may go to the rep too)
    assert any(PERSON in m.data.decode("utf-8", "replace") for m in smtp.handler.to(REP))
    got = [m.parsed()["Message-ID"] for m in smtp.handler.to(PERSON)[1:]]
    assert got[-1] == replied_to  # the email answered was the last the person got
