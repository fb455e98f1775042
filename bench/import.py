"""Import benchmark: `nurture leads import` of a 100k-row trade-fair CSV (Excel's semicolons,
cp1252, umlauts; 1% bad addresses, 1% duplicates), on SQLite and PostgreSQL.

    python bench/import.py [--rows 100000] [--db sqlite|postgresql|both] [--json]

Runs the command as a user does (a subprocess: start-up, detection, checking every row,
writing leads, consents, stages, enrollments with their first touches and events), with a
consent basis and --enrol, into an empty database; then the same file again (everything
unchanged). Baseline in the same run: a bare csv.reader parse of the same file (read, decode,
split). Prints seconds and CPU seconds (the command's; the database server's not included),
each with its ratio to the baseline, and the load average before (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bulkload import write_results  # noqa: E402

PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_NAME = "nurture_bench_import"
FIRST = ["Jürgen", "Änne", "Sören", "Max", "Zoë", "François", "Birgit", "Ömer"]
LAST = ["Müller", "Weiß", "Groß", "Schäfer", "Özdemir", "Lindström", "Kraus", "Brandt"]
COMPANIES = ["Bäckerei Groß GmbH", "Straßenbau Nord AG", "Planwerk GmbH", "Café Süß", None]
TITLES = ["Geschäftsführerin", "Einkäufer", "Projektleiter", "Head of Operations", None]
COUNTRIES = ["Deutschland", "Österreich", "Schweiz", None]


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(14)
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["E-Mail", "Vorname", "Nachname", "Firma", "Position", "Land", "Messe-Stand"])
    for i in range(rows):
        if i % 100 == 1:
            email = f"kein-at-zeichen-{i}.example.de"  # a bad address
        elif i % 100 == 2:
            email = f"Besucher{i - 2}@Messe.example"  # a duplicate of the row before last
        else:
            email = f"Besucher{i}@Messe.example"
        writer.writerow(
            [
                email,
                rnd.choice(FIRST),
                rnd.choice(LAST),
                rnd.choice(COMPANIES) or "",
                rnd.choice(TITLES) or "",
                rnd.choice(COUNTRIES) or "",
                f"Halle {rnd.randint(1, 9)}",
            ]
        )
    path.write_bytes(out.getvalue().encode("cp1252"))


def baseline(path: Path) -> tuple[float, float]:
    """The least any import must do: read, decode and split every record; (seconds, CPU
    seconds)."""
    started, used = time.perf_counter(), time.process_time()
    text = path.read_bytes().decode("cp1252")
    n = sum(1 for _ in csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert n > 1
    return time.perf_counter() - started, time.process_time() - used


def fresh_db(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'import.db'}"
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_NAME}")
        await conn.close()

    asyncio.run(create())
    return "postgresql+asyncpg://" + PG_ADMIN.split("://", 1)[1].rsplit("/", 1)[0] + f"/{PG_NAME}"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nurture(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Run the command; (seconds, its CPU seconds, its output). On a shared machine the CPU
    time is the steadier figure: the wall time is whatever the other processes leave."""
    started, used = time.perf_counter(), cpu()
    done = subprocess.run(
        [sys.executable, "-m", "nurture", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"nurture {' '.join(args)} failed:\n{done.stderr}")
    return elapsed, cpu() - used, done.stdout


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sequence", default="b2b-nurture", help="the sequence to --enrol in")
    parser.add_argument("--json", action="store_true", help="write bench/results/import.json")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = []
    print(f"{'db':<11}{'what':<18}{'seconds':>9}{'ratio':>8}{'CPU s':>8}{'ratio':>8}")
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = folder / "messe-2026.csv"
            write_csv(path, args.rows)
            url = fresh_db(kind, folder)
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT / "src"),
                "NURTURE_DATABASE_URL": url,
                "NURTURE_MAIL_URL": "memory://bench",
                "NURTURE_VAR_DIR": str(folder),
                "NURTURE_SECRET_KEY": "bench",
                "NURTURE_CONFIG_DIR": os.environ.get("NURTURE_CONFIG_DIR", str(ROOT / "config")),
                "PREFECT_API_URL": "",
            }
            nurture(env, "db", "upgrade")
            command = ["leads", "import", str(path), "--enrol", args.sequence]
            command += ["--consent-basis", "Messe-Kontaktformular 2026, Einwilligung schriftlich"]
            parse, parse_cpu = baseline(path)
            before = load()
            first, first_cpu, report = nurture(env, *command)
            again, again_cpu, report_again = nurture(env, *command)
        summary = next(line for line in report.splitlines() if " rows: " in line)
        summary_again = next(line for line in report_again.splitlines() if " rows: " in line)
        figures = (
            ("csv.reader parse", parse, parse_cpu),
            ("import", first, first_cpu),
            ("again", again, again_cpu),
        )
        for label, seconds, used in figures:
            print(
                f"{kind:<11}{label:<18}{seconds:>9.2f}{seconds / parse:>8.0f}"
                f"{used:>8.2f}{used / parse_cpu:>8.0f}"
            )
        print(f"{'':<11}{summary}\n{'':<11}{summary_again}\n{'':<11}load average {before}")
        runs.append(
            {
                "db": kind,
                "rows": args.rows,
                "baseline_parse_s": round(parse, 3),
                "baseline_parse_cpu_s": round(parse_cpu, 3),
                "import_s": round(first, 2),
                "import_cpu_s": round(first_cpu, 2),
                "again_s": round(again, 2),
                "again_cpu_s": round(again_cpu, 2),
                "ratio_to_baseline": round(first / parse),
                "cpu_ratio_to_baseline": round(first_cpu / parse_cpu),
                "again_ratio_to_baseline": round(again / parse),
                "load_average_before": before,
                "summary": summary,
                "summary_again": summary_again,
            }
        )
    if args.json:
        write_results(ROOT / "bench/results/import.json", runs)


if __name__ == "__main__":
    main()
