"""Servers a test starts as a subprocess: waiting for one, and `nurture serve` itself; and the
browser the end-to-end tests drive (Debian's headless Chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.smtp_server import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless in a container: no sandbox (no user namespaces), no GPU, nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Until ``url`` answers 200; fails at once if the process exits, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"{proc.args[:3]} exited ({proc.returncode}): {out[-2000:]}")
        time.sleep(0.2)
    raise AssertionError(f"{url} not healthy after {seconds} s")


@contextmanager
def serve(content: Path, folder: Path, **env: str) -> Iterator[str]:
    """`nurture serve` (no scheduler) on ``content``'s config and templates, its SQLite file,
    outbox and var/ in ``folder``, until the block ends; yields its base URL. ``env``: more
    NURTURE_* settings."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {
        **os.environ,
        "NURTURE_DATABASE_URL": f"sqlite:///{folder / 'nurture.db'}",
        "NURTURE_MAIL_URL": f"file://{folder / 'outbox'}",
        "NURTURE_BASE_URL": base,
        "NURTURE_CONFIG_DIR": str(content / "config"),
        "NURTURE_TEMPLATES_DIR": str(content / "templates"),
        "NURTURE_VAR_DIR": str(folder / "var"),
        "PREFECT_API_URL": "",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nurture", "serve", "--port", str(port), "--no-scheduler"],
        env=settings,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"{base}/healthz", proc, 30)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
