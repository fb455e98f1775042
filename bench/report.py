"""Report benchmark: the full funnel report over 100k leads and 1M events, on SQLite and
PostgreSQL.

    python bench/report.py [--leads 100000] [--events 1000000] [--db sqlite|postgresql|both]
                           [--json]

The history is the drip's: sends, bounces, opens, clicks, unsubscribes, exits and
completions per step, stage changes up to customer with deal values, hand-offs. Baseline
measured in the same run: one plain aggregation over the whole event log (SELECT type, count(*)
... GROUP BY type), the least any report over the events must read. Prints seconds and the
ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bulkload import bulk_load, write_results  # noqa: E402
from capture import fresh_db  # noqa: E402

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONFIG = Path(os.environ.get("NURTURE_CONFIG_DIR", ROOT / "config"))
STEPS = ["welcome", "problem", "case-study", "comparison", "objections", "demo", "breakup"]
SOURCES = [
    ("linkedin", "paid", "leitfaden-q4"),
    ("google", "cpc", None),
    ("newsletter", "email", None),
    (None, None, None),
]
TABLES = {
    "leads": (
        "id",
        "email",
        "public_id",
        "custom",
        "lifecycle_stage",
        "created_at",
        "updated_at",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    ),
    "events": ("lead_id", "type", "occurred_at", "data", "sequence_id", "step_id"),
    "handoffs": (
        "lead_id",
        "territory",
        "rep_name",
        "rep_email",
        "state",
        "score",
        "breakdown",
        "created_at",
        "reason",
    ),
}


def history(leads: int, events: int) -> dict[str, list[tuple]]:
    """Each lead walks the drip until it stops (unsubscribe, bounce, MQL, or the end),
    opening and clicking some emails; a share goes on to MQL, SQL, opportunity, customer.
    Leads are added until ``events`` events exist."""
    rnd = random.Random(11)
    out: dict[str, list[tuple]] = {t: [] for t in TABLES}
    n_events = 0
    for i in range(leads):
        lead = i + 1
        start = NOW - timedelta(days=rnd.randrange(90), minutes=rnd.randrange(1440))
        source = rnd.choice(SOURCES)
        out["leads"].append(
            (lead, f"l{i}@firma{i % 97}.de", uuid.uuid4().hex, "{}", "lead", start, start, *source)
        )
        ev = [
            (lead, "captured", start, "{}", None, None),
            (lead, "stage_changed", start, '{"stage": "lead"}', None, None),
        ]
        at, left = start, None
        budget = max(2, int(events / leads))
        for n, step in enumerate(STEPS, start=1):
            at += timedelta(days=rnd.randint(2, 4))
            if rnd.random() < 0.01:
                ev.append((lead, "bounced", at, "{}", "b2b-nurture", step))
                left = ("bounced", n - 1)
                break
            ev.append((lead, "sent", at, "{}", "b2b-nurture", step))
            if rnd.random() < 0.45:
                ev.append((lead, "open", at, "{}", "b2b-nurture", step))
                if rnd.random() < 0.3:
                    ev.append(
                        (
                            lead,
                            "click",
                            at,
                            '{"url": "https://planwerk.example/preise"}',
                            "b2b-nurture",
                            step,
                        )
                    )
            if rnd.random() < 0.02:
                ev.append((lead, "unsubscribed", at, "{}", "b2b-nurture", step))
                left = ("unsubscribed", n)
                break
            if len(ev) >= budget:
                break
        if left:
            ev.append(
                (
                    lead,
                    "exited",
                    at,
                    json.dumps({"reason": left[0], "after_step": left[1]}),
                    "b2b-nurture",
                    None,
                )
            )
        elif rnd.random() < 0.15:
            ev.append((lead, "stage_changed", at, '{"stage": "mql"}', None, None))
            ev.append(
                (
                    lead,
                    "exited",
                    at,
                    json.dumps({"reason": "goal_mql", "after_step": n}),
                    "b2b-nurture",
                    None,
                )
            )
            state = rnd.choice(["accepted", "accepted", "rejected", "pending"])
            reason = "no-fit" if state == "rejected" else None
            out["handoffs"].append(
                (lead, "dach", "R", f"rep{lead % 3}@planwerk.example", state, 55, "{}", at, reason)
            )
            if state == "accepted":
                for stage, days, value in (
                    ("sql", 1, None),
                    ("opportunity", 7, 9000),
                    ("customer", 30, 12000),
                ):
                    if rnd.random() < 0.6:
                        at += timedelta(days=days)
                        data = {"stage": stage, **({"value": value} if value else {})}
                        ev.append((lead, "stage_changed", at, json.dumps(data), None, None))
                    else:
                        break
        else:
            ev.append(
                (lead, "completed", at, json.dumps({"after_step": len(STEPS)}), "b2b-nurture", None)
            )
        out["events"].extend(ev)
        n_events += len(ev)
    return out


async def load(url: str, leads: int, events: int) -> tuple[float, int]:
    from nurture import migrate
    from nurture.db import dispose_engines

    started = time.perf_counter()
    await migrate.upgrade(url)
    await dispose_engines()
    data = history(leads, events)
    await bulk_load(url, TABLES, data)
    return time.perf_counter() - started, len(data["events"])


async def measure(url: str) -> dict[str, float]:
    from sqlalchemy import func, select

    from nurture.config.project import load_project
    from nurture.db import dispose_engines, session_scope
    from nurture.leads.models import Event
    from nurture.reporting.funnel import funnel_report

    project = load_project(CONFIG)
    async with session_scope(url) as session:
        started = time.perf_counter()
        await session.execute(select(Event.type, func.count()).group_by(Event.type))
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        report = await funnel_report(session, project, NOW - timedelta(days=200), NOW)
        seconds = time.perf_counter() - started
    await dispose_engines()
    return {
        "report_s": round(seconds, 2),
        "baseline_s": round(baseline, 2),
        "ratio_to_baseline": round(seconds / baseline, 1),
        "captured": report.stages.reached.subscriber,
        "customers": report.stages.reached.customer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="write bench/results/report.json")
    args = parser.parse_args()
    runs = []
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory() as tmp:
            url = (
                fresh_db(kind, Path(tmp))
                .replace("sqlite:///", "sqlite+aiosqlite:///")
                .replace("postgresql://", "postgresql+asyncpg://")
            )
            loaded, n_events = asyncio.run(load(url, args.leads, args.events))
            result = asyncio.run(measure(url))
        runs.append({"db": kind, "leads": args.leads, "events": n_events, **result})
        print(
            f"{kind}: {args.leads:,} leads, {n_events:,} events (loaded in {loaded:.0f} s): "
            f"full funnel report {result['report_s']:.2f} s; baseline (one GROUP BY over "
            f"the events) {result['baseline_s']:.2f} s, "
            f"ratio {result['ratio_to_baseline']}"
        )
    if args.json:
        write_results(ROOT / "bench/results/report.json", runs)


if __name__ == "__main__":
    main()
