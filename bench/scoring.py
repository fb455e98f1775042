"""Scoring benchmark: a full scoring + MQL pass over 100k leads and 1M events, and the
open/click tracking endpoint under a burst, on SQLite and PostgreSQL.

    python bench/scoring.py [--leads 100000] [--events 1000000] [--db sqlite|postgresql|both]
                            [--seconds 10] [--json] [--pass-only]

Baselines measured in the same run: for the pass, one plain aggregation over the whole event
log (SELECT lead_id, count(*) ... GROUP BY lead_id): the least any scoring over the events
must read; for the endpoint, GET /healthz on the same server. Prints seconds, the ratio to the
baseline, and how many leads were promoted, handed off and enrolled by the journeys
triggers (one sequence per kind, BENCH_SEQUENCES); the endpoint's requests/s and
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

import yaml

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
    "consents": ("lead_id", "form_id", "text", "text_version", "granted_at", "double_opt_in"),
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
    pixel's tokens name them); some leads for each journeys trigger (BENCH_SEQUENCES)."""
    rnd = random.Random(7)
    out: dict[str, list[tuple]] = {t: [] for t in TABLES}
    for i in range(leads):
        custom = {"company_size": rnd.choice(SIZES)}
        if i % 50 == 0:  # the date trigger's field: renewals spread over weeks around now
            custom["renewal_date"] = (NOW.date() + timedelta(days=30 - i % 40)).isoformat()
        customer = i % 200 == 0  # the stage trigger's: became customers yesterday
        out["leads"].append(
            (
                i + 1,
                f"lead{i}@{rnd.choice(DOMAINS)}",
                uuid.uuid4().hex,
                json.dumps(custom),
                "customer" if customer else "lead",
                NOW - timedelta(days=120),
                NOW,
                rnd.choice(TITLES),
                rnd.choice(COUNTRIES),
            )
        )
        out["consents"].append((i + 1, "bench", "Ja", "v1", NOW - timedelta(days=120), False))
        if customer:
            data = json.dumps({"stage": "customer", "previous": "lead"})
            at = NOW - timedelta(days=1)
            out["events"].append((i + 1, "stage_changed", at, data, None, None))
        if i % 100 == 1:  # the event trigger's: a webinar registration (half the right one)
            data = json.dumps({"webinar": "q1" if i % 200 == 1 else "q2"})
            at = NOW - timedelta(days=2)
            out["events"].append((i + 1, "custom.webinar_registered", at, data, None, None))
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


# One sequence per journeys trigger kind, added to the shipped config for the pass.
BENCH_SEQUENCES = {
    "bench-stage": {"stage": "customer"},
    "bench-event": {"event": "custom.webinar_registered", "properties": {"webinar": "q1"}},
    "bench-inactive": {"inactive_for": "60d"},
    "bench-date": {"date_field": "custom.renewal_date", "offset": "-30d"},
}


def journeys_config(tmp: Path) -> Path:
    """The shipped config plus BENCH_SEQUENCES (each a copy of a shipped sequence with
    another trigger)."""
    config = tmp / "config"
    shutil.copytree(CONFIG, config)
    base = yaml.safe_load(next((config / "sequences").glob("*.yaml")).read_text())
    for id_, trigger in BENCH_SEQUENCES.items():
        sequence = {**base, "id": id_, "trigger": trigger, "goals": []}
        (config / "sequences" / f"{id_}.yaml").write_text(yaml.safe_dump(sequence))
    return config


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
    from nurture.handoff.run import HandoffContext, journeys_step, promote_step, score_step
    from nurture.leads.models import Event
    from nurture.mail.transports import MemoryTransport

    project = load_project(journeys_config(Path(tempfile.mkdtemp())))
    context = HandoffContext(url, project, None, MemoryTransport("bench"))  # type: ignore[arg-type]
    started = time.perf_counter()
    async with session_scope(url) as session:
        await session.execute(select(Event.lead_id, func.count()).group_by(Event.lead_id))
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    rows = await score_step(context, NOW)
    scored = time.perf_counter() - started
    report = await promote_step(context, NOW)
    promoted = time.perf_counter() - started
    journeys = await journeys_step(context, NOW)
    total = time.perf_counter() - started
    await dispose_engines()
    return {
        "baseline_s": round(baseline, 2),
        "score_s": round(scored, 2),
        "score_and_promote_s": round(promoted, 2),
        "journeys_s": round(total - promoted, 2),
        "pass_s": round(total, 2),
        "ratio_to_baseline": round(total / baseline, 1),
        "enrolled_by_trigger": journeys.enrolled,
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
    parser.add_argument(
        "--pass-only", action="store_true", help="the scoring and hand-off pass, no endpoint"
    )
    args = parser.parse_args()
    if not args.pass_only and not shutil.which("wrk"):
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
            hits = {} if args.pass_only else endpoint(url, Path(tmp), args.seconds, 1000)
            recorded = 0 if args.pass_only else asyncio.run(count_opens(url))
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
        print(f"{kind}: {args.leads:,} leads, {args.events:,} events (loaded in {loaded:.0f} s)")
        print(f"  full scoring pass      {result['score_s']:>7.2f} s")
        print(
            f"  scoring + MQL pass     {result['score_and_promote_s']:>7.2f} s   "
            f"{result['promoted']:,} promoted, {result['handed_off']:,} handed off"
        )
        print(
            f"  journeys step          {result['journeys_s']:>7.2f} s   "
            f"{result['enrolled_by_trigger']:,} enrolled by triggers"
        )
        print(f"  whole pass             {result['pass_s']:>7.2f} s")
        print(
            f"  baseline (one GROUP BY over the events) {result['baseline_s']:.2f} s;"
            f" ratio {result['ratio_to_baseline']}"
        )
        if args.pass_only:
            continue
        o, g = hits["open"], hits["baseline_get"]
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
