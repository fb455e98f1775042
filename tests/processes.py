"""Waiting for a server a test started as a subprocess (free ports: tests.smtp_server)."""

from __future__ import annotations

import subprocess
import time

import httpx


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
