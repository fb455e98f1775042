"""A lead with data everywhere nurture keeps it, made through the app over HTTP, a real SMTP
server and a Maildir inbox: website visits before the form, a form post with consent, UTM and
a referrer, the confirmation, a send retried after a reply that echoes the address, an open
and a click, a reply in the inbox (forwarded), a hand-off the rep rejects with a note (the
lead goes on in the recycle drip)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from nurture.app import create_app
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.handoff.models import Handoff
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.models import Lead
from nurture.ledger.claims import next_due
from nurture.scheduler import inbox_once
from nurture.settings import Settings
from tests.conftest import CONTENT
from tests.factories import BROWSER
from tests.inbox.conftest import deliver, make_maildir
from tests.inbox.mail import reply

TYPED = "Mareike.Quellenhof@Kunde-GmbH.de"  # as the person typed it
EMAIL = "mareike.quellenhof@kunde-gmbh.de"
FIRST, LAST = "Mareike", "Quellenhof"
COMPANY = "Quellenhof Feinmechanik GmbH"
AID = "aid-quellenhof-browser"
API = {"authorization": "Bearer s3cret-key"}
WRITE_KEY = "pk_public_write"

# What must be nowhere after forget: the address however spelt, its local part (also as a
# URL query carries it), the names.
NEEDLES = (
    EMAIL,
    TYPED,
    EMAIL.upper(),
    "mareike.quellenhof",
    "mareike.quellenhof%40",
    FIRST,
    FIRST.lower(),
    FIRST.upper(),
    LAST,
    LAST.lower(),
    LAST.upper(),
)


@dataclass
class Rich:
    settings: Settings
    client: httpx.AsyncClient
    lead_id: str


async def due(url: str) -> datetime:
    async with session_scope(url) as session:
        found = await next_due(session)
    assert found is not None
    return found


def _link(message, kind: str) -> list[str]:
    html = message.parsed().get_body(("html",)).get_content()
    return re.findall(rf'http://nurture\.test(/{kind}/[^"\s]+)', html)


@pytest.fixture
async def rich(settings, smtp, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(CONTENT / "config", project / "config")
    inbox = make_maildir(tmp_path / "Maildir")
    settings = settings.model_copy(
        update={
            "config_dir": project / "config",
            "mail_url": SecretStr(smtp.url),
            "inbox_url": SecretStr(f"maildir://{inbox}"),
            "api_key": SecretStr("s3cret-key"),
            "tracking_key": WRITE_KEY,
        }
    )
    url = settings.database_url.get_secret_value()
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://nurture.test", headers=BROWSER
    ) as client:
        visit = f"https://www.planwerk.example/preise?email=mareike.quellenhof%40kunde-gmbh.de&n={FIRST}"
        page = {"type": "page", "anonymousId": AID, "context": {"page": {"url": visit}}}
        tracked = await client.post("/api/track", json={**page, "writeKey": WRITE_KEY})
        assert tracked.status_code == 200, tracked.text
        posted = await client.post(
            "/f/leitfaden",
            json={
                "email": TYPED,
                "first_name": FIRST,
                "last_name": LAST,
                "company": COMPANY,
                "job_title": "CEO",
                "company_size": "50-199",
                "country": "DE",
                "consent": True,
                "anonymous_id": AID,
                "utm_source": "newsletter",
                "utm_medium": "email",
                "utm_campaign": "herbst",
                "utm_term": f"{LAST.lower()}-kontakt",
                "referrer": f"https://partner.example/?from={EMAIL}",
            },
        )
        assert posted.status_code == 201, posted.text
        lead_id = posted.json()["lead_id"]
        [confirmation] = smtp.handler.to(EMAIL)
        text = confirmation.parsed().get_body(("plain",)).get_content()
        assert (await client.post(re.search(r"http://nurture\.test(/c/\S+)", text)[1])).is_success

        # A server that names the address in its 4xx; the retry goes through.
        smtp.handler.behaviour.rcpt[EMAIL] = f"452 4.2.2 <{EMAIL}> mailbox full, {FIRST}"
        moment = await due(url)
        assert (await run_pass(build_dispatcher(settings), moment)).total("retrying") == 1
        del smtp.handler.behaviour.rcpt[EMAIL]
        moment = await due(url)
        assert (await run_pass(build_dispatcher(settings), moment)).total("sent") == 1
        [mail] = smtp.handler.to(EMAIL)[1:]
        assert (await client.get(_link(mail, "o")[0])).status_code == 200
        assert (await client.get(_link(mail, "r")[0])).status_code == 302

        body = f"Hallo,\n\nhier {FIRST} {LAST} ({EMAIL}), bitte rufen Sie mich an.\n"
        subject = f"Re: Leitfaden für {FIRST} {LAST}"
        message_id = mail.parsed()["Message-ID"]
        deliver(inbox, reply(EMAIL, in_reply_to=message_id, subject=subject, body=body))
        await inbox_once(settings, moment, use_prefect=False)
        assert (await run_handoff_pass(build_context(settings), moment)).handed_off == 1
        async with session_scope(url) as session:
            lead = await session.scalar(select(Lead).where(Lead.public_id == lead_id))
            handoff_id = await session.scalar(select(Handoff.id).where(Handoff.lead_id == lead.id))
        # The rep sends the lead back, with a note about the person: into the recycle drip.
        link = build_context(settings).composer.links.handoff_url(handoff_id, "reject")
        note = f"Rückruf mit {FIRST} {LAST} im Frühjahr"
        answer = {"reason": "bad-timing", "note": note}
        rejected = await client.post(link.removeprefix(settings.base_url), data=answer)
        assert rejected.status_code == 200, rejected.text
        yield Rich(settings, client, lead_id)


async def database_text(settings: Settings) -> bytes:
    """Every byte the database holds: the SQLite file and its -wal and -shm files, or
    PostgreSQL's pg_dump (a logical dump: what a backup and a reader of the tables see)."""
    url = settings.database_url.get_secret_value()
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    return subprocess.run(["pg_dump", dsn], capture_output=True, check=True).stdout
