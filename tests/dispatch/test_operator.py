"""What an operator does with a touch in doubt (docs/delivery.md): list it, record it as sent
(the drip goes on, the funnel counts it) or resend it (due now, sent once by the next pass).
Touches are put in doubt directly, so each outcome is tested every time. SQLite and
PostgreSQL; the `nurture sends` commands as a user runs them (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from nurture.config.project import load_project
from nurture.db import session_scope, utcnow
from nurture.dispatch.operator import list_in_doubt, release_in_doubt
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Enrollment, Touch
from nurture.mail.transports import MemoryTransport
from nurture.sequences.schedule import due_at
from tests.factories import enrolled_leads
from tests.faults.conftest import dispatcher_env

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DECIDED = MONDAY + timedelta(hours=3)  # when the operator releases them


async def in_doubt(settings, emails: list[str]) -> dict[str, int]:
    """Put these leads' welcome touches in doubt, as a dispatcher that died mid-send leaves
    them; returns their touch ids by address."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = dict(
            (
                await session.execute(
                    select(Lead.email, Touch.id)
                    .join(Touch, Touch.lead_id == Lead.id)
                    .where(Lead.email.in_(emails))
                )
            ).all()
        )
        for email, touch_id in ids.items():
            await session.execute(
                update(Touch)
                .where(Touch.id == touch_id)
                .values(
                    state="in_doubt",
                    claimed_by="dead-dispatcher",
                    attempts=0,
                    lease_until=MONDAY + timedelta(seconds=30),
                    updated_at=MONDAY,
                    reason="dispatcher lost during SMTP hand-off",
                    message_id=f"<{email}@planwerk.example>",
                )
            )
    return ids


async def touch(settings, touch_id: int) -> Touch:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await session.get(Touch, touch_id)


async def events_of(settings, email: str) -> list[tuple[str, str | None, dict]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Event.type, Event.step_id, Event.data)
            .join(Lead, Lead.id == Event.lead_id)
            .where(Lead.email == email, Event.type.in_(("sent", "released")))
            .order_by(Event.id)
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


def outbox(settings) -> list:
    return MemoryTransport.outboxes.setdefault(
        settings.mail_url.get_secret_value().split("://")[1], []
    )


async def release(settings, ids: list[int] | None, as_sent: bool) -> int:
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await release_in_doubt(session, ids, as_sent, project, DECIDED)


async def test_touches_in_doubt_are_listed_oldest_first_with_what_the_operator_needs(settings):
    emails = await enrolled_leads(settings, 3, MONDAY)
    ids = await in_doubt(settings, emails[:2])
    async with session_scope(settings.database_url.get_secret_value()) as session:
        listed = await list_in_doubt(session)
        assert len(await list_in_doubt(session, limit=1)) == 1
    assert [(r.id, r.email, r.sequence_id, r.step_id, r.since, r.message_id) for r in listed] == [
        (ids[e], e, "b2b-nurture", "welcome", MONDAY, f"<{e}@planwerk.example>")
        for e in sorted(emails[:2], key=ids.get)
    ]
    assert {r.reason for r in listed} == {"dispatcher lost during SMTP hand-off"}


async def test_release_as_sent_moves_the_drip_on_and_counts_the_send(settings):
    [email] = await enrolled_leads(settings, 1, MONDAY)
    [touch_id] = (await in_doubt(settings, [email])).values()
    assert await release(settings, [touch_id], as_sent=True) == 1
    released = await touch(settings, touch_id)
    assert (released.state, released.sent_at, released.reason) == (
        "sent",
        DECIDED,
        "released as sent",
    )
    # The next step is scheduled as after a send at that moment.
    sequence = load_project(settings.config_dir).sequences["b2b-nurture"]
    expected = due_at(DECIDED, sequence.steps[1], sequence.send_window, "Europe/Berlin")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        enrollment = await session.scalar(select(Enrollment))
        nxt = await session.scalar(select(Touch).where(Touch.step_id == "problem"))
    assert (nxt.state, nxt.due_at) == ("scheduled", expected)
    assert (enrollment.current_step, enrollment.next_due_at) == (1, expected)
    assert await events_of(settings, email) == [
        (
            "sent",
            "welcome",
            {"message_id": f"<{email}@planwerk.example>", "released_as_sent": True},
        ),
        ("released", "welcome", {"as_sent": True}),
    ]
    # Nothing is sent again; the drip goes on with the next step when it is due.
    assert (await run_pass(build_dispatcher(settings), DECIDED)).claimed == 0
    later = await run_pass(build_dispatcher(settings), expected)
    assert later.total("sent") == 1 and [m.recipient for m in outbox(settings)] == [email]
    assert await release(settings, [touch_id], as_sent=True) == 0  # decided already


async def test_release_for_resend_makes_it_due_now_and_the_next_pass_sends_it_once(settings):
    [email] = await enrolled_leads(settings, 1, MONDAY)
    [touch_id] = (await in_doubt(settings, [email])).values()
    assert await release(settings, [touch_id], as_sent=False) == 1
    released = await touch(settings, touch_id)
    assert (
        released.state,
        released.due_at,
        released.claimed_by,
        released.lease_until,
        released.reason,
    ) == ("scheduled", DECIDED, None, None, "released for resend")
    assert await events_of(settings, email) == [("released", "welcome", {"as_sent": False})]
    assert (await run_pass(build_dispatcher(settings), DECIDED - timedelta(minutes=1))).claimed == 0
    first = await run_pass(build_dispatcher(settings), DECIDED)
    again = await run_pass(build_dispatcher(settings), DECIDED + timedelta(minutes=1))
    assert (first.total("sent"), again.claimed) == (1, 0)
    assert [m.recipient for m in outbox(settings)] == [email]
    sent = await touch(settings, touch_id)
    assert sent.state == "sent" and sent.message_id == outbox(settings)[0].message_id
    assert [e[0] for e in await events_of(settings, email)] == ["released", "sent"]


async def test_release_takes_the_ids_given_or_all_and_nothing_else(settings):
    emails = await enrolled_leads(settings, 4, MONDAY)
    ids = await in_doubt(settings, emails[:3])
    scheduled = emails[3]
    async with session_scope(settings.database_url.get_secret_value()) as session:
        other = await session.scalar(
            select(Touch.id).join(Lead, Lead.id == Touch.lead_id).where(Lead.email == scheduled)
        )
    # A touch that is not in doubt is not the operator's to release, even by id.
    assert await release(settings, [ids[emails[0]], other], as_sent=False) == 1
    assert (await touch(settings, other)).reason is None
    assert await release(settings, None, as_sent=True) == 2
    assert {(await touch(settings, i)).state for i in ids.values()} == {"scheduled", "sent"}
    assert await release(settings, None, as_sent=True) == 0


def nurture(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nurture", "sends", *args],
        env=dispatcher_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


# The commands only call the functions above (tested on both databases): once is enough.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_sends_commands_list_and_release_both_ways(settings):
    emails = await enrolled_leads(settings, 3, MONDAY)
    ids = await in_doubt(settings, emails)
    listing = nurture(settings, "in-doubt")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[-1] == "3 touch(es) in doubt"
    assert all(f"<{e}@planwerk.example>" in listing.stdout for e in emails)
    as_sent = nurture(settings, "release", str(ids[emails[0]]), "--as-sent")
    assert as_sent.stdout.strip() == "released 1 touch(es) as sent", as_sent.stderr
    resend = nurture(settings, "release", "--all", "--resend")
    assert resend.stdout.strip() == "released 2 touch(es) for resending", resend.stderr
    states = {e: (await touch(settings, ids[e])).state for e in emails}
    assert states == {emails[0]: "sent", emails[1]: "scheduled", emails[2]: "scheduled"}
    # The command releases at the wall clock's now: the two resent are due by then.
    report = await run_pass(build_dispatcher(settings), utcnow())
    assert report.total("sent") == 2  # the one recorded as sent is not sent again
    assert sorted(m.recipient for m in outbox(settings)) == sorted(emails[1:])
