"""What /preview/ shows: the sequences; a sequence's emails, every step × locale × variant with
its subject, text, HTML and the date it goes out for a sample start; each email's HTML alone
under a policy that runs nothing; 404s that say what there is; a failing template as an
error on its email only. From this machine (the ASGI client is 127.0.0.1, the Host
localhost:8000)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from nurture.app import create_app
from nurture.config.project import load_project
from nurture.policy.preview import plan_with_policy
from nurture.settings import Settings
from tests.preview.project import GREETING, OFFER, trilingual

BERLIN = ZoneInfo("Europe/Berlin")
EMAIL = re.compile(
    r'<article class="card email( error)?" data-step="([^"]+)" data-locale="([^"]+)" '
    r'data-variant="([^"]*)">(.*?)</article>',
    re.S,
)


@pytest.fixture
async def client(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(trilingual(settings, tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as c:
        yield c


def emails(page: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """Each email card: (step, locale, variant) -> subject, text, html (the iframe's srcdoc
    as the browser reads it), error; in page order."""
    out: dict[tuple[str, str, str], dict[str, str]] = {}
    for error, step, locale, variant, body in EMAIL.findall(page):

        def part(pattern: str, body: str = body) -> str:
            found = re.search(pattern, body, re.S)
            return unescape(found[1]) if found else ""

        out[(step, locale, variant)] = {
            "subject": part(r'<div class="subject"[^>]*>(.*?)</div>'),
            "text": part(r'<pre class="text"[^>]*>(.*?)</pre>'),
            "html": part(r'<iframe class="html" sandbox [^>]*srcdoc="([^"]*)"'),
            "error": part(r'<pre class="message">(.*?)</pre>') if error else "",
        }
    return out


def when(page: str, step: str) -> str:
    """A step's line on when it goes out, as read (no tags, one space)."""
    section = page.partition(f'<section class="step" id="step-{step}">')[2]
    line = re.search(r'<p class="when">(.*?)</p>', section, re.S)[1]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", line)))


async def test_the_index_lists_every_sequence(client: httpx.AsyncClient) -> None:
    response = await client.get("/preview/")
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert '<html lang="en">' in response.text
    rows = re.findall(
        r'<tr>\s*<td><a href="/preview/([^"]+)">[^<]+</a></td>\s*<td>([^<]+).*?'
        r"<td>([^<]*)</td>\s*<td>(\d+)</td>\s*<td>(\d+)</td>",
        response.text,
        re.S,
    )
    assert rows == [
        ("b2b-nurture", "Test-Nurture", "de", "7", "7"),
        ("b2b-recycle", "Test-Recycling", "de", "6", "6"),
        # hello and broken once per locale, offer twice (two variants): 4 × 3
        ("trilingual", "Three languages", "de, sv, en", "3", "12"),
    ]
    assert (await client.get("/preview", follow_redirects=True)).url.path == "/preview/"


async def test_every_step_locale_and_variant_with_its_subject_text_and_html(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/preview/trilingual", params={"start": "2026-12-07T10:00"})
    assert response.status_code == 200
    assert '<html lang="en">' in response.text
    found = emails(response.text)
    assert list(found) == [
        ("hello", "de", ""),
        ("hello", "sv", ""),
        ("hello", "en", ""),
        ("offer", "de", "a"),
        ("offer", "de", "b"),
        ("offer", "sv", "a"),
        ("offer", "sv", "b"),
        ("offer", "en", "a"),
        ("offer", "en", "b"),
        ("broken", "de", ""),
        ("broken", "sv", ""),
        ("broken", "en", ""),
    ]
    for locale, hello in GREETING.items():
        email = found[("hello", locale, "")]
        assert email["subject"] == f"{hello} Max"  # the sample lead of `nurture preview`
        assert email["text"] == f"{hello} Max,\ntri-{locale}\n"
        # the HTML as sent: the project's style.css inlined
        assert f'<html lang="{locale}">' in email["html"]
        assert f'<p style="margin: 0 0 16px 0;">{hello} Max,</p>' in email["html"]
        assert found[("offer", locale, "a")]["text"] == f"{OFFER[locale]}\n"
        control, other = found[("offer", locale, "a")], found[("offer", locale, "b")]
        assert other["subject"] == f"{control['subject']} B"
    assert "variant a · weight 3" in response.text and "variant b · weight 1" in response.text
    # Monday 10:00 in the sample lead's zone; offer 2 days later, broken 1 day after that
    assert "enrolled <strong>Mon 2026-12-07 10:00</strong>" in response.text
    assert "timezone <strong>Europe/Berlin</strong>" in response.text
    assert when(response.text, "hello").startswith("Goes out Mon 2026-12-07 10:00 (Europe/Berlin)")
    assert when(response.text, "offer").startswith("Goes out Wed 2026-12-09 10:00")
    assert when(response.text, "broken").startswith("Goes out Thu 2026-12-10 10:00")


async def test_the_dates_are_those_of_nurture_schedule(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The fixture's drip from just before Christmas: business days, the send window, a
    public holiday (the sample lead is in DE), the cap; the same as plan_with_policy (what
    `nurture schedule` prints)."""
    response = await client.get("/preview/b2b-nurture", params={"start": "2026-12-23T10:00"})
    project = load_project(settings.config_dir)
    sequence = project.sequences["b2b-nurture"]
    start = datetime(2026, 12, 23, 10, 0, tzinfo=BERLIN)
    planned = plan_with_policy(project.policy, [sequence], start, "Europe/Berlin", "DE")
    assert len(planned) == 7
    for p in planned:
        line = when(response.text, p.step.id)
        assert line.startswith(
            f"Goes out {p.sent.astimezone(BERLIN):%a %Y-%m-%d %H:%M} (Europe/Berlin)"
        )
        if p.reasons:
            assert f"deferred from {p.due.astimezone(BERLIN):%a %Y-%m-%d %H:%M}: " in line
            assert "; ".join(p.reasons) in line
    assert when(response.text, "welcome").startswith("Goes out Wed 2026-12-23 10:00")
    # 2 business days: Friday the 25th, Christmas Day
    assert when(response.text, "problem").startswith("Goes out Mon 2026-12-28 08:30")
    assert "deferred from Fri 2026-12-25 10:00: quiet day: " in when(response.text, "problem")
    assert when(response.text, "breakup").endswith("· only if not clicked()")
    found = emails(response.text)
    assert found[("welcome", "de", "")]["subject"] == "Willkommen, Max"
    assert "Abmelden" in found[("welcome", "de", "")]["text"]


async def test_without_a_start_it_is_now(client: httpx.AsyncClient) -> None:
    before = datetime.now(BERLIN)
    response = await client.get("/preview/trilingual")
    shown = re.search(r"enrolled <strong>(.*?)</strong>", response.text)[1]
    at = datetime.strptime(shown, "%a %Y-%m-%d %H:%M").replace(tzinfo=BERLIN)
    assert before.replace(second=0, microsecond=0) <= at <= datetime.now(BERLIN)


async def test_the_sparse_sample_lead(client: httpx.AsyncClient) -> None:
    response = await client.get("/preview/b2b-nurture", params={"sample": "sparse"})
    welcome = emails(response.text)[("welcome", "de", "")]
    assert welcome["subject"] == "Willkommen"
    assert welcome["text"].startswith("Hallo zusammen,")
    html = await client.get("/preview/b2b-nurture/welcome/de.html", params={"sample": "sparse"})
    assert "Hallo zusammen," in html.text


async def test_a_failing_template_is_an_error_on_its_email_only(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/preview/trilingual")
    assert response.status_code == 200
    found = emails(response.text)
    broken = found[("broken", "sv", "")]
    assert broken["subject"] == "" and broken["html"] == ""
    assert broken["error"].startswith("UndefinedError: ")
    assert "nothing" in broken["error"]
    assert broken["error"].endswith("(tri/broken.sv.html.j2, line 1)")  # not the full path
    syntax = found[("broken", "en", "")]["error"]
    assert syntax.startswith("TemplateSyntaxError: ")
    assert syntax.endswith("(tri/broken.en.txt.j2, line 2)")
    assert [k for k, e in found.items() if e["error"]] == [
        ("broken", "sv", ""),
        ("broken", "en", ""),
    ]
    assert found[("broken", "de", "")]["text"] == "ok\n"
    assert found[("hello", "en", "")]["subject"] == "Hi Max"  # the rest of the page is there
    alone = await client.get("/preview/trilingual/broken/sv.html")
    assert alone.status_code == 500
    assert "tri/broken.sv.html.j2, line 1" in alone.text


async def test_one_email_alone_under_a_policy_that_runs_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/preview/trilingual/offer/sv/b.html")
    assert response.status_code == 200
    assert '<p style="margin: 0 0 16px 0;">Vårt erbjudande</p>' in response.text
    # sandbox: an opaque origin with no script, forms or popups; it submits nowhere, and
    # only the preview itself may frame it
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'self'; sandbox"
    )
    assert response.headers["content-language"] == "sv"
    assert response.headers["x-content-type-options"] == "nosniff"
    page = await client.get("/preview/trilingual")
    assert 'href="/preview/trilingual/offer/sv/b.html?sample=full"' in page.text
    assert 'href="/preview/trilingual/hello/en.html?sample=full"' in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "<script" not in page.text


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/preview/nope", "no sequence 'nope'; there are: b2b-nurture, b2b-recycle, trilingual"),
        ("/preview/trilingual/nope/de.html", "no step 'nope' in trilingual; there are: hello,"),
        ("/preview/trilingual/hello/fr.html", "trilingual is not written in 'fr'"),
        ("/preview/trilingual/offer/de.html", "no variant None in step offer; variants: a, b"),
        ("/preview/trilingual/offer/de/c.html", "no variant 'c' in step offer; variants: a, b"),
        ("/preview/trilingual/hello/de/a.html", "no variant 'a' in step hello; variants: none"),
        ("/preview/trilingual?sample=vip", "no sample lead 'vip'; there are: full, sparse"),
    ],
)
async def test_what_is_not_there_is_a_404_that_says_what_is(
    client: httpx.AsyncClient, path: str, says: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert says in unescape(response.text)


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("next monday", "cannot read start 'next monday'; use ISO 8601"),
        ("0001-01-01T00:00", "cannot read start '0001-01-01T00:00'"),  # before UTC's year 1
        ("9999-12-31", "start '9999-12-31' is more than 10 years from today"),
        ("2000-01-01", "start '2000-01-01' is more than 10 years from today"),
    ],
)
async def test_a_start_that_is_no_date_or_too_far_off(
    client: httpx.AsyncClient, start: str, says: str
) -> None:
    response = await client.get("/preview/trilingual", params={"start": start})
    assert response.status_code == 400
    assert says in unescape(response.text)


async def test_a_config_that_does_not_load_is_a_page_with_its_problems(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert (await client.get("/preview/")).status_code == 200
    path = tmp_path / "config" / "sequences" / "trilingual.yaml"
    path.write_text(path.read_text().replace("delay: 2d", "delay: zwei Tage"))
    for url in ("/preview/", "/preview/trilingual", "/preview/trilingual/hello/de.html"):
        # The server looks at the files at most once a second (and in between a failed
        # look keeps the last project that loaded: config/project.py).
        await asyncio.sleep(1.05)
        response = await client.get(url)
        assert response.status_code == 500, (url, response.text[-600:])
        assert "The config does not load" in response.text
        assert "trilingual.yaml" in response.text and "cannot read delay" in unescape(response.text)
