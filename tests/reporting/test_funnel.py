"""The funnel report on a generated history with known answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.handoff.models import Handoff
from nurture.leads.events import record_events
from nurture.leads.service import upsert_leads
from nurture.reporting.funnel import funnel_report
from nurture.reporting.funnel_format import as_html, as_text

T = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
SINCE, UNTIL = T - timedelta(days=1), T + timedelta(days=30)
SEQ = "b2b-nurture"


def ev(lead: int, type_: str, at: datetime, step: str | None = None, **data) -> dict:
    return {"lead_id": lead, "type": type_, "occurred_at": at, "data": data,
            "sequence_id": SEQ if step or type_ in ("exited", "completed") else None,
            "step_id": step}  # fmt: skip


async def history(url: str) -> list[int]:
    async with session_scope(url) as session:
        rows = await upsert_leads(session, [
            (f"l{i}@firma.de", {}, T, {"utm_source": "linkedin" if i < 6 else "google",
                                      "utm_medium": "paid"}) for i in range(10)
        ])  # fmt: skip
        ids = [lead.id for lead, _ in rows]
        L = dict(enumerate(ids))
        e = [ev(L[i], "captured", T) for i in range(10)]
        e += [ev(L[i], "stage_changed", T + timedelta(hours=1), stage="lead") for i in range(8)]
        e += [ev(L[i], "sent", T, "welcome") for i in range(8)]
        e += [ev(L[i], "bounced", T, "welcome") for i in (8, 9)]
        e += [ev(L[i], "open", T + timedelta(hours=2), "welcome") for i in range(6)]
        e += [ev(L[0], "open", T + timedelta(hours=3), "welcome")]  # a second open: unique
        e += [ev(L[i], "click", T + timedelta(hours=2), "welcome", url="u") for i in range(3)]
        e += [ev(L[5], "unsubscribed", T + timedelta(hours=4), "welcome", via="one_click")]
        e += [ev(L[5], "exited", T + timedelta(hours=4), reason="unsubscribed", after_step=1)]
        e += [ev(L[i], "exited", T, reason="bounced", after_step=0) for i in (8, 9)]
        e += [ev(L[i], "sent", T + timedelta(days=2), "problem") for i in range(5)]
        e += [ev(L[i], "open", T + timedelta(days=2), "problem") for i in range(2)]
        e += [ev(L[0], "completed", T + timedelta(days=20), after_step=7)]
        # MQL after 1, 2, 3, 4 days (median 2.5 d); SQL 1 day after MQL for two
        e += [ev(L[i], "stage_changed", T + timedelta(days=i + 1), stage="mql")
              for i in range(4)]  # fmt: skip
        e += [ev(L[i], "stage_changed", T + timedelta(days=i + 2), stage="sql")
              for i in (0, 1)]  # fmt: skip
        e += [ev(L[7], "sent", T - timedelta(days=5), "welcome")]  # before the range
        # the CRM: two opportunities (one value corrected), one customer
        e += [
            ev(L[0], "stage_changed", T + timedelta(days=5), stage="opportunity", value=10000),
            ev(L[1], "stage_changed", T + timedelta(days=6), stage="opportunity", value=5000),
            ev(L[1], "stage_changed", T + timedelta(days=7), stage="opportunity", value=6000),
            ev(L[0], "stage_changed", T + timedelta(days=10), stage="customer", value=12000),
        ]
        await record_events(session, e)
        handoff = {"territory": "dach", "rep_name": "R", "score": 60, "breakdown": {},
                   "created_at": T + timedelta(days=2)}  # fmt: skip
        for lead, rep, state, extra in (
            (0, "a@x", "accepted", {}), (2, "a@x", "rejected", {"reason": "no-fit"}),
            (1, "b@x", "reassigned", {"reminded_at": T + timedelta(days=2, hours=5)}),
            (3, "b@x", "pending", {"reminded_at": T + timedelta(days=3)}),
        ):  # fmt: skip
            session.add(Handoff(lead_id=L[lead], rep_email=rep, state=state, **handoff, **extra))
    return ids


async def test_funnel_on_a_known_history(db_url, settings):
    await history(db_url)
    project = load_project(settings.config_dir)
    async with session_scope(db_url) as session:
        report = await funnel_report(session, project, SINCE, UNTIL, SEQ)
    steps = {s["step"]: s for s in report["steps"]}
    assert len(report["steps"]) == 7
    welcome = steps["welcome"]
    assert (welcome["sent"], welcome["delivered"], welcome["bounced"]) == (10, 8, 2)
    assert (welcome["unique_opens"], welcome["unique_clicks"], welcome["unsubscribes"]) == (6, 3, 1)
    assert (welcome["open_rate"], welcome["click_rate"]) == (0.75, 0.375)
    assert (welcome["click_to_open_rate"], welcome["unsubscribe_rate"]) == (0.5, 0.125)
    assert welcome["left"] == {"bounced": 2, "unsubscribed": 1}
    assert (steps["problem"]["delivered"], steps["problem"]["open_rate"]) == (5, 0.4)
    assert steps["breakup"]["left"] == {"finished": 1}
    assert report["biggest_step_drop_off"] == {"sequence": SEQ, "step": "welcome", "left": 3}
    stages = report["stages"]
    assert stages["reached"] == {"subscriber": 10, "lead": 8, "mql": 4, "sql": 2,
                                 "opportunity": 2, "customer": 1}  # fmt: skip
    assert [c["conversion"] for c in stages["conversions"]] == [0.8, 0.5, 0.5, 1.0, 0.5]
    assert stages["biggest_drop_off"]["to"] == "mql"
    assert stages["median_seconds"] == {"capture_to_mql": 2.5 * 86400, "mql_to_sql": 86400.0}
    sales = report["sales"]
    a, b = sales["reps"]
    assert (a["rep"], a["handoffs"], a["accepted"], a["rejected"], a["accept_rate"]) == (
        "a@x", 2, 1, 1, 0.5)  # fmt: skip
    assert (b["pending"], b["reassigned"], b["sla_reminders"], b["accept_rate"]) == (1, 1, 2, None)
    assert sales["reject_reasons"] == {"no-fit": 1} and sales["sla_breaches"] == 1
    sources = {s["utm_source"]: s for s in report["sources"]}
    assert (sources["linkedin"]["leads"], sources["linkedin"]["mql"], sources["linkedin"]["sql"]) \
        == (6, 4, 2)  # fmt: skip
    assert (sources["google"]["leads"], sources["google"]["mql"]) == (4, 0)
    assert (sources["linkedin"]["customers"], sources["linkedin"]["won"]) == (1, 12000.0)
    revenue = report["revenue"]
    assert revenue["currency"] == "EUR"
    assert revenue["pipeline"] == {"deals": 2, "value": 16000.0}  # the corrected 6,000 counts
    assert revenue["won"] == {"deals": 1, "value": 12000.0}
    assert revenue["median_sales_cycle_seconds"] == 9 * 86400
    costs = {c["utm_source"]: c for c in revenue["costs"]}
    assert (costs["google"]["cost_per_lead"], costs["google"]["cost_per_mql"]) == (800.0, None)
    assert costs["linkedin"]["leads"] == 0  # its cost is for a campaign these leads lack
    assert json.loads(json.dumps(report))["format"] == 1
    text = as_text(report)
    assert "b2b-nurture/welcome" in text and "75.0%" in text and "mql -> sql" in text
    assert "won 1 deal(s) 12,000.00 EUR" in text and "google" in text
    html = as_html(report)
    assert html.startswith("<!doctype html>") and "<svg" in html and "no-fit 1" in html
    assert "12,000.00" in html and "800.00" in html
    assert "http" not in html.split("<body>")[1]  # self-contained: no external assets


async def test_range_excludes_what_happened_outside(db_url, settings):
    await history(db_url)
    project = load_project(settings.config_dir)
    async with session_scope(db_url) as session:
        early = await funnel_report(session, project, T - timedelta(days=10), SINCE, SEQ)
    assert early["steps"][0]["delivered"] == 1  # the one send before the range
    assert early["stages"]["reached"]["subscriber"] == 0 and early["sales"]["reps"] == []
