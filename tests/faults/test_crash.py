"""kill -9 of a dispatcher mid-pass, then another pass after the lease: no duplicates, every
touch accounted for, at most one chunk in doubt; the operator commands see and release it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.devdata import seed_due_touches
from nurture.leads.models import Lead
from nurture.ledger.models import Touch
from tests.faults.conftest import dispatcher_env, start_dispatcher

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHUNK = 50
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)", re.MULTILINE)
pytestmark = pytest.mark.e2e


async def states_of_step(settings, step_index: int) -> dict[str, int]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Touch.state, func.count())
            .where(Touch.step_index == step_index)
            .group_by(Touch.state)
        )
        return dict(rows.all())


async def test_kill_9_mid_pass_then_next_pass_after_lease(smtp_settings, smtp):
    n = 3000
    emails = await seed_due_touches(
        smtp_settings.database_url.get_secret_value(),
        load_project(smtp_settings.config_dir),
        n,
        NOW,
    )
    smtp.handler.behaviour.stall_seconds = 0.003  # slow enough to die mid-pass
    lease = {
        "NURTURE_LEASE_SECONDS": "30",
        "NURTURE_DISPATCH_CHUNK_SIZE": str(CHUNK),
        "NURTURE_DISPATCH_BATCH_SIZE": "500",
    }
    victim = start_dispatcher(smtp_settings, NOW, **lease)
    deadline = time.monotonic() + 60
    while len(smtp.messages) < 700 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = len(smtp.messages)
    assert 0 < killed_at < n, "the dispatcher must die mid-pass"

    # Before the lease runs out, another dispatcher leaves the dead one's claims alone.
    early = start_dispatcher(smtp_settings, NOW + timedelta(seconds=5), **lease)
    early.communicate(timeout=120)
    smtp.handler.behaviour.stall_seconds = 0
    # Leases run on the clock: the victim's last ones end 30 s after the moment it took them,
    # which was some seconds into its pass. Two minutes on is after the lease in any case.
    after = start_dispatcher(smtp_settings, NOW + timedelta(seconds=120), **lease)
    output = after.communicate(timeout=300)[0]
    assert after.returncode == 0, output

    received = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert max(received.values()) == 1, "a touch was sent twice"
    states = await states_of_step(smtp_settings, 1)
    assert sum(states.values()) == n
    assert set(states) <= {"sent", "in_doubt"}, states
    in_doubt = states.get("in_doubt", 0)
    assert in_doubt <= CHUNK
    print(f"kill -9 after {killed_at} messages: {states}")
    async with session_scope(smtp_settings.database_url.get_secret_value()) as session:
        rows = (
            await session.execute(
                select(
                    Lead.email, Touch.state, Touch.message_id, Touch.claimed_by, Touch.lease_until
                )
                .join(Touch, Touch.lead_id == Lead.id)
                .where(Touch.step_index == 1)
            )
        ).all()
    assert sorted(r.email for r in rows) == sorted(emails)  # every lead's touch, once
    sent = {r.email: r.message_id for r in rows if r.state == "sent"}
    assert len(sent) == n - in_doubt
    # What is recorded as sent is what arrived: the lead got the very message recorded.
    arrived = {
        rcpt: MESSAGE_ID.search(m.data)[1].decode() for m in smtp.messages for rcpt in m.rcpt_tos
    }
    assert all(arrived.get(email) == message_id for email, message_id in sent.items())
    # What is in doubt is the one chunk the killed dispatcher had on the wire: marked sending
    # in one transaction (one holder, one lease), by the victim (ids: host:pid:random).
    doubt = {(r.claimed_by, r.lease_until) for r in rows if r.state == "in_doubt"}
    assert len(doubt) == (1 if in_doubt else 0)
    assert all(f":{victim.pid}:" in holder for holder, _ in doubt)

    env = dispatcher_env(smtp_settings)
    listing = subprocess.run(
        [sys.executable, "-m", "nurture", "sends", "in-doubt"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{in_doubt} touch(es) in doubt" in listing
    if in_doubt:
        released = subprocess.run(
            [sys.executable, "-m", "nurture", "sends", "release", "--all", "--as-sent"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"released {in_doubt} touch(es) as sent" in released
        assert (await states_of_step(smtp_settings, 1)) == {"sent": n}
        assert (await states_of_step(smtp_settings, 2)).get("scheduled") == n
