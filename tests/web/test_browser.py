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
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nurture.config.project import load_project
from tests.conftest import CONTENT
from tests.processes import CHROMIUM, serve
from tests.processes import CHROMIUM_ARGS as ARGS

pytestmark = pytest.mark.e2e
PROJECT = load_project(CONTENT / "config")
FORM = PROJECT.forms["leitfaden"]


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
            args=ARGS,
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


def test_a_marketer_reads_a_sequences_emails_in_the_preview(server):
    """/preview/ from this machine: the sequences, one clicked, its emails as a person sees
    them: the subject, the text part, the HTML part in its sandboxed frame; a screenshot."""
    from playwright.sync_api import expect, sync_playwright

    base, folder = server
    assert Path(CHROMIUM).exists(), "install Debian's chromium (make test does)"
    sequence = PROJECT.sequences["b2b-nurture"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        blocked: list[str] = []  # what the page's CSP refused: nothing of ours may be
        page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else 0)
        page.goto(f"{base}/preview/")
        expect(page.locator("h1")).to_have_text("Preview")
        expect(page.locator("table")).to_contain_text(sequence.name)
        page.click("text=b2b-nurture")
        page.wait_for_url(f"{base}/preview/b2b-nurture")
        expect(page.locator("h1")).to_have_text(sequence.name)
        expect(page.locator("#schedule")).to_contain_text("Europe/Berlin")

        welcome = page.locator("article[data-step=welcome][data-locale=de]")
        expect(welcome.locator(".subject")).to_have_text("Willkommen, Max")
        expect(welcome.locator(".subject")).to_be_visible()
        text = welcome.locator("pre.text")
        expect(text).to_be_visible()
        expect(text).to_contain_text("Ihr Leitfaden für Mustermann Consulting GmbH")
        frame = welcome.frame_locator("iframe")
        expect(frame.locator("p").first).to_have_text("Hallo Max,")
        expect(frame.locator("a", has_text="Abmelden")).to_be_visible()
        # the frame's styles (inlined from style.css) apply: the CSP lets inline style in
        color = frame.locator("a", has_text="herunterladen").evaluate(
            "a => getComputedStyle(a).color"
        )
        assert color == "rgb(15, 107, 92)"  # #0f6b5c
        expect(page.locator("article[data-step=demo] .subject")).to_have_text("Max, eine Demo?")
        expect(page.locator("section.step")).to_have_count(len(sequence.steps))

        # Headless Chromium paints a sandboxed frame (its own process) only inside the
        # viewport: make the viewport the page, so the screenshot shows every email.
        tall = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": tall})
        expect(
            page.locator("article[data-step=breakup]").frame_locator("iframe").locator("p").first
        ).to_have_text("Hallo Max,")
        shot = folder / "preview.png"
        page.screenshot(path=str(shot), full_page=True)
        alone = f"{base}/preview/b2b-nurture/welcome/de.html?sample=full"
        with page.expect_response(alone) as answer:
            page.click("article[data-step=welcome] >> text=open the HTML alone")
        page.wait_for_url(alone)
        assert answer.value.status == 200
        assert answer.value.headers["content-security-policy"].endswith("; sandbox")
        assert "Hallo Max," in answer.value.text()
        # Playwright finds no element in a CSP-sandboxed page it was clicked into (it gets
        # no script context there); loaded afresh it does.
        page.reload()
        expect(page.locator("p").first).to_have_text("Hallo Max,")
        browser.close()
    assert blocked == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == 1280 and height > 3000  # seven steps, each with its frame
    assert len(png) > 50_000  # text and frames, not a blank page


def test_from_another_host_the_preview_asks_for_the_key_in_a_form(tmp_path: Path):
    """The browser reaches nurture as preview.test (resolved to 127.0.0.1, as a rebinding name
    or a TCP proxy would): not local, so the 403 page with its form; a wrong key, the form
    again; the right one, a cookie and back to the page asked for, then the email alone.
    The key is in no URL the browser loaded."""
    from playwright.sync_api import expect, sync_playwright

    key = "browser-preview-key"
    with serve(CONTENT, tmp_path, NURTURE_API_KEY=key) as local_base:
        port = local_base.rsplit(":", 1)[1]
        base = f"http://preview.test:{port}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[*ARGS, "--host-resolver-rules=MAP preview.test 127.0.0.1"],
            )
            page = browser.new_page()
            urls: list[str] = []
            page.on("request", lambda r: urls.append(r.url))
            blocked: list[str] = []
            page.on(
                "console", lambda m: blocked.append(m.text) if "Content Security" in m.text else 0
            )
            first = page.goto(f"{base}/preview/b2b-nurture?sample=sparse")
            assert first is not None and first.status == 403
            expect(page.locator("h1")).to_have_text("No access to the preview")
            page.fill("input[name=key]", "a-guess")
            page.click("button[type=submit]")
            expect(page.locator("p.error")).to_have_text("That is not NURTURE_API_KEY.")
            page.fill("input[name=key]", key)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/preview/b2b-nurture?sample=sparse")
            expect(page.locator("h1")).to_have_text(PROJECT.sequences["b2b-nurture"].name)
            [cookie] = page.context.cookies()
            assert cookie["name"] == "nurture_preview" and key not in cookie["value"]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            alone = page.goto(f"{base}/preview/b2b-nurture/welcome/de.html")
            assert alone is not None and alone.status == 200  # the cookie opens it too
            expect(page.locator("p").first).to_contain_text("Hallo")
            browser.close()
    assert blocked == []
    assert urls and not [u for u in urls if key in u]
