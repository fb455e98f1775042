"""Promotion, routing, the rep's answer and the SLA, with a fast-forwarded clock."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import select, update

from nurture.db import session_scope
from nurture.handoff.models import Handoff
from nurture.handoff.run import build_context, run_handoff_pass
from nurture.leads.events import record_events
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Enrollment
from nurture.mail.transports import MemoryTransport
from nurture.reporting.lead import lead_profile, profile_text
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PRICING = "https://planwerk.example/preise"


async def qualified(settings, n: int, country: str = "DE", domain: str = "firma.de") -> list[int]:
    """Confirmed leads in the drip whose fit and engagement reach the shipped threshold (50):
    senior title 15 + size 10 + DACH 5 + pricing click 28 = 58 (NL: 53)."""
    emails = await enrolled_leads(
        settings,
        n,
        MONDAY,
        domain=domain,
        job_title="CEO",
        country=country,
        custom={"company_size": "50-199"},
    )
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = list(
            (
                await session.scalars(
                    select(Lead.id).where(Lead.email.in_(emails)).order_by(Lead.id)
                )
            ).all()
        )
        await session.execute(update(Lead).where(Lead.id.in_(ids)).values(lifecycle_stage="lead"))
        await record_events(
            session,
            [
                {"lead_id": i, "type": "click", "occurred_at": MONDAY, "data": {"url": PRICING}}
                for i in ids
            ],
        )
    return ids


def rep_token(settings, handoff_id: int) -> str:
    """The token of the accept/reject links the rep got for a handoff."""
    url = build_context(settings).composer.links.handoff_url(handoff_id, "accept")
    return url.removeprefix(f"{settings.base_url}/s/").removesuffix("/accept")


def outbox(settings) -> list:
    name = settings.mail_url.get_secret_value().split("://")[1]
    return MemoryTransport.outboxes.setdefault(name, [])


async def handoffs(settings) -> list[Handoff]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return list((await session.scalars(select(Handoff).order_by(Handoff.id))).all())


async def test_qualified_lead_is_handed_off_once_and_leaves_the_drip(settings):
    [lead] = await qualified(settings, 1)
    report = await run_handoff_pass(build_context(settings), MONDAY)
    assert (report.promoted, report.handed_off, report.notified) == (1, 1, 1)
    again = await run_handoff_pass(build_context(settings), MONDAY + timedelta(minutes=5))
    assert (again.promoted, again.handed_off, again.notified) == (0, 0, 0)
    [h] = await handoffs(settings)
    assert (h.territory, h.rep_email, h.state) == (
        "dach",
        "jonas.albrecht@planwerk.example",
        "pending",
    )
    assert h.score == 58 and {r["rule"] for r in h.breakdown["rules"]} >= {"senior-title", "dach"}
    [mail] = outbox(settings)
    assert mail.recipient == "jonas.albrecht@planwerk.example"
    body = mail.data.decode()
    assert "senior-title" in body and "/s/" in body and "accept" in body
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_row = await session.get(Lead, lead)
        enrollment = await session.scalar(select(Enrollment).where(Enrollment.lead_id == lead))
    assert lead_row.lifecycle_stage == "mql"
    assert (enrollment.state, enrollment.exit_reason) == ("exited", "goal_mql")


async def test_round_robin_within_the_territory_and_a_fallback_owner(settings):
    await qualified(settings, 3, "DE")
    await qualified(settings, 1, "NL", domain="firma.nl")
    await qualified(settings, 1, "US", domain="firma.com")
    await run_handoff_pass(build_context(settings), MONDAY)
    reps = [(h.territory, h.rep_email.split("@")[0]) for h in await handoffs(settings)]
    assert reps == [
        ("dach", "jonas.albrecht"),
        ("dach", "mira.schaefer"),
        ("dach", "jonas.albrecht"),
        ("benelux", "sanne.devries"),
        ("fallback", "lena.vogt"),
    ]


async def test_no_answer_gets_a_reminder_then_the_next_rep(settings):
    await qualified(settings, 1)
    await run_handoff_pass(build_context(settings), MONDAY)
    early = await run_handoff_pass(build_context(settings), MONDAY + timedelta(hours=3))
    assert (early.reminded, early.reassigned) == (0, 0)
    later = await run_handoff_pass(build_context(settings), MONDAY + timedelta(hours=5))
    assert (later.reminded, later.reassigned) == (1, 0)
    assert outbox(settings)[-1].data.decode().count("Erinnerung") >= 1
    late = await run_handoff_pass(build_context(settings), MONDAY + timedelta(hours=25))
    assert (late.reminded, late.reassigned, late.notified) == (0, 1, 1)
    first, second = await handoffs(settings)
    assert (first.state, second.state) == ("reassigned", "pending")
    assert second.rep_email == "mira.schaefer@planwerk.example" and second.previous_id == first.id
    assert outbox(settings)[-1].recipient == "mira.schaefer@planwerk.example"
    quiet = await run_handoff_pass(build_context(settings), MONDAY + timedelta(hours=26))
    assert (quiet.reminded, quiet.reassigned, quiet.notified) == (0, 0, 0)


async def test_accept_makes_the_lead_an_sql_owned_by_the_rep(settings, app_client):
    [lead] = await qualified(settings, 1)
    await run_handoff_pass(build_context(settings), MONDAY)
    [h] = await handoffs(settings)
    token = rep_token(settings, h.id)
    page = await app_client.get(f"/s/{token}/accept")
    assert page.status_code == 200 and "Ja, ich übernehme" in page.text
    assert (await handoffs(settings))[0].state == "pending"  # a GET changes nothing
    assert (await app_client.post(f"/s/{token}/accept")).status_code == 200
    assert (
        await app_client.post(f"/s/{token}/reject", data={"reason": "no-fit"})
    ).status_code == 409
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.get(Lead, lead)
    assert (row.lifecycle_stage, row.owner_email) == ("sql", h.rep_email)


async def test_reject_recycles_the_lead_with_the_reason(settings, app_client):
    [lead] = await qualified(settings, 1)
    await run_handoff_pass(build_context(settings), MONDAY)
    [h] = await handoffs(settings)
    token = rep_token(settings, h.id)
    missing = await app_client.post(f"/s/{token}/reject", data={"reason": ""})
    assert missing.status_code == 422 and "Bitte wählen Sie einen Grund" in missing.text
    done = await app_client.post(
        f"/s/{token}/reject", data={"reason": "bad-timing", "note": "Budget erst 2027"}
    )
    assert done.status_code == 200
    [h] = await handoffs(settings)
    assert (h.state, h.reason, h.note) == ("rejected", "bad-timing", "Budget erst 2027")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.get(Lead, lead)
        drips = dict(
            (
                await session.execute(
                    select(Enrollment.sequence_id, Enrollment.state).where(
                        Enrollment.lead_id == lead
                    )
                )
            ).all()
        )
        rejected = await session.scalar(select(Event).where(Event.type == "handoff_rejected"))
    assert row.lifecycle_stage == "recycled" and row.score_reset_at is not None
    assert drips == {"b2b-nurture": "exited", "b2b-recycle": "active"}
    assert rejected.data["reason"] == "bad-timing"
    # the old engagement no longer counts: not promoted again on the next pass
    again = await run_handoff_pass(build_context(settings), MONDAY + timedelta(minutes=1))
    assert again.promoted == 0


async def test_forged_or_altered_handoff_tokens_get_404(settings, app_client):
    await qualified(settings, 1)
    await run_handoff_pass(build_context(settings), MONDAY)
    [h] = await handoffs(settings)
    token = rep_token(settings, h.id)
    for bad in (token[:-2] + "xx", "1.abc", f"{h.id + 1:x}." + token.partition(".")[2]):
        assert (await app_client.get(f"/s/{bad}/accept")).status_code == 404
        assert (await app_client.post(f"/s/{bad}/accept")).status_code == 404
    assert (await app_client.get(f"/s/{token}/delete")).status_code == 404
    assert (await handoffs(settings))[0].state == "pending"


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver that fails the first call with 500, then accepts."""

    bodies: ClassVar[list[dict]] = []
    calls: ClassVar[int] = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if type(self).calls == 1:
            self.send_response(500)
        else:
            type(self).bodies.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_settings(settings, tmp_path):
    Hook.bodies, Hook.calls = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    sales = (config / "sales.yaml").read_text(encoding="utf-8")
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    sales = sales.replace("  - id: benelux", f"    webhook: {url}\n  - id: benelux", 1)
    (config / "sales.yaml").write_text(sales, encoding="utf-8")
    yield settings.model_copy(update={"config_dir": config})
    server.shutdown()


async def test_webhook_gets_the_handoff_as_json_and_is_retried(hook_settings):
    [lead] = await qualified(hook_settings, 1)
    report = await run_handoff_pass(build_context(hook_settings), MONDAY)
    assert (report.webhooks_ok, report.webhooks_failed, Hook.calls) == (1, 0, 2)
    [body] = Hook.bodies
    assert body["event"] == "mql.handoff" and body["territory"] == "dach"
    assert body["rep"]["email"] == "jonas.albrecht@planwerk.example"
    assert body["lead"]["email"] == "lead0@firma.de" and body["score"]["total"] == 58
    assert body["accept_url"].startswith("http://nurture.test/s/")
    async with session_scope(hook_settings.database_url.get_secret_value()) as session:
        kinds = set(await session.scalars(select(Event.type).where(Event.lead_id == lead)))
    assert {"handed_off", "handoff_notified", "webhook_delivered"} <= kinds


async def test_the_webhook_text_is_in_the_rep_s_language(hook_settings):
    sales = hook_settings.config_dir / "sales.yaml"
    text = sales.read_text(encoding="utf-8")
    # Jonas, who gets the first DACH lead, reads Swedish.
    jonas = '{name: "Jonas Albrecht", email: "jonas.albrecht@planwerk.example"'
    assert jonas in text
    sales.write_text(text.replace(jonas, jonas + ", locale: sv"), encoding="utf-8")
    await qualified(hook_settings, 1)
    await run_handoff_pass(build_context(hook_settings), MONDAY)
    [body] = Hook.bodies
    assert body["text"] == "Nytt MQL till Jonas Albrecht: Max (poäng 58)"


async def test_leads_show_tells_the_story(settings):
    await qualified(settings, 1)
    await run_handoff_pass(build_context(settings), MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        profile = await lead_profile(session, "LEAD0@firma.de ")
    text = profile_text(profile)
    assert "stage:    mql" in text and "jonas.albrecht@planwerk.example (pending)" in text
    assert "score 58" in text and "+15.0  senior-title (fit)" in text
    assert "b2b-nurture          exited" in text and "(goal_mql)" in text
    assert "handed_off" in text and "stage_changed" in text
