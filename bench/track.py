"""Website tracking benchmark: POST /api/track in batches of 100 against a running
`nurture serve`, from a second process.

    python bench/track.py [--batches 300] [--concurrency 16] [--db sqlite|postgresql|both] [--json]

Starts `nurture serve` (no scheduler) on SQLite and/or PostgreSQL, then a second process
(an httpx client) sends batches of 100 Segment calls with the API key: page views and track
calls of 2,000 anonymous visitors, each with its messageId (claimed in receipts), so every
call is checked, deduplicated and written (visitor upserts, visitor_events rows) in the
route's group commits. Baseline in the same run, from the same client: GET /healthz against
the same server. Prints events/s, healthz requests/s and their ratio (the target: at least 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from capture import fresh_db, serve  # noqa: E402  (the capture bench's server helpers)

KEY = "bench-api-key"
BATCH = 100


def batches(n: int) -> list[bytes]:
    run = uuid.uuid4().hex[:8]
    out = []
    for b in range(n):
        calls = []
        for i in range(BATCH):
            visitor = f"bench-{run}-{(b * BATCH + i) % 2000}"
            call = {
                "anonymousId": visitor,
                "messageId": f"{run}-{b}-{i}",
                "context": {"page": {"url": f"https://site.example/p/{i % 40}", "title": "P"}},
            }
            if i % 4 == 3:
                call |= {"type": "track", "event": "Pricing Viewed", "properties": {"plan": i}}
            else:
                call |= {"type": "page"}
            calls.append(call)
        out.append(json.dumps({"batch": calls}).encode())
    return out


async def load(base: str, n: int, concurrency: int, what: str) -> dict[str, float]:
    bodies = batches(n) if what == "track" else []
    latencies: list[float] = []
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for i in counter:
                start = time.perf_counter()
                if what == "track":
                    r = await client.post("/api/track", content=bodies[i], headers=headers)
                    assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text
                else:
                    r = await client.get("/healthz")
                    assert r.status_code == 200
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests_per_s": round(n / elapsed, 1),
        "events_per_s": round(n * (BATCH if what == "track" else 1) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=300, help="batches of 100 calls")
    parser.add_argument("--healthz", type=int, default=5000, help="GET /healthz requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="write bench/results/track.json")
    parser.add_argument("--load", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load process
        base, n, conc, what = args.load
        print(json.dumps(asyncio.run(load(base, int(n), int(conc), what))))
        return
    os.environ["NURTURE_API_KEY"] = KEY  # serve() passes the environment on
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = []
    print(f"{'db':<11}{'what':<22}{'req/s':>9}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            proc, base = serve(fresh_db(kind, Path(tmp)), Path(tmp))
            try:
                results = {}
                for what, n in (("healthz", args.healthz), ("track", args.batches)):
                    cmd = [sys.executable, __file__, "--load", base, str(n)]
                    out = subprocess.run(
                        [*cmd, str(args.concurrency), what],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    results[what] = json.loads(out)
            finally:
                proc.terminate()
                proc.wait(10)
        ratio = results["track"]["events_per_s"] / results["healthz"]["requests_per_s"]
        for what, label in (("healthz", "GET /healthz"), ("track", "POST /api/track x100")):
            r = results[what]
            print(
                f"{kind:<11}{label:<22}{r['requests_per_s']:>9,.0f}{r['events_per_s']:>10,.0f}"
                f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            )
        print(f"{kind:<11}events/s : healthz req/s = {ratio:.2f} (target >= 2)")
        runs.append(
            {
                "db": kind,
                "batches": args.batches,
                "batch_size": BATCH,
                "concurrency": args.concurrency,
                "baseline_healthz": results["healthz"],
                **results["track"],
                "ratio_to_baseline": round(ratio, 3),
            }
        )
    if args.json:
        out = ROOT / "bench/results/track.json"
        out.write_text(json.dumps({"runs": runs, "cpus": os.cpu_count()}, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
