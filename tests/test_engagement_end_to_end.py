"""The loop the product exists for, over HTTP and a real SMTP server, on SQLite and
PostgreSQL: leads sign up and confirm; the drip goes out at its simulated times; one lead opens
and clicks its way over the threshold and is handed off exactly once to the right rep and
leaves the drip; one never engages and finishes the sequence without a handoff; two
unsubscribe (page and RFC 8058 one-click) and get nothing more."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from nurture.app import create_app
from nurture.db import session_scope, utcnow
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.handoff.models import Handoff
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.models import Lead
from nurture.ledger.claims import next_due
from nurture.ledger.models import Enrollment
from tests.factories import BROWSER

ENGAGED, QUIET = "eva.engaged@firma.de", "quentin.quiet@firma.de"
PAGE, ONE_CLICK = "paula.page@firma.de", "olaf.oneclick@firma.de"
REP = "jonas.albrecht@planwerk.example"


def links(message, kind: str) -> list[str]:
    html = message.parsed().get_body(("html",)).get_content()
    return re.findall(rf'http://nurture\.test(/{kind}/[^"\s]+)', html)


def visible_links(message) -> list[str]:
    """The tracked links a person can see (and click): not the hidden one, which has no text."""
    html = message.parsed().get_body(("html",)).get_content()
    return re.findall(r'href="http://nurture\.test(/r/[^"\s]+)"[^>]*>\s*[^<\s]', html)


async def test_engaged_lead_reaches_sales_once_others_finish_or_unsubscribe(settings, smtp):
    settings = settings.model_copy(update={"mail_url": SecretStr(smtp.url)})
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://nurture.test", headers=BROWSER
    ) as client:
        for email in (ENGAGED, QUIET, PAGE, ONE_CLICK):
            senior = email == ENGAGED
            posted = await client.post(
                "/f/leitfaden",
                json={
                    "email": email,
                    "first_name": email.split(".")[0].title(),
                    "consent": True,
                    "job_title": "Geschäftsführerin" if senior else "Werkstudent",
                    "company_size": "50-199" if senior else "1-19",
                    "country": "DE",
                },
            )
            assert posted.status_code == 201
            [confirmation] = smtp.handler.to(email)
            text = confirmation.parsed().get_body(("plain",)).get_content()
            assert (
                await client.post(re.search(r"http://nurture\.test(/c/\S+)", text)[1])
            ).status_code == 200

        seen: Counter[str] = Counter()
        # The drip starts an hour ago: the lead reads each email later than a scanner would.
        moment, handed_off_at = utcnow() - timedelta(hours=1), None
        for _ in range(40):  # each due time of the drips, as `nurture tick --until` would
            await run_pass(build_dispatcher(settings), moment)
            report = await run_handoff_pass(build_context(settings), moment)
            if report.handed_off:
                assert handed_off_at is None, "handed off twice"
                handed_off_at = moment
                # the rep answers from the email: accept
                [rep_mail] = smtp.handler.to(REP)
                text = rep_mail.parsed().get_body(("plain",)).get_content()
                accept = re.search(r"http://nurture\.test(/s/\S+/accept)", text)[1]
                assert (await client.post(accept)).status_code == 200
            for email in (ENGAGED, PAGE, ONE_CLICK):
                for message in smtp.handler.to(email)[1 + seen[email] :]:
                    seen[email] += 1
                    if email == ENGAGED:  # reads everything and clicks a link in each
                        for path in links(message, "o") + visible_links(message)[:1]:
                            assert (await client.get(path)).status_code in (200, 302)
                    elif email == PAGE:
                        [path] = links(message, "u")
                        assert "Ja, abmelden" in (await client.get(path)).text
                        assert (await client.post(path)).status_code == 200
                    else:
                        [path] = links(message, "u")
                        one_click = await client.post(path, data={"List-Unsubscribe": "One-Click"})
                        assert one_click.status_code == 200
            async with session_scope(settings.database_url.get_secret_value()) as session:
                found = await next_due(session, moment)
            if found is None:
                break
            moment = max(found, moment + timedelta(minutes=1))

    touches = {
        email: len(smtp.handler.to(email)) - 1 for email in (ENGAGED, QUIET, PAGE, ONE_CLICK)
    }
    assert touches[QUIET] == 7  # the whole drip; the breakup email too (it never clicked)
    assert touches[PAGE] == touches[ONE_CLICK] == 1  # nothing after unsubscribing
    assert 2 <= touches[ENGAGED] < 7 and handed_off_at is not None
    [rep_mail] = smtp.handler.to(REP)
    body = rep_mail.parsed().get_body(("plain",)).get_content()
    facts, timeline = body.split("Was zuletzt passiert ist:")
    assert ENGAGED in facts and "senior-title" in facts and "email-click" in facts
    assert "click b2b-nurture/" in timeline and "/s/" in timeline  # what it did; the answer links
    async with session_scope(settings.database_url.get_secret_value()) as session:
        leads = {lead.email: lead for lead in (await session.scalars(select(Lead))).all()}
        [handoff] = (await session.scalars(select(Handoff))).all()
        drips = {
            e.lead_id: (e.state, e.exit_reason)
            for e in (await session.scalars(select(Enrollment))).all()
        }
    assert handoff.lead_id == leads[ENGAGED].id and handoff.rep_email == REP
    assert handoff.state == "accepted" and leads[ENGAGED].owner_email == REP
    assert leads[ENGAGED].lifecycle_stage == "sql" and leads[QUIET].lifecycle_stage == "lead"
    assert drips[leads[ENGAGED].id] == ("exited", "goal_mql")
    assert drips[leads[QUIET].id] == ("completed", None)
    for email in (PAGE, ONE_CLICK):
        assert leads[email].suppression_reason == "unsubscribed"
        assert drips[leads[email].id] == ("exited", "unsubscribed")
