"""Provider webhook benchmark: bounces and complaints posted to a running `nurture serve`
(POST /api/mail-events/generic, in batches as SendGrid and Mailgun deliver them) from a second
process, against sends matched by Message-ID.

    python bench/mailevents.py [--leads 100000] [--events 20000] [--batch 100]
                               [--concurrency 8] [--db sqlite|postgresql|both] [--json]

Each event is a hard bounce, a soft bounce or a complaint (a third each) for its own sent
email: matched by Message-ID among ``--leads`` sends, recorded, the hard bounces and
complaints suppressed and their drips ended; then the same batches again (replays: claimed
keys, nothing recorded). Baseline in the same run: GET /healthz on the same server, the web
stack without our work. Prints events/s, batches/s, p50/p99 latency per batch and the ratio of
events/s to the baseline's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bulkload import bulk_load, write_results  # noqa: E402
from capture import fresh_db, serve  # noqa: E402  (the capture bench's server helpers)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = "bench-api-key"
KINDS = ["hard_bounce", "soft_bounce", "complaint"]
TABLES = {
    "leads": ("id", "email", "public_id", "custom", "lifecycle_stage", "created_at", "updated_at"),
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
        "message_id",
        "sent_at",
        "created_at",
        "updated_at",
    ),
}


def message_id(i: int) -> str:
    return f"<18c2f00d{i:x}.{i}.5eed@planwerk.example>"


def rows(leads: int) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {t: [] for t in TABLES}
    for i in range(1, leads + 1):
        out["leads"].append((i, f"lead{i}@firma.de", uuid.uuid4().hex, "{}", "lead", NOW, NOW))
        out["enrollments"].append((i, i, "b2b-nurture", "v", "active", 1, NOW, NOW))
        out["sends"].append(
            (i, i, i, "b2b-nurture", "welcome", 0, "sent", NOW, 1, message_id(i), NOW, NOW, NOW)
        )
    return out


async def prepare(url: str, leads: int) -> None:
    from nurture import migrate
    from nurture.db import dispose_engines

    await migrate.upgrade(url)
    await dispose_engines()
    await bulk_load(url, TABLES, rows(leads))


def batches(leads: int, events: int, size: int) -> list[bytes]:
    rnd = random.Random(7)
    targets = rnd.sample(range(1, leads + 1), events)
    at = datetime.now(UTC).isoformat()
    out = []
    for start in range(0, events, size):
        chunk = targets[start : start + size]
        body = {
            "events": [
                {
                    "id": f"bench-{i}",
                    "type": KINDS[i % 3],
                    "message_id": message_id(i),
                    "occurred_at": at,
                    "detail": "bench",
                }
                for i in chunk
            ]
        }
        out.append(json.dumps(body).encode())
    return out


async def load(base: str, bodies: list[bytes] | None, n: int, concurrency: int) -> dict:
    """POST the bodies (or GET /healthz ``n`` times); requests/s and latency."""
    latencies: list[float] = []
    work = iter(bodies if bodies is not None else [None] * n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    totals = {"recorded": 0, "new": 0}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def worker() -> None:
            for body in work:
                start = time.perf_counter()
                if body is None:
                    r = await client.get("/healthz")
                else:
                    r = await client.post("/api/mail-events/generic", content=body, headers=headers)
                    totals["recorded"] += r.json()["recorded"]
                    totals["new"] += r.json()["new"]
                assert r.status_code == 200, r.text
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        **totals,
    }


def in_child(base: str, what: str, args: argparse.Namespace) -> dict:
    """Run ``load`` in a second process: the client is not the server's Python process, as a
    provider's requests are not."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            base,
            what,
            *map(str, (args.leads, args.events, args.batch, args.concurrency, args.healthz)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--healthz", type=int, default=5000, help="baseline requests")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="write bench/results/mailevents.json")
    parser.add_argument("--load", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load process
        base, what, leads, events, size, conc, healthz = args.load
        bodies = None if what == "get" else batches(int(leads), int(events), int(size))
        print(json.dumps(asyncio.run(load(base, bodies, int(healthz), int(conc)))))
        return
    if args.events > args.leads:
        raise SystemExit("--events must not exceed --leads (one send per event)")
    os.environ["NURTURE_API_KEY"] = KEY  # serve() passes the environment on
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = []
    print(
        f"{'db':<11}{'what':<22}{'events/s':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}"
    )
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            url = fresh_db(kind, Path(tmp))
            url = url.replace("sqlite:///", "sqlite+aiosqlite:///").replace(
                "postgresql://", "postgresql+asyncpg://"
            )
            asyncio.run(prepare(url, args.leads))
            proc, base = serve(url, Path(tmp))
            try:
                baseline = in_child(base, "get", args)
                first = in_child(base, "post", args)
                replay = in_child(base, "post", args)
            finally:
                proc.terminate()
                proc.wait(10)
        assert first["new"] == args.events and replay["new"] == 0, (first, replay)
        line = f"{kind:<11}{'GET /healthz':<22}{'':>10}{baseline['requests_per_s']:>9,.0f}"
        print(f"{line}{baseline['p50_ms']:>9.1f}{baseline['p99_ms']:>9.1f}{1:>8.2f}")
        run = {
            "db": kind,
            "leads": args.leads,
            "events": args.events,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "baseline_get": baseline,
        }
        for label, r in (("new", first), ("replayed", replay)):
            rate = r["requests_per_s"] * args.batch
            ratio = rate / baseline["requests_per_s"]
            print(
                f"{kind:<11}{'POST generic, ' + label:<22}{rate:>10,.0f}"
                f"{r['requests_per_s']:>9,.0f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{ratio:>8.2f}"
            )
            run[label] = {**r, "events_per_s": round(rate, 1), "ratio_to_baseline": round(ratio, 3)}
        runs.append(run)
    if args.json:
        write_results(ROOT / "bench" / "results" / "mailevents.json", runs)


if __name__ == "__main__":
    main()
