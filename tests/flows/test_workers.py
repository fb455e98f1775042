"""Scale-out on Prefect, as production runs it: a Prefect server, the deployments of
prefect.yaml on a process work pool, two `prefect worker` processes, PostgreSQL. Two runs of
the dispatch deployment at once over 3,000 due touches: every touch sent exactly once."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from nurture.config.project import load_project
from nurture.devdata import seed_due_touches
from tests.factories import touch_states
from tests.processes import wait_healthy
from tests.smtp_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
N = 3000
pytestmark = pytest.mark.e2e


def prefect(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PREFECT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def flow_runs(api: str, flow_name: str) -> list[dict]:
    response = httpx.post(
        f"{api}/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def cluster(settings, smtp, home: Path) -> list[dict]:
    """Server, pool, deployments, two queued dispatch runs, two workers (one run at a time
    each, so the runs go to both); returns the dispatch flow runs once all touches are out."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # only the two runs queued here: no scheduled runs taking a worker's one slot
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "NURTURE_DATABASE_URL": settings.database_url.get_secret_value(),
        "NURTURE_MAIL_URL": smtp.url,
        "NURTURE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "NURTURE_CONFIG_DIR": str(settings.config_dir),
        "NURTURE_TEMPLATES_DIR": str(settings.templates_dir),
        "NURTURE_DISPATCH_BATCH_SIZE": "100",
    }
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            **quiet,
        )
    ]
    runs: list[dict] = []
    try:
        wait_healthy(f"{api}/health", procs[0])
        prefect("work-pool", "create", "nurture", "--type", "process", env=env)
        prefect("--no-prompt", "deploy", "--all", env=env)
        for _ in range(2):  # two passes of the same deployment, queued before any worker runs
            prefect("deployment", "run", "dispatch-due-touches/every-minute", env=env)
        worker = [PREFECT, "worker", "start", "--pool", "nurture", "--limit", "1"]
        procs += [subprocess.Popen(worker, cwd=ROOT, env=env, **quiet) for _ in range(2)]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = flow_runs(api, "dispatch-due-touches")
            done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
            if len({r for m in smtp.messages for r in m.rcpt_tos}) >= N and len(done) >= 2:
                break
            time.sleep(1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    return runs


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # a PostgreSQL set-up
async def test_two_workers_run_the_dispatch_deployment_and_send_each_touch_once(
    settings, smtp, tmp_path
):
    url = settings.database_url.get_secret_value()
    await seed_due_touches(url, load_project(settings.config_dir), N, MONDAY)
    runs = await asyncio.to_thread(cluster, settings, smtp, tmp_path / "prefect")
    recipients = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(recipients) == N and max(recipients.values()) == 1  # all, and none twice
    assert await touch_states(settings) == {"sent": N, "scheduled": N}  # next steps scheduled
    completed = [r for r in runs if r["state_type"] == "COMPLETED"]
    assert len(completed) >= 2
    assert not [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]
    # at once: two runs overlapped, which with one run per worker means both workers ran
    spans = sorted((r["start_time"], r["end_time"]) for r in completed)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans))
