"""Inbox fixtures: a Maildir folder, leads who got the drip's first mail (sends with our
Message-IDs), and a real dovecot for the IMAP tests (started once a session)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.ledger.models import Touch
from tests.factories import enrolled_leads
from tests.inbox.dovecot import Dovecot, start_dovecot

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
_names = itertools.count()


@dataclass(frozen=True)
class Sent:
    email: str
    lead_id: int
    touch_id: int
    message_id: str  # as in the header, with <>
    step_id: str


def make_maildir(path: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(maildir: Path, *messages: bytes) -> list[str]:
    """Deliver as an MTA does: written in tmp/, renamed into new/."""
    names = []
    for raw in messages:
        name = f"1764666000.M{next(_names)}P1.test"
        (maildir / "tmp" / name).write_bytes(raw)
        (maildir / "tmp" / name).rename(maildir / "new" / name)
        names.append(name)
    return names


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return make_maildir(tmp_path / "Maildir")


async def send_welcome(settings, n: int = 3, **fields) -> list[Sent]:
    """``n`` leads enrolled and sent the drip's first step (memory transport)."""
    emails = await enrolled_leads(settings, n, MONDAY, **fields)
    await run_pass(build_dispatcher(settings), MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Touch.lead_id, Touch.id, Touch.message_id, Touch.step_id)
            .where(Touch.message_id.is_not(None))
            .order_by(Touch.lead_id)
        )
        sent = [
            Sent(emails[i], r.lead_id, r.id, r.message_id, r.step_id) for i, r in enumerate(rows)
        ]
    assert len(sent) == n
    return sent


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    yield server
    server.stop()


@pytest.fixture
def imap(dovecot: Dovecot) -> Iterator[Dovecot]:
    dovecot.clear()
    yield dovecot
    dovecot.clear()
