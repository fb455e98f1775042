"""Dispatch benchmark: our pass end to end against the raw-SMTP ceiling, measured in one run.

    python bench/dispatch.py                 # n = 1k, 10k, 100k; SQLite and PostgreSQL; 1 and 2
    python bench/dispatch.py --n 10000 --json   # one size; writes bench/results/dispatch.json

For each size it generates N due touches of the example sequence, starts an aiosmtpd sink in a
separate process, and measures (1) the ceiling: aiosmtplib sending N pre-built messages (2k to
10k) over the same number of connections, taken again right before every run because a shared
machine's speed drifts, (2) claim -> render -> build -> SMTP -> ledger with one dispatcher
process and with two. Prints msgs/s, the ratio to that run's ceiling, peak RSS of a dispatcher
process and the task runs a Prefect flow would make for the pass (one per batch, plus one
count), and where the CPU went: the dispatchers' CPU per message during their pass, the
sink's, and how busy the whole machine was. The JSON's top-level ceiling is the median of the
runs' ceilings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday morning: inside the window
POOL = int(os.environ.get("BENCH_POOL", "8"))
CONFIG = Path(os.environ.get("NURTURE_CONFIG_DIR", ROOT / "config"))
TEMPLATES = Path(os.environ.get("NURTURE_TEMPLATES_DIR", ROOT / "templates"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        self.out = tempfile.mktemp(suffix=".json")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench/smtp_sink.py"), str(self.port), self.out],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout and self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> dict[str, int]:
        self.proc.terminate()
        self.proc.wait(30)
        return json.loads(Path(self.out).read_text())


def prebuilt(n: int) -> list:
    """N messages of the example sequence, built beforehand by our own composer: the ceiling
    sends what a pass sends (same size and shape), without our claim/render/record work."""
    from nurture.config.project import load_project
    from nurture.rendering.compose import build_composer, lead_context
    from nurture.settings import Settings

    settings = Settings(
        secret_key="bench",
        config_dir=CONFIG,
        templates_dir=TEMPLATES,
        base_url="https://nurture.example",
        mail_url="memory://bench",
    )
    project = load_project(CONFIG)
    composer = build_composer(settings)
    sequence = project.sequences["b2b-nurture"]
    return [
        composer.compose(
            sequence,
            1,
            lead_context(
                {
                    "email": f"c{i}@example.com",
                    "first_name": "Max",
                    "last_name": f"Muster{i}",
                    "company": "Beispiel GmbH",
                    "custom": {},
                }
            ),
            f"{i:032x}",
            NOW,
            i,
        )
        for i in range(n)
    ]


async def ceiling(port: int, n: int) -> float:
    """Raw aiosmtplib: N pre-built messages over POOL reused connections."""
    import aiosmtplib

    messages = prebuilt(n)
    queue: asyncio.Queue = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        while not queue.empty():
            m = queue.get_nowait()
            await client.mail(m.sender)
            await client.rcpt(m.recipient)
            await client.data(m.data)
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(POOL)))
    return n / (time.perf_counter() - start)


async def seed(url: str, n: int) -> None:
    """N leads enrolled in the example sequence with a step due now (bulk SQL)."""
    from nurture import migrate
    from nurture.config.project import load_project
    from nurture.db import dispose_engines
    from nurture.devdata import seed_due_touches

    await migrate.upgrade(url)
    await seed_due_touches(url, load_project(CONFIG), n, NOW)
    await dispose_engines()
    if url.startswith("postgresql"):
        import asyncpg

        # Write the seed's dirty pages out now, not in a checkpoint during the measurement.
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute("CHECKPOINT")
        await conn.close()


async def worker_main(url: str, port: int) -> None:
    """One dispatcher process: a full pass; prints JSON with its counts and peak RSS."""
    from nurture.db import dispose_engines
    from nurture.dispatch.run import build_dispatcher, run_pass
    from nurture.settings import Settings

    settings = Settings(
        database_url=url,
        mail_url=f"smtp://127.0.0.1:{port}?pool={POOL}",
        secret_key="bench",
        config_dir=CONFIG,
        templates_dir=TEMPLATES,
        base_url="https://nurture.example",
    )
    dispatcher = build_dispatcher(settings)
    cpu_before = process_cpu_s()
    started = time.time()  # wall clock: comparable across dispatcher processes
    report = await run_pass(dispatcher, NOW)
    ended = time.time()
    cpu_s = process_cpu_s() - cpu_before  # the pass alone, not start-up and imports
    await dispose_engines()
    rss_mb = peak_rss_mb()
    print(
        json.dumps(
            {
                "sent": report.total("sent"),
                "batches": report.batches,
                "cpu_s": cpu_s,
                "started": started,
                "ended": ended,
                "peak_rss_mb": rss_mb,
            }
        )
    )


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pid_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BusySampler:
    """Samples /proc/stat while dispatchers run, so the share of the machine's CPU in use
    during the pass itself (start-up excluded) can be read off afterwards."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            idle = cpu[3] + cpu[4]  # idle + iowait
            self.samples.append((time.time(), sum(cpu), idle))
            self._stop.wait(0.1)

    def __enter__(self) -> BusySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def busy_pct(self, start: float, end: float) -> float | None:
        window = [s for s in self.samples if start <= s[0] <= end]
        if len(window) < 2 or window[-1][1] == window[0][1]:
            return None
        (_, total0, idle0), (_, total1, idle1) = window[0], window[-1]
        return 100 * (1 - (idle1 - idle0) / (total1 - total0))


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries it over exec from the parent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh_db(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        path = tmp / f"bench-{time.monotonic_ns()}.db"
        return f"sqlite+aiosqlite:///{path}"
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute("DROP DATABASE IF EXISTS nurture_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE nurture_bench")
        await conn.close()

    asyncio.run(create())
    return (
        "postgresql+asyncpg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + "/nurture_bench"
    )


def run_dispatchers(url: str, port: int, count: int) -> tuple[float, list[dict]]:
    """Seconds from the first pass starting to the last one ending (interpreter start-up and
    imports excluded), and each dispatcher's report."""
    env = {**os.environ, "PREFECT_API_URL": ""}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(port)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return max(o["ended"] for o in outs) - min(o["started"] for o in outs), outs


def measure(kind: str, n: int, dispatchers: int, ceiling_rate: float, tmp: Path) -> dict:
    url = fresh_db(kind, tmp)
    asyncio.run(seed(url, n))
    sink = Sink()
    try:
        with BusySampler() as sampler:
            sink_cpu = pid_cpu_s(sink.proc.pid)
            elapsed, outs = run_dispatchers(url, sink.port, dispatchers)
            sink_cpu = pid_cpu_s(sink.proc.pid) - sink_cpu
    finally:
        got = sink.stop()
    busy = sampler.busy_pct(min(o["started"] for o in outs), max(o["ended"] for o in outs))
    sent = sum(o["sent"] for o in outs)
    assert sent == n == got["received"], (sent, n, got)
    assert got["duplicate_message_ids"] == 0
    rate = n / elapsed
    return {
        "db": "postgresql" if kind == "postgres" else kind,
        "dispatchers": dispatchers,
        "n": n,
        "msgs_per_s": round(rate, 1),
        "ceiling_msgs_per_s": round(ceiling_rate, 1),
        "ratio": round(rate / ceiling_rate, 3),
        "peak_rss_mb": round(max(o["peak_rss_mb"] for o in outs), 1),
        "task_runs": sum(o["batches"] for o in outs) + dispatchers,
        "seconds": round(elapsed, 2),
        # Where the CPU went: the dispatchers' during their pass, the sink's, and how
        # busy the whole machine was (the sink and the database share it).
        "dispatcher_cpu_ms_per_msg": round(1e3 * sum(o["cpu_s"] for o in outs) / n, 3),
        "sink_cpu_ms_per_msg": round(1e3 * sink_cpu / n, 3),
        "machine_busy_pct": busy and round(busy),
    }


def measure_ceiling(n: int) -> float:
    """Raw aiosmtplib against a fresh sink, in its own process (this one stays small for the
    dispatchers it starts); at least 2,000 messages, at most 10,000."""
    sink = Sink()
    try:
        count = str(min(max(2_000, n), 10_000))
        out = subprocess.run(
            [sys.executable, __file__, "--ceiling", str(sink.port), count],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        sink.stop()
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, action="append", help="due touches (repeatable)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="write bench/results/dispatch.json")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/dispatch.json")
    parser.add_argument(
        "--dispatchers",
        type=int,
        action="append",
        choices=[1, 2],
        help="dispatcher processes (repeatable; default 1 and 2)",
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--ceiling", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker_main(args.worker[0], int(args.worker[1])))
        return
    if args.ceiling:
        print(asyncio.run(ceiling(int(args.ceiling[0]), int(args.ceiling[1]))))
        return
    sizes = args.n or [1_000, 10_000, 100_000]
    kinds = (
        ["sqlite", "postgres"]
        if args.db == "both"
        else ["postgres" if args.db == "postgresql" else "sqlite"]
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        print(
            f"{'db':<11}{'disp':>5}{'n':>9}{'msgs/s':>10}{'ceiling':>9}{'ratio':>7}"
            f"{'rss MB':>8}{'tasks':>7}{'s':>8}{'disp ms':>9}{'sink ms':>9}{'busy':>6}"
        )
        runs, ceilings = [], []
        for n in sizes:
            for kind in kinds:
                for dispatchers in args.dispatchers or (1, 2):
                    # The ceiling is measured right before each run: on a shared machine the
                    # speed drifts by a third within minutes, and a ratio is only fair against
                    # a ceiling taken under the same conditions.
                    ceiling_rate = measure_ceiling(n)
                    ceilings.append(ceiling_rate)
                    r = measure(kind, n, dispatchers, ceiling_rate, Path(tmpdir))
                    runs.append(r)
                    print(
                        f"{r['db']:<11}{dispatchers:>5}{n:>9}{r['msgs_per_s']:>10,.0f}"
                        f"{ceiling_rate:>9,.0f}{r['ratio']:>7.2f}{r['peak_rss_mb']:>8.0f}"
                        f"{r['task_runs']:>7}{r['seconds']:>8.1f}"
                        f"{r['dispatcher_cpu_ms_per_msg']:>9.2f}{r['sink_cpu_ms_per_msg']:>9.2f}"
                        f"{r['machine_busy_pct'] or 0:>5}%",
                        flush=True,
                    )
    result = {
        "ceiling_msgs_per_s": round(statistics.median(ceilings), 1),
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
