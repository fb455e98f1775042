"""For the scoring and report benchmarks: fill a migrated database fast (sqlite3's executemany
on SQLite, COPY on PostgreSQL: the application's own write path is not what they measure) and
write their results."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _naive(value: Any) -> Any:
    # SQLite stores our UTC datetimes as naive text (nurture.db.UTCDateTime).
    return value.replace(tzinfo=None).isoformat(sep=" ") if isinstance(value, datetime) else value


async def bulk_load(
    url: str, tables: dict[str, tuple[str, ...]], data: dict[str, list[tuple]]
) -> None:
    """Insert ``data[table]`` rows (tuples in ``tables[table]`` column order), then bring
    PostgreSQL's id sequences and statistics up to date."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split("///", 1)[1])
        for table, cols in tables.items():
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            db.executemany(sql, ([_naive(v) for v in r] for r in data[table]))
        db.commit()
        db.close()
        return
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    for table, cols in tables.items():
        await conn.copy_records_to_table(table, columns=list(cols), records=data[table])
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    await conn.execute("ANALYZE")
    await conn.close()


def write_results(path: Path, runs: list[dict[str, Any]]) -> None:
    """bench/results/<name>.json: the runs, the machine's CPU count and when."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    body = {"runs": runs, "cpus": os.cpu_count(), "measured_at": stamp}
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"wrote {path}")
