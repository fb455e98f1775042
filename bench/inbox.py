"""Inbox benchmark: the ingest-inbox pass over 10k messages in a Maildir, on SQLite and
PostgreSQL.

    python bench/inbox.py [--messages 10000] [--leads 2000] [--db sqlite|postgresql|both]
                          [--json]

The mix is an inbox's after a campaign: people's replies (quoted original, signature, some
HTML-only, a third matched only by the sender's address), out-of-office answers (headers and
subjects in German, English, Swedish), RFC 3464 bounces (hard and soft), qmail bounces
(flufl.bounce's heuristics) and ARF complaints. Timed: the whole pass as `nurture tick` runs
it (list, read, classify, record in batches, mark processed, forward the replies to a memory
transport). Baseline measured in the same run: a bare parse of the same files
(`email.message_from_bytes` of each file's bytes), the least any reader of the folder does.
Prints seconds, messages/s and the ratio to the baseline (target: 10k in under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bulkload import write_results  # noqa: E402
from capture import fresh_db  # noqa: E402

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONFIG = Path(os.environ.get("NURTURE_CONFIG_DIR", ROOT / "config"))

WORDS = [
    "gerne",
    "bitte",
    "Angebot",
    "Termin",
    "nächste",
    "Woche",
    "Rückruf",
    "Preise",
    "Demo",
    "Team",
    "Projekt",
    "Planung",
    "Ressourcen",
    "interessant",
    "Frage",
    "Budget",
    "Lizenz",
    "Kollegen",
    "Einführung",
    "call",
    "pricing",
    "thanks",
]
OOF = [
    ("Auto-Submitted: auto-replied", "Automatische Antwort: Willkommen"),
    ("X-Autoreply: yes", "Abwesenheitsnotiz: Willkommen"),
    ("", "Out of Office: Willkommen"),
    ("Precedence: auto_reply", "Autosvar: Willkommen"),
    ("", "=?utf-8?b?RnLDpW52YXJvOiBXaWxsa29tbWVu?="),
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def reply(rng: random.Random, i: int, sender: str, ours: str | None) -> bytes:
    thread = f"In-Reply-To: {ours}\r\nReferences: {ours}\r\n" if ours else ""
    body = "\r\n\r\n".join(_sentence(rng, rng.randint(6, 30)) for _ in range(rng.randint(1, 4)))
    quoted = "\r\n".join("> " + _sentence(rng, 12) for _ in range(rng.randint(5, 40)))
    head = (
        f"From: Max Muster <{sender}>\r\nTo: Lena Vogt <lena.vogt@planwerk.example>\r\n"
        f"Subject: Re: Willkommen\r\nDate: Tue, 24 Nov 2026 10:00:00 +0100\r\n"
        f"Message-ID: <{i}.r@mail.example.net>\r\n{thread}MIME-Version: 1.0\r\n"
    )
    text = (
        f"{body}\r\n\r\nMit freundlichen Grüßen\r\nMax Muster\r\n-- \r\nMuster AG\r\n\r\n"
        f"Am 23.11.2026 um 09:00 schrieb Lena Vogt:\r\n{quoted}\r\n"
    )
    if i % 5 == 0:  # an HTML-only client
        html = text.replace("\r\n", "<br>\r\n")
        return (
            head + "Content-Type: text/html; charset=utf-8\r\n\r\n" + f"<div>{html}</div>"
        ).encode()
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()


def auto_reply(rng: random.Random, i: int, sender: str, ours: str) -> bytes:
    header, subject = rng.choice(OOF)
    extra = f"{header}\r\n" if header else ""
    return (
        f"From: <{sender}>\r\nTo: lena.vogt@planwerk.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{i}.a@mail.example.net>\r\nIn-Reply-To: {ours}\r\n{extra}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Ich bin bis 8.12. nicht im Büro und lese keine E-Mails.\r\n"
    ).encode()


def dsn(i: int, recipient: str, ours: str, status: str) -> bytes:
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.planwerk.example\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{i}.d@mx>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: lena.vogt@planwerk.example\r\nTo: {recipient}\r\nMessage-ID: {ours}\r\n\r\n"
        "--B--\r\n"
    ).encode()


def qmail(i: int, recipient: str, ours: str) -> bytes:
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.example.com\r\nSubject: failure notice\r\n"
        f"Message-ID: <{i}.q@mail.example.com>\r\n\r\n"
        "Hi. This is the qmail-send program at mail.example.com.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n"
        f"<{recipient}>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        f"From: lena.vogt@planwerk.example\r\nTo: {recipient}\r\nMessage-ID: {ours}\r\n\r\nHi\r\n"
    ).encode()


def arf(i: int, recipient: str, ours: str) -> bytes:
    return (
        "From: fbl@isp.example\r\nSubject: complaint\r\n"
        f"Message-ID: <{i}.f@isp.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="P"\r\n\r\n'
        "--P\r\nContent-Type: text/plain\r\n\r\nAn abuse report.\r\n"
        "--P\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        f"Version: 1\r\nOriginal-Rcpt-To: <{recipient}>\r\n\r\n"
        "--P\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: lena.vogt@planwerk.example\r\nTo: {recipient}\r\nMessage-ID: {ours}\r\n\r\nHi\r\n"
        "--P--\r\n"
    ).encode()


def write_maildir(folder: Path, n: int, sends: list[tuple[str, str]], seed: int = 13) -> dict:
    """``n`` messages about ``sends`` ((address, our Message-ID)) into folder/new/."""
    rng = random.Random(seed)
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    mix: dict[str, int] = {}
    for i in range(n):
        address, ours = rng.choice(sends)
        roll = rng.random()
        if roll < 0.50:
            kind, raw = "reply", reply(rng, i, address, ours if rng.random() < 0.67 else None)
        elif roll < 0.75:
            kind, raw = "auto-reply", auto_reply(rng, i, address, ours)
        elif roll < 0.85:
            kind, raw = "dsn hard", dsn(i, address, ours, "5.1.1")
        elif roll < 0.92:
            kind, raw = "dsn soft", dsn(i, address, ours, "4.2.2")
        elif roll < 0.97:
            kind, raw = "qmail bounce", qmail(i, address, ours)
        else:
            kind, raw = "arf", arf(i, address, ours)
        mix[kind] = mix.get(kind, 0) + 1
        (folder / "new" / f"1764666000.M{i}P1.bench").write_bytes(raw)
    return mix


def bare_parse(folder: Path) -> float:
    start = time.perf_counter()
    for sub in ("new", "cur"):
        for path in (folder / sub).iterdir():
            email.message_from_bytes(path.read_bytes(), policy=compat32)
    return time.perf_counter() - start


async def prepare(url: str, leads: int) -> list[tuple[str, str]]:
    """``leads`` leads enrolled through the services, their first touch marked sent with a
    Message-ID (what the dispatcher writes), returned as (address, Message-ID)."""
    from sqlalchemy import select, update

    from nurture import migrate
    from nurture.config.project import load_project
    from nurture.db import session_scope
    from nurture.leads.service import upsert_leads
    from nurture.ledger.enrollment import enrol_many
    from nurture.ledger.models import Touch, TouchState

    await migrate.upgrade(url)
    project = load_project(CONFIG)
    sequence = project.sequences["b2b-nurture"]
    async with session_scope(url) as session:
        for start in range(0, leads, 500):
            emails = [f"lead{i}@firma{i % 97}.de" for i in range(start, min(leads, start + 500))]
            rows = await upsert_leads(
                session, [(e, {"first_name": "Max"}, NOW, None) for e in emails]
            )
            await enrol_many(
                session, project.versions, [(lead, [sequence], False, NOW) for lead, _ in rows]
            )
    async with session_scope(url) as session:
        ids = list((await session.scalars(select(Touch.id))).all())
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            await session.execute(
                update(Touch)
                .where(Touch.id.in_(part))
                .values(
                    state=TouchState.SENT,
                    sent_at=NOW,
                    message_id="<bench."
                    + Touch.id.cast(type_=Touch.message_id.type)
                    + "@planwerk.example>",
                )
            )
    from nurture.leads.models import Lead

    async with session_scope(url) as session:
        rows = await session.execute(
            select(Lead.email, Touch.message_id).join(Touch, Touch.lead_id == Lead.id)
        )
        return [(r.email, r.message_id) for r in rows]


def run(kind: str, messages: int, leads: int) -> dict:
    from pydantic import SecretStr

    from nurture.db import dispose_engines
    from nurture.inbox.run import build_context, run_inbox_pass
    from nurture.settings import Settings

    with tempfile.TemporaryDirectory(prefix="nurture-bench-inbox-") as tmp:
        folder = Path(tmp)
        url = Settings(database_url=fresh_db(kind, folder)).database_url.get_secret_value()

        async def setup() -> list[tuple[str, str]]:
            try:
                return await prepare(url, leads)
            finally:
                await dispose_engines()

        sends = asyncio.run(setup())
        maildir = folder / "Maildir"
        mix = write_maildir(maildir, messages, sends)
        bare_parse(maildir)  # the page cache warm for both
        baseline = bare_parse(maildir)
        settings = Settings(
            database_url=SecretStr(url),
            mail_url=SecretStr("memory://bench"),
            config_dir=CONFIG,
            templates_dir=ROOT / "templates",
            var_dir=folder / "var",
            inbox_url=SecretStr(f"maildir://{maildir}"),
        )

        async def ingest():
            try:
                start = time.perf_counter()
                report = await run_inbox_pass(build_context(settings), NOW + timedelta(days=1))
                return report, time.perf_counter() - start
            finally:
                await dispose_engines()

        report, seconds = asyncio.run(ingest())
    assert report.read == messages, report
    result = {
        "db": kind,
        "messages": messages,
        "mix": mix,
        "ingest_seconds": round(seconds, 2),
        "ingest_per_second": round(messages / seconds),
        "bare_parse_seconds": round(baseline, 2),
        "ratio_to_bare_parse": round(seconds / baseline, 1),
        "counts": {k: v for k, v in report.as_dict().items() if v},
    }
    print(
        f"{kind:10} ingest {messages} messages: {seconds:6.2f} s ({messages / seconds:,.0f}/s); "
        f"bare email parse {baseline:5.2f} s; ratio {seconds / baseline:.1f}x"
    )
    print(f"{'':10} {report.summary()}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=2_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="write bench/results/inbox.json")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs = [run(kind, args.messages, args.leads) for kind in kinds]
    if args.json:
        write_results(ROOT / "bench/results/inbox.json", runs)


if __name__ == "__main__":
    main()
