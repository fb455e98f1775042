"""nurture leads forget / POST /api/leads/{lead_id}/forget: after it the address and the name
are nowhere in the database (every byte of the SQLite files, PostgreSQL's pg_dump), the
anonymous record stays, and the report's totals are what they were."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from nurture.config.project import load_project
from nurture.db import session_scope, utcnow
from nurture.leads.events import EventType
from nurture.leads.forgotten import Forgotten, address_key
from nurture.leads.models import Event, SuppressionReason
from nurture.reporting.funnel import funnel_report
from nurture.rights.find import find_lead
from nurture.rights.forget import forget_lead, placeholder
from tests.rights.conftest import API, EMAIL, FIRST, LAST, NEEDLES, database_text


async def report(settings) -> dict:
    since, until = utcnow() - timedelta(days=30), utcnow() + timedelta(days=90)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        done = await funnel_report(session, load_project(settings.config_dir), since, until)
    return done.model_dump(mode="json", exclude={"range"})


def exits(document: dict) -> dict[tuple[str, str], dict[str, int]]:
    """The report without who left the drips where: (sequence, step) -> reasons, taken out."""
    document.pop("biggest_step_drop_off")
    left = {}
    for step in document["steps"]:
        left[(step["sequence"], step["step"])] = step.pop("left")
        step.pop("left_total")
    return left


async def event_counts(settings) -> dict[str, int]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(select(Event.type, func.count()).group_by(Event.type))
        return dict(rows.all())  # type: ignore[arg-type]


async def test_after_forget_the_address_and_the_name_are_nowhere(rich):
    settings, client = rich.settings, rich.client
    held = await database_text(settings)
    assert all(needle.encode() in held for needle in (EMAIL, FIRST, "mareike.quellenhof%40"))
    whole = (await client.get(f"/api/leads/{rich.lead_id}/export", headers=API)).json()
    assert (whole["lead"]["email"], whole["lead"]["last_name"]) == (EMAIL, LAST)
    [consent] = whole["consents"]
    assert consent["text"] and consent["confirmed_at"] and consent["user_agent"]
    [sent] = [t for t in whole["sends"] if t["state"] == "sent"]
    assert sent["sent_at"] and sent["attempts"] == 2 and sent["message_id"]
    assert {e["type"] for e in whole["events"]} >= {"captured", "page", "replied", "handed_off"}
    assert all(whole[k] for k in ("scores", "handoffs", "reply_forwards", "visitors"))
    assert whole["handoffs"][0]["note"].endswith(f"{FIRST} {LAST} im Frühjahr")
    before, events_before = await report(settings), await event_counts(settings)

    forgot = await client.post(f"/api/leads/{rich.lead_id}/forget", headers=API)
    assert forgot.status_code == 200, forgot.text
    assert forgot.json()["already"] is False

    held = await database_text(settings)
    found = [needle for needle in NEEDLES if needle.encode() in held]
    assert found == [], f"still in the database: {found}"
    after = await report(settings)
    left_before, left_after = exits(before), exits(after)
    assert after == before  # every count of what happened, and the sources
    # the recycle drip the lead was in: one more left it, because it was forgotten
    changed = {k: (left_before[k], v) for k, v in left_after.items() if v != left_before[k]}
    [(old, new)] = changed.values()
    assert new == {**old, "forgotten": old.get("forgotten", 0) + 1}
    events_after = await event_counts(settings)
    forgotten_counts = dict(events_after)
    assert events_after.pop(EventType.FORGOTTEN) == 1
    assert events_after.pop(EventType.SUPPRESSED) == events_before.pop(EventType.SUPPRESSED, 0) + 1
    assert events_after.pop(EventType.EXITED) == events_before.pop(EventType.EXITED, 0) + 1
    assert events_after == events_before  # every row stays: only payloads went

    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await find_lead(session, rich.lead_id)
        assert lead is not None and lead.email == placeholder(lead.public_id)
        assert (lead.suppression_reason, lead.first_name, lead.custom) == (
            SuppressionReason.FORGOTTEN,
            None,
            {},
        )
        assert (lead.utm_source, lead.utm_campaign, lead.utm_term) == ("newsletter", "herbst", None)
        key = address_key(EMAIL, settings.resolved_secret_key())
        assert await session.get(Forgotten, key) is not None

    # the anonymous record is what an export shows now
    exported = await client.get(f"/api/leads/{rich.lead_id}/export", headers=API)
    assert exported.status_code == 200
    document = exported.json()
    assert document["lead"]["email"] == placeholder(rich.lead_id)
    assert document["reply_forwards"] == document["visitors"] == []
    assert [c["ip"] for c in document["consents"]] == [None]
    assert document["consents"][0]["text"]  # the text agreed to: proof, no longer whose
    [rejected] = [e["data"] for e in document["events"] if e["type"] == "handoff_rejected"]
    assert rejected == {"reason": "bad-timing"}  # the rep and the note are gone
    stages = [e["data"] for e in document["events"] if e["type"] == EventType.STAGE_CHANGED]
    assert {"stage": "recycled", "previous": "mql"} in stages

    again = await client.post(f"/api/leads/{rich.lead_id}/forget", headers=API)
    assert again.status_code == 200 and again.json()["already"] is True
    exported = forgotten_counts.get(EventType.EXPORTED, 0) + 1  # the export after forget
    assert await event_counts(settings) == {**forgotten_counts, EventType.EXPORTED: exported}


async def test_forget_needs_the_key_and_a_lead(rich):
    path = f"/api/leads/{rich.lead_id}/forget"
    assert (await rich.client.post(path)).status_code == 401
    wrong = await rich.client.post(path, headers={"authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    missing = await rich.client.post("/api/leads/" + "0" * 32 + "/forget", headers=API)
    assert missing.status_code == 404
    assert missing.json()["detail"][0]["loc"] == ["path", "lead_id"]
    assert (await rich.client.get(f"/api/leads/{rich.lead_id}/export")).status_code == 401


async def test_forgetting_twice_in_one_session_changes_nothing_the_second_time(rich):
    settings = rich.settings
    secret = settings.resolved_secret_key()
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await find_lead(session, EMAIL)
        first = await forget_lead(session, lead, secret, utcnow(), "cli")
        second = await forget_lead(session, lead, secret, utcnow(), "cli")
    assert (first.already, second.already) == (False, True)
    assert second.forgotten_at == first.forgotten_at
    counts = await event_counts(settings)
    assert counts[EventType.FORGOTTEN] == 1


async def test_a_crash_before_the_scrub_is_finished_by_forgetting_again(rich):
    """The erasure committed, the process died before VACUUM: the bytes are still in the
    SQLite file; forgetting again (nothing left to change) finishes the job."""
    settings = rich.settings
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await find_lead(session, EMAIL)
        await forget_lead(session, lead, settings.resolved_secret_key(), utcnow(), "cli")
    if settings.database_url.get_secret_value().startswith("sqlite"):
        assert EMAIL.encode() in await database_text(settings)  # what VACUUM is for
    again = await rich.client.post(f"/api/leads/{rich.lead_id}/forget", headers=API)
    assert again.json()["already"] is True
    sqlite = settings.database_url.get_secret_value().startswith("sqlite")
    assert again.json()["files_scrubbed"] is (True if sqlite else None)
    held = await database_text(settings)
    assert [n for n in NEEDLES if n.encode() in held] == []
