"""Capture benchmark: form POSTs against a running `nurture serve`, from a second process.

    python bench/capture.py [--seconds 10] [--concurrency 16] [--db sqlite|postgresql|both] [--json]

Starts `nurture serve` (no scheduler) on SQLite and/or PostgreSQL, then a second process (wrk
when installed, `apt-get install wrk`; else an httpx client for --n requests) sends JSON form
submissions (each a new lead: validation, lead, consent, enrolment, events, and the
double opt-in email built and handed to the in-memory transport). Baseline in the same run:
GET /healthz against the same server (the web stack without our work). Prints requests/s, p50
and p99 latency and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(base: str, n: int, concurrency: int, post: bool) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for i in counter:
                start = time.perf_counter()
                if post:
                    r = await client.post(
                        "/f/leitfaden",
                        json={
                            "email": f"bench{i}-{os.getpid()}@example.com",
                            "first_name": "Max",
                            "consent": True,
                            "utm_source": "bench",
                        },
                    )
                    assert r.status_code == 201, r.text
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
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


WRK_SCRIPT = """
local n = 0
request = function()
  n = n + 1
  local body = '{"email": "w' .. n .. '-' .. math.random(1, 1000000000) ..
    '@example.com", "first_name": "Max", "consent": true, "utm_source": "bench"}'
  return wrk.format("POST", "/f/leitfaden", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 201 and status ~= 200 then print("unexpected status " .. status) end
end
"""


def wrk(
    base: str, seconds: int, concurrency: int, path: str, folder: Path, script: str | None = None
) -> dict[str, float]:
    """Load from wrk (C, Debian's package): the load generator must not be the bottleneck.
    ``script``: a wrk Lua script that makes the requests (else GET ``path``)."""
    cmd = ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "--latency", f"{base}{path}"]
    if script:
        (folder / "load.lua").write_text(script)
        cmd += ["-s", str(folder / "load.lua")]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "unexpected status" not in out, out

    def ms(label: str) -> float:
        value = next(line.split()[1] for line in out.splitlines() if line.strip().startswith(label))
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
        return round(float(value[: -len(unit)]) * scale[unit], 2)

    rate = float(
        next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
    )
    return {"requests_per_s": round(rate, 1), "p50_ms": ms("50%"), "p99_ms": ms("99%")}


def fresh_db(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'capture.db'}"
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute("DROP DATABASE IF EXISTS nurture_bench_capture WITH (FORCE)")
        await conn.execute("CREATE DATABASE nurture_bench_capture")
        await conn.close()

    asyncio.run(create())
    return PG_ADMIN.rsplit("/", 1)[0] + "/nurture_bench_capture"


def serve(url: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "NURTURE_DATABASE_URL": url,
        "NURTURE_MAIL_URL": "memory://bench",
        "NURTURE_VAR_DIR": str(folder),
        "NURTURE_SECRET_KEY": "bench",
        "NURTURE_CONFIG_DIR": os.environ.get("NURTURE_CONFIG_DIR", str(ROOT / "config")),
        "NURTURE_TEMPLATES_DIR": os.environ.get("NURTURE_TEMPLATES_DIR", str(ROOT / "templates")),
        "PREFECT_API_URL": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nurture", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("nurture serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10, help="duration per load (wrk)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="write bench/results/capture.json")
    parser.add_argument("--load", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load process
        base, n, conc, kind = args.load
        print(json.dumps(asyncio.run(load(base, int(n), int(conc), kind == "post"))))
        return
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = []
    print(f"{'db':<11}{'what':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}")
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            proc, base = serve(fresh_db(kind, Path(tmp)), Path(tmp))
            try:
                results = {}
                for what in ("get", "post"):
                    if shutil.which("wrk"):
                        path, script = (
                            ("/f/leitfaden", WRK_SCRIPT) if what == "post" else ("/healthz", None)
                        )
                        results[what] = wrk(
                            base, args.seconds, args.concurrency, path, Path(tmp), script
                        )
                        continue
                    out = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--load",
                            base,
                            str(args.n),
                            str(args.concurrency),
                            what,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    results[what] = json.loads(out)
            finally:
                proc.terminate()
                proc.wait(10)
        ratio = results["post"]["requests_per_s"] / results["get"]["requests_per_s"]
        for what, label in (("get", "GET /healthz"), ("post", "POST /f/form")):
            r = results[what]
            print(
                f"{kind:<11}{label:<14}{r['requests_per_s']:>9,.0f}{r['p50_ms']:>9.1f}"
                f"{r['p99_ms']:>9.1f}{(ratio if what == 'post' else 1):>8.2f}"
            )
        runs.append(
            {
                "db": kind,
                "n": args.n,
                "concurrency": args.concurrency,
                "baseline_get": results["get"],
                **results["post"],
                "ratio_to_baseline": round(ratio, 3),
            }
        )
    if args.json:
        out = ROOT / "bench/results/capture.json"
        out.write_text(json.dumps({"runs": runs, "cpus": os.cpu_count()}, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
