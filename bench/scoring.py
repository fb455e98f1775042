"""Scoring benchmark: a full scoring + MQL pass over 100k leads and 1M events, and the
open/click tracking endpoint under a burst, on SQLite and PostgreSQL.

    python bench/scoring.py [--leads 100000] [--events 1000000] [--db sqlite|postgresql|both]
                            [--seconds 10] [--json]

Baselines measured in the same run: for the pass, one plain aggregation over the whole event
log (SELECT lead_id, count(*) ... GROUP BY lead_id): the least any scoring over the events
must read; for the endpoint, GET /healthz on the same server. Prints seconds, the ratio to the
baseline, and how many leads were promoted and handed off; the endpoint's requests/s and
latency (wrk when installed, else an httpx client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# NURTURE_BENCH_SRC=<an older checkout>/src measures that code with this script, the server
# it starts included: the same burst on yesterday's code, for comparison (docs/signals.md).
SRC = Path(os.environ.get("NURTURE_BENCH_SRC", ROOT / "src"))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT / "bench"))

from bulkload import bulk_load, write_results  # noqa: E402
from capture import fresh_db, serve  # noqa: E402  (the capture bench's server helpers)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONFIG = Path(os.environ.get("NURTURE_CONFIG_DIR", ROOT / "config"))
TITLES = ["CEO", "Geschäftsführerin", "Projektleiter", "Werkstudent", "Head of Operations", None]
SIZES = ["1-19", "20-49", "50-199", "200-499", "500+"]
COUNTRIES = ["DE", "AT", "CH", "NL", "US", None]
DOMAINS = ["firma.de", "agentur.at", "gmail.com", "web.de", "beratung.ch"]
URLS = [
    "https://planwerk.example/preise",
    "https://planwerk.example/demo",
    "https://planwerk.example/kunden/nordlicht",
    "https://planwerk.example/x.pdf",
]
TYPES = ["open"] * 5 + ["click"] * 2 + ["captured", "sent", "confirmed"]
TABLES = {
    "leads": (
        "id",
        "email",
        "public_id",
        "custom",
        "lifecycle_stage",
        "created_at",
        "updated_at",
        "job_title",
        "country",
    ),
    "events": ("lead_id", "type", "occurred_at", "data", "sequence_id", "step_id"),
    "enrollments": (
        "id",
        "lead_id",
        "sequence_id",
        "sequence_version",
        "state",
        "current_step",
        "enrolled_at",
        "updated_at",
    ),
    "sends": (
        "id",
        "enrollment_id",
        "lead_id",
        "sequence_id",
        "step_id",
        "step_index",
        "state",
        "due_at",
        "attempts",
        "created_at",
        "updated_at",
    ),
}


def rows(leads: int, events: int, sends: int) -> dict[str, list[tuple]]:
    """Leads (confirmed, mixed fit), events over 90 days, and ``sends`` sent emails (the open
    pixel's tokens name them)."""
    rnd = random.Random(7)
    out: dict[str, list[tuple]] = {t: [] for t in TABLES}
    for i in range(leads):
        out["leads"].append(
            (
                i + 1,
                f"lead{i}@{rnd.choice(DOMAINS)}",
                uuid.uuid4().hex,
                json.dumps({"company_size": rnd.choice(SIZES)}),
                "lead",
                NOW,
                NOW,
                rnd.choice(TITLES),
                rnd.choice(COUNTRIES),
            )
        )
    for _ in range(events):
        kind = rnd.choice(TYPES)
        at = NOW - timedelta(minutes=rnd.randrange(90 * 24 * 60))
        data = json.dumps({"url": rnd.choice(URLS)} if kind == "click" else {})
        out["events"].append(
            (rnd.randrange(1, leads + 1), kind, at, data, "b2b-nurture", "welcome")
        )
    for i in range(min(sends, leads)):
        out["enrollments"].append((i + 1, i + 1, "b2b-nurture", "v", "active", 1, NOW, NOW))
        out["sends"].append(
            (i + 1, i + 1, i + 1, "b2b-nurture", "welcome", 0, "sent", NOW, 1, NOW, NOW)
        )
    return out


async def load(url: str, leads: int, events: int, sends: int) -> float:
    """Migrate and bulk-load with the drivers' fastest paths; returns seconds."""
    from nurture import migrate
    from nurture.db import dispose_engines

    started = time.perf_counter()
    await migrate.upgrade(url)
    await dispose_engines()
    data = rows(leads, events, sends)
    await bulk_load(url, TABLES, data)
    return time.perf_counter() - started


async def measure_pass(url: str) -> dict[str, float]:
    from sqlalchemy import func, select

    from nurture.config.project import load_project
    from nurture.db import dispose_engines, session_scope
    from nurture.handoff.run import HandoffContext, promote_step, score_step
    from nurture.leads.models import Event
    from nurture.mail.transports import MemoryTransport

    project = load_project(CONFIG)
    context = HandoffContext(url, project, None, MemoryTransport("bench"))  # type: ignore[arg-type]
    started = time.perf_counter()
    async with session_scope(url) as session:
        await session.execute(select(Event.lead_id, func.count()).group_by(Event.lead_id))
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    rows = await score_step(context, NOW)
    scored = time.perf_counter() - started
    report = await promote_step(context, NOW)
    total = time.perf_counter() - started
    await dispose_engines()
    return {
        "baseline_s": round(baseline, 2),
        "score_s": round(scored, 2),
        "score_and_promote_s": round(total, 2),
        "ratio_to_baseline": round(total / baseline, 1),
        "rule_rows": rows,
        "promoted": report.promoted,
        "handed_off": report.handed_off,
    }


WRK_SCRIPT = """
local tokens = {%s}
local n = 0
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36"
request = function()
  n = n + 1
  return wrk.format("GET", "/%s/" .. tokens[(n %% #tokens) + 1])
end
response = function(status, headers, body)
  if status ~= %d then print("unexpected status " .. status) end
end
"""


def endpoint(url: str, tmp: Path, seconds: int, sends_n: int) -> dict[str, dict[str, float]]:
    """wrk against GET /o/{token} and GET /r/{token} (bursts of opens and clicks over
    ``sends_n`` sent emails, each judged human or machine) and, as the baseline, GET /healthz,
    on one `nurture serve`."""
    from capture import wrk

    from nurture.links import Links
    from nurture.tokens import Tokens

    links = Links(Tokens("bench"), "http://x")  # the key `serve` gets in capture.py
    tokens = [links.open_url(i + 1).rsplit("/", 1)[1] for i in range(sends_n)]
    clicks = [
        links.click_url(i + 1, f"https://planwerk.example/{i % 7}").rsplit("/", 1)[1]
        for i in range(sends_n)
    ]
    proc, base = serve(url, tmp)
    try:
        baseline = wrk(base, seconds, 16, "/healthz", tmp)
        script = WRK_SCRIPT % (", ".join(f'"{t}"' for t in tokens), "o", 200)
        opens = wrk(base, seconds, 16, "/o/x", tmp, script)
        script = WRK_SCRIPT % (", ".join(f'"{t}"' for t in clicks), "r", 302)
        click = wrk(base, seconds, 16, "/r/x", tmp, script)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"baseline_get": baseline, "open": opens, "click": click}


async def count_opens(url: str) -> int:
    from sqlalchemy import func, select

    from nurture.db import dispose_engines, session_scope
    from nurture.leads.models import Event

    async with session_scope(url) as session:
        n = await session.scalar(
            select(func.count()).where(Event.type == "open", Event.occurred_at > NOW)
        )
    await dispose_engines()
    return int(n or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per endpoint run")
    parser.add_argument("--json", action="store_true", help="write bench/results/scoring.json")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/scoring.py needs wrk for the endpoint burst: apt-get install wrk")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = []
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            url = fresh_db(kind, Path(tmp))
            url = url.replace("sqlite:///", "sqlite+aiosqlite:///").replace(
                "postgresql://", "postgresql+asyncpg://"
            )
            loaded = asyncio.run(load(url, args.leads, args.events, 1000))
            result = asyncio.run(measure_pass(url))
            hits = endpoint(url, Path(tmp), args.seconds, 1000)
            recorded = asyncio.run(count_opens(url))
        run = {
            "db": kind,
            "leads": args.leads,
            "events": args.events,
            "load_s": round(loaded, 1),
            **result,
            **hits,
            "opens_recorded": recorded,
        }
        runs.append(run)
        o, g = hits["open"], hits["baseline_get"]
        print(f"{kind}: {args.leads:,} leads, {args.events:,} events (loaded in {loaded:.0f} s)")
        print(f"  full scoring pass      {result['score_s']:>7.2f} s")
        print(
            f"  scoring + MQL pass     {result['score_and_promote_s']:>7.2f} s   "
            f"{result['promoted']:,} promoted, {result['handed_off']:,} handed off"
        )
        print(
            f"  baseline (one GROUP BY over the events) {result['baseline_s']:.2f} s;"
            f" ratio {result['ratio_to_baseline']}"
        )
        print(
            f"  GET /o/ (open pixel)   {o['requests_per_s']:>7,.0f} req/s  p50 {o['p50_ms']} ms"
            f"  p99 {o['p99_ms']} ms; {recorded:,} opens recorded"
        )
        c = hits["click"]
        print(
            f"  GET /r/ (click)        {c['requests_per_s']:>7,.0f} req/s  p50 {c['p50_ms']} ms"
            f"  p99 {c['p99_ms']} ms"
        )
        print(
            f"  GET /healthz baseline  {g['requests_per_s']:>7,.0f} req/s;"
            f" ratio open {o['requests_per_s'] / g['requests_per_s']:.2f},"
            f" click {c['requests_per_s'] / g['requests_per_s']:.2f}"
        )
    if args.json:
        write_results(ROOT / "bench/results/scoring.json", runs)


if __name__ == "__main__":
    main()
