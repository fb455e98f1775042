"""SMTP that stalls, PostgreSQL lost mid-pass: the pass fails visibly, nothing is marked sent
that was not, and the next pass recovers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from nurture.config.project import load_project
from nurture.db import dispose_engines, session_scope
from nurture.devdata import seed_due_touches
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Lead
from nurture.ledger.models import Touch
from tests.factories import touch_states
from tests.faults.tcp_proxy import TcpProxy

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.e2e


async def test_stalled_smtp_times_out_instead_of_hanging(settings, smtp):
    project = load_project(settings.config_dir)
    await seed_due_touches(settings.database_url.get_secret_value(), project, 3, NOW)
    smtp.handler.behaviour.stall_seconds = 3
    stalled = settings.model_copy(
        update={"mail_url": SecretStr(f"smtp://127.0.0.1:{smtp.port}?timeout=1")}
    )
    started = time.monotonic()
    report = await run_pass(build_dispatcher(stalled), NOW)
    assert time.monotonic() - started < 10
    # The server had the whole message when it stalled: it may deliver it. In doubt.
    assert report.total("in_doubt") == 3
    assert await touch_states(settings) == {"in_doubt": 3}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_postgres_lost_mid_pass_fails_visibly_and_the_next_pass_recovers(settings, smtp):
    n = 2000
    project = load_project(settings.config_dir)
    await seed_due_touches(settings.database_url.get_secret_value(), project, n, NOW)
    proxy = TcpProxy(make_url(settings.database_url.get_secret_value()).port or 5432)
    via_proxy = make_url(settings.database_url.get_secret_value()).set(
        host="127.0.0.1", port=proxy.port
    )
    flaky = settings.model_copy(
        update={
            "database_url": SecretStr(via_proxy.render_as_string(hide_password=False)),
            "mail_url": SecretStr(smtp.url),
            "dispatch_batch_size": 500,
            "dispatch_chunk_size": 50,
            "lease_seconds": 30,
        }
    )
    smtp.handler.behaviour.stall_seconds = 0.002

    def cut_when_busy() -> None:
        deadline = time.monotonic() + 60
        while len(smtp.messages) < 600 and time.monotonic() < deadline:
            time.sleep(0.005)
        proxy.cut()

    cutter = threading.Thread(target=cut_when_busy)
    cutter.start()
    # The pass fails with the database error itself: visible, not swallowed.
    with pytest.raises((DBAPIError, OSError)):
        await run_pass(build_dispatcher(flaky), NOW)
    cutter.join()
    proxy.close()
    await dispose_engines()

    received = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        sent = set(
            (
                await session.scalars(
                    select(Lead.email)
                    .join(Touch, Touch.lead_id == Lead.id)
                    .where(Touch.step_index == 1, Touch.state == "sent")
                )
            ).all()
        )
    assert sent <= set(received), "marked sent but never handed to SMTP"

    smtp.handler.behaviour.stall_seconds = 0
    recover = settings.model_copy(update={"mail_url": SecretStr(smtp.url), "lease_seconds": 30})
    # After the lease, however long the cut pass ran (leases run on the clock).
    await run_pass(build_dispatcher(recover), NOW + timedelta(seconds=120))
    received = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert max(received.values()) == 1, "a touch was sent twice"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = (await session.execute(select(Touch.state).where(Touch.step_index == 1))).scalars()
        states = Counter(rows)
    assert sum(states.values()) == n and set(states) <= {"sent", "in_doubt"}
    assert states["in_doubt"] <= 50  # at most the one chunk that was in flight
    print(f"PG cut after {len(smtp.messages)} messages: {dict(states)}")
