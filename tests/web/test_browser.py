"""A real browser (Debian's headless Chromium, driven by Playwright) on a running `nurture
serve`: a visitor fills the hosted landing page, forgets the consent box and is told so, submits,
reads the thank-you text, opens the link in the confirmation email and reads that it worked.
Behind it: the lead with its browser's timezone and UTM source, the consent as agreed to, the
drip started by the confirmation."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nurture.config.project import load_project
from tests.conftest import CONTENT
from tests.processes import serve

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FORM = load_project(CONTENT / "config").forms["leitfaden"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with serve(CONTENT, tmp_path) as base:
        yield base, tmp_path


def confirmation_link(outbox: Path) -> str:
    for _ in range(50):  # the confirmation email is sent right after the response
        if list(outbox.glob("*.eml")):
            break
        time.sleep(0.1)
    [eml] = list(outbox.glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "erika@example.org"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return re.search(r"(http://127\.0\.0\.1:\d+/c/\S+)", text)[1]  # type: ignore[index]


def test_visitor_signs_up_in_a_browser_and_confirms_from_the_email(server):
    from playwright.sync_api import expect, sync_playwright

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
        expect(page.locator("h1")).to_have_text(FORM.title)
        expect(page.locator("form")).to_contain_text(FORM.consent.text)
        page.fill("#f-first_name", "Erika")
        page.fill("#f-last_name", "Musterfrau")
        page.fill("#f-email", "Erika@Example.org")
        page.fill("#f-company", "Musterfrau AG")
        page.select_option("#f-company_size", "50-199")
        page.click("button[type=submit]")  # without the consent box ticked
        expect(page.locator("#err-consent")).to_be_visible()
        expect(page.locator("#f-first_name")).to_have_value("Erika")  # nothing to type again
        page.check("input[name=consent]")
        page.screenshot(path=str(folder / "landing.png"), full_page=True)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/f/leitfaden/thanks")
        expect(page.locator("h1")).to_have_text(FORM.thank_you.title)
        expect(page.locator("main")).to_contain_text(FORM.thank_you.message)

        page.goto(confirmation_link(folder / "outbox"))
        expect(page.locator("h1")).to_have_text("Anmeldung bestätigen")  # the link alone: a button
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text(FORM.confirmed.title)
        expect(page.locator("main")).to_contain_text(FORM.confirmed.message)
        browser.close()

    db = sqlite3.connect(folder / "nurture.db")
    lead = db.execute(
        "select id, first_name, company, custom, utm_source, utm_campaign, timezone,"
        " lifecycle_stage from leads where email = ?",
        ("erika@example.org",),
    ).fetchone()
    assert (*lead[1:3], json.loads(lead[3]), *lead[4:]) == (
        "Erika",
        "Musterfrau AG",
        {"company_size": "50-199"},
        "newsletter",
        "winter",
        "America/New_York",
        "lead",
    )
    consent = db.execute(
        "select form_id, text, text_version, double_opt_in, ip, confirmed_at is not null,"
        " confirmed_user_agent like '%Chrom%' from consents where lead_id = ?",
        (lead[0],),
    ).fetchall()
    # confirmed by the browser that pressed the button
    expected = ("leitfaden", FORM.consent.text, FORM.consent.version, 1, "127.0.0.1", 1, 1)
    assert consent == [expected]
    drips = db.execute("select sequence_id, state from enrollments where lead_id = ?", (lead[0],))
    assert drips.fetchall() == [("b2b-nurture", "active")]
