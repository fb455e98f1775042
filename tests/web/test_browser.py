"""A real browser (Debian's headless Chromium, driven by Playwright) fills and submits the
hosted landing page of a running `nurture serve`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CONTENT
from tests.processes import wait_healthy
from tests.smtp_server import free_port

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    env = {
        **os.environ,
        "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path / 'nurture.db'}",
        "NURTURE_MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "NURTURE_BASE_URL": f"http://127.0.0.1:{port}",
        "NURTURE_CONFIG_DIR": str(CONTENT / "config"),
        "NURTURE_TEMPLATES_DIR": str(CONTENT / "templates"),
        "NURTURE_VAR_DIR": str(tmp_path / "var"),
        "PREFECT_API_URL": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nurture", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/healthz", proc, 30)
        yield base, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_visitor_fills_and_submits_the_landing_page(server):
    from playwright.sync_api import sync_playwright

    base, folder = server
    assert Path(CHROMIUM).exists(), "install Debian's chromium (make test does)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(timezone_id="America/New_York")
        page.goto(f"{base}/f/leitfaden?utm_source=newsletter&utm_campaign=winter")
        page.fill("#f-first_name", "Erika")
        page.fill("#f-last_name", "Musterfrau")
        page.fill("#f-email", "Erika@Example.org")
        page.fill("#f-company", "Musterfrau AG")
        page.check("input[name=consent]")
        page.screenshot(path=str(folder / "landing.png"), full_page=True)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/f/leitfaden/thanks")
        heading = page.text_content("h1")
        browser.close()
    assert heading
    db = sqlite3.connect(folder / "nurture.db")
    row = db.execute(
        "select first_name, utm_source, utm_campaign, timezone from leads where email = ?",
        ("erika@example.org",),
    ).fetchone()
    assert row == ("Erika", "newsletter", "winter", "America/New_York")
    for _ in range(50):  # the confirmation email is sent right after the response
        if list((folder / "outbox").glob("*.eml")):
            break
        time.sleep(0.1)
    [eml] = list((folder / "outbox").glob("*.eml"))
    assert b"erika@example.org" in eml.read_bytes()
