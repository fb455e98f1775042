"""t.js in a real browser (Debian's headless Chromium, driven by Playwright) against a running
`nurture serve`: a website on another origin that includes the snippet sends its page views
and events, which wait as the anonymous visitor's; on the hosted landing page the form carries
the browser's id and its page views join the lead. Do Not Track, Global Privacy Control and a
consent not (yet) given send nothing."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import CONTENT
from tests.processes import CHROMIUM, serve
from tests.processes import CHROMIUM_ARGS as ARGS

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with serve(CONTENT, tmp_path, NURTURE_TRACKING_KEY="pk_browser_test") as base:
        yield base, tmp_path / "nurture.db"


def site_page(base: str, consent: str = "") -> str:
    attr = f' data-consent="{consent}"' if consent else ""
    return (
        "<!doctype html><html><head><title>Preise</title>"
        f'<script src="{base}/t.js" async{attr}></script></head>'
        "<body><h1>Preise</h1></body></html>"
    )


@pytest.fixture
def site(server) -> Iterator[str]:
    """The website, on its own origin (localhost, another port: a loopback address too, so
    Chromium's Private Network Access lets it load the snippet from nurture's 127.0.0.1)."""
    base = server[0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            consent = "wait" if "consent=wait" in self.path else ""
            body = site_page(base, consent).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def wait_rows(db: Path, sql: str, n: int, seconds: float = 10) -> list[tuple]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = rows(db, sql)
        if len(found) >= n:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{sql}: {rows(db, sql)}, wanted {n}")


WAITING = (
    "select v.anonymous_id, e.type, json_extract(e.data, '$.url'), json_extract(e.data,"
    " '$.title') from visitor_events e join visitors v on v.id = e.visitor_id order by e.id"
)


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (make test does)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_site(browser, site: str, consent: str = "", init: str = ""):
    context = browser.new_context()
    if init:
        context.add_init_script(init)
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/track") else None)
    page.goto(f"{site}/preise" + ("?consent=wait" if consent else ""))
    page.wait_for_function("window.nurture !== undefined")
    return context, page, sent


def test_a_site_with_the_snippet_sends_page_views_that_join_the_lead(
    server, site, chromium
) -> None:
    base, db = server
    context, page, _ = open_site(chromium, site)
    page.evaluate("nurture.track('Pricing Viewed', {plan: 'team'})")
    found = wait_rows(db, WAITING, 2)
    aid = context.cookies(site)[0]
    assert aid["name"] == "nurture_aid" and len(aid["value"]) == 32
    assert found == [
        (aid["value"], "page", f"{site}/preise", "Preise"),
        (aid["value"], "custom.pricing_viewed", None, None),
    ]
    # The hosted landing page: its page view, then the form with the browser's id.
    landing = context.new_page()
    landing.goto(f"{base}/f/leitfaden")
    landing.wait_for_function(
        "document.querySelector('input[name=anonymous_id]').value.length == 32"
    )
    own = landing.eval_on_selector("input[name=anonymous_id]", "e => e.value")
    wait_rows(db, WAITING, 3)
    landing.fill("#f-first_name", "Erika")
    landing.fill("#f-email", "erika@example.org")
    landing.check("input[name=consent]")
    landing.click("button[type=submit]")
    landing.wait_for_url(f"{base}/f/leitfaden/thanks")
    lead_pages = rows(
        db,
        "select json_extract(e.data, '$.url') from events e join leads l on l.id = e.lead_id"
        " where l.email = 'erika@example.org' and e.type = 'page'",
    )
    assert lead_pages == [(f"{base}/f/leitfaden",)]
    assert rows(db, "select anonymous_id from visitors where lead_id is not null") == [(own,)]
    assert len(rows(db, WAITING)) == 2  # the other site's browser id is still anonymous
    context.close()


def test_do_not_track_and_gpc_send_nothing(server, site, chromium) -> None:
    db = server[1]
    for init in (
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
    ):
        context, page, sent = open_site(chromium, site, init=init)
        page.evaluate("nurture.track('Pricing Viewed')")
        page.wait_for_timeout(1000)
        assert sent == [] and context.cookies(site) == []
        context.close()
    assert rows(db, WAITING) == []


def test_with_consent_wait_nothing_is_sent_before_the_sites_signal(server, site, chromium) -> None:
    db = server[1]
    context, page, sent = open_site(chromium, site, consent="wait")
    page.evaluate("nurture.track('Pricing Viewed')")  # kept in the page until consent
    page.wait_for_timeout(1000)
    assert sent == [] and context.cookies(site) == [] and rows(db, WAITING) == []
    page.evaluate("nurture.consent()")
    found = wait_rows(db, WAITING, 2)
    assert [f[1] for f in found] == ["page", "custom.pricing_viewed"]
    assert context.cookies(site)[0]["name"] == "nurture_aid"
    context.close()
