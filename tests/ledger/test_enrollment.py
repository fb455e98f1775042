"""Enrolling leads in sequences and ending enrollments: set-based (the statements do not grow
with the leads), idempotent, and every end recorded. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select, update

from nurture.config.project import load_project
from nurture.db import get_engine, session_scope
from nurture.leads.models import Event, Lead
from nurture.leads.service import upsert_leads
from nurture.ledger.enrollment import (
    activate_pending,
    enrol_many,
    exit_enrollments,
    exit_matching,
)
from nurture.ledger.models import Enrollment, Touch
from tests.conftest import CONTENT

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = MONDAY + timedelta(hours=2)


@contextmanager
def statements(url: str) -> Iterator[list[str]]:
    """The SQL statements run on ``url``'s engine meanwhile."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = get_engine(url).sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def new_leads(url: str, n: int, prefix: str = "lead") -> list:
    async with session_scope(url) as session:
        rows = await upsert_leads(
            session,
            [
                (f"{prefix}{i}@firma.de", {"timezone": "Europe/Berlin"}, MONDAY, None)
                for i in range(n)
            ],
        )
    return [row for row, _ in rows]


async def enrol(url: str, leads: list, sequences: list, pending: bool = False):
    versions = load_project(CONTENT / "config").versions
    async with session_scope(url) as session:
        return await enrol_many(
            session, versions, [(lead, sequences, pending, MONDAY) for lead in leads]
        )


async def table(url: str, *columns) -> list:  # type: ignore[no-untyped-def]
    async with session_scope(url) as session:
        return sorted((await session.execute(select(*columns))).all())


async def test_enrol_many_enrols_and_schedules_every_first_touch_at_once(settings):
    project = load_project(settings.config_dir)
    both = [project.sequences["b2b-nurture"], project.sequences["b2b-recycle"]]
    leads = await new_leads(settings.database_url.get_secret_value(), 3)
    new = await enrol(settings.database_url.get_secret_value(), leads, both)
    assert new == {lead.id: ["b2b-nurture", "b2b-recycle"] for lead in leads}
    enrollments = await table(
        settings.database_url.get_secret_value(),
        Enrollment.lead_id,
        Enrollment.sequence_id,
        Enrollment.state,
        Enrollment.next_due_at,
    )
    welcome_now = MONDAY  # b2b-nurture starts at once (delay 0, outside the window too)
    recycle_due = {due for _, seq, _, due in enrollments if seq == "b2b-recycle"}
    assert {(seq, state) for _, seq, state, _ in enrollments} == {
        ("b2b-nurture", "active"),
        ("b2b-recycle", "active"),
    }
    assert len(enrollments) == 6 and len(recycle_due) == 1 and recycle_due.pop() > MONDAY
    touches = await table(
        settings.database_url.get_secret_value(),
        Touch.lead_id,
        Touch.sequence_id,
        Touch.step_id,
        Touch.state,
        Touch.due_at,
    )
    assert {(seq, step, state) for _, seq, step, state, _ in touches} == {
        ("b2b-nurture", "welcome", "scheduled"),
        ("b2b-recycle", "problem", "scheduled"),
    }
    assert len(touches) == 6
    assert {due for _, seq, _, _, due in touches if seq == "b2b-nurture"} == {welcome_now}
    # The enrollment's next due time is its first touch's.
    assert {(lead, seq, due) for lead, seq, _, due in enrollments} == {
        (lead, seq, due) for lead, seq, _, _, due in touches
    }


async def test_enrol_many_runs_the_same_statements_for_two_leads_or_forty(settings):
    sequence = load_project(settings.config_dir).sequences["b2b-nurture"]
    few = await new_leads(settings.database_url.get_secret_value(), 2, "few")
    many = await new_leads(settings.database_url.get_secret_value(), 40, "many")
    with statements(settings.database_url.get_secret_value()) as for_few:
        await enrol(settings.database_url.get_secret_value(), few, [sequence])
    with statements(settings.database_url.get_secret_value()) as for_many:
        await enrol(settings.database_url.get_secret_value(), many, [sequence])
    assert len(for_many) == len(for_few) and len(for_few) <= 8  # not one per lead


async def test_enrolling_again_changes_nothing(settings):
    sequence = load_project(settings.config_dir).sequences["b2b-nurture"]
    leads = await new_leads(settings.database_url.get_secret_value(), 2)
    await enrol(settings.database_url.get_secret_value(), leads, [sequence])
    before = await table(settings.database_url.get_secret_value(), Touch.id, Touch.due_at)
    assert await enrol(settings.database_url.get_secret_value(), leads, [sequence]) == {}
    assert await table(settings.database_url.get_secret_value(), Touch.id, Touch.due_at) == before
    async with session_scope(settings.database_url.get_secret_value()) as session:
        kinds = (await session.scalars(select(Event.type))).all()
    assert kinds == ["enrolled", "enrolled"]


async def test_pending_enrollments_wait_for_confirmation_then_start_once(settings):
    sequence = load_project(settings.config_dir).sequences["b2b-nurture"]
    [lead] = await new_leads(settings.database_url.get_secret_value(), 1)
    await enrol(settings.database_url.get_secret_value(), [lead], [sequence], pending=True)
    assert await table(
        settings.database_url.get_secret_value(), Enrollment.state, Enrollment.next_due_at
    ) == [("pending", None)]
    assert await table(settings.database_url.get_secret_value(), Touch.id) == []
    async with session_scope(settings.database_url.get_secret_value()) as session:
        [enrolled] = (await session.scalars(select(Event))).all()
        assert (enrolled.type, enrolled.data) == ("enrolled", {"pending": True})
        row = await session.get(Lead, lead.id)
        assert await activate_pending(session, row, [sequence], LATER) == ["b2b-nurture"]
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.get(Lead, lead.id)
        assert await activate_pending(session, row, [sequence], LATER) == []  # started already
    assert await table(
        settings.database_url.get_secret_value(), Enrollment.state, Enrollment.next_due_at
    ) == [("active", LATER)]
    assert await table(settings.database_url.get_secret_value(), Touch.step_id, Touch.due_at) == [
        ("welcome", LATER)
    ]


async def test_activate_pending_starts_only_the_sequences_asked_for(settings):
    project = load_project(settings.config_dir)
    nurture, recycle = project.sequences["b2b-nurture"], project.sequences["b2b-recycle"]
    [lead] = await new_leads(settings.database_url.get_secret_value(), 1)
    await enrol(settings.database_url.get_secret_value(), [lead], [nurture, recycle], pending=True)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        row = await session.get(Lead, lead.id)
        assert await activate_pending(session, row, [recycle], LATER) == ["b2b-recycle"]
    assert await table(
        settings.database_url.get_secret_value(), Enrollment.sequence_id, Enrollment.state
    ) == [
        ("b2b-nurture", "pending"),
        ("b2b-recycle", "active"),
    ]


async def test_exit_matching_skips_scheduled_touches_and_records_each_exit(settings):
    project = load_project(settings.config_dir)
    nurture, recycle = project.sequences["b2b-nurture"], project.sequences["b2b-recycle"]
    leaving, staying = await new_leads(settings.database_url.get_secret_value(), 2)
    await enrol(settings.database_url.get_secret_value(), [leaving, staying], [nurture, recycle])
    async with session_scope(settings.database_url.get_secret_value()) as session:
        # leaving's welcome went out: a sent touch is history, never skipped
        await session.execute(
            update(Touch)
            .where(Touch.lead_id == leaving.id, Touch.step_id == "welcome")
            .values(state="sent")
        )
        await session.execute(
            update(Enrollment)
            .where(Enrollment.lead_id == leaving.id, Enrollment.sequence_id == "b2b-nurture")
            .values(current_step=1)
        )
        ended = await exit_matching(session, [Enrollment.lead_id == leaving.id], "goal_mql", LATER)
    assert ended == 2
    async with session_scope(settings.database_url.get_secret_value()) as session:
        again = await exit_matching(session, [Enrollment.lead_id == leaving.id], "other", LATER)
    assert again == 0  # already ended: nothing ends twice
    rows = await table(
        settings.database_url.get_secret_value(),
        Enrollment.lead_id,
        Enrollment.sequence_id,
        Enrollment.state,
        Enrollment.exit_reason,
        Enrollment.ended_at,
        Enrollment.next_due_at,
    )
    assert [r for r in rows if r[0] == leaving.id] == [
        (leaving.id, "b2b-nurture", "exited", "goal_mql", LATER, None),
        (leaving.id, "b2b-recycle", "exited", "goal_mql", LATER, None),
    ]
    assert {r[2] for r in rows if r[0] == staying.id} == {"active"}
    touches = await table(
        settings.database_url.get_secret_value(),
        Touch.lead_id,
        Touch.step_id,
        Touch.state,
        Touch.reason,
    )
    assert [t[1:] for t in touches if t[0] == leaving.id] == sorted(
        [("welcome", "sent", None), ("problem", "skipped", "goal_mql")]
    )
    assert {t[2] for t in touches if t[0] == staying.id} == {"scheduled"}
    async with session_scope(settings.database_url.get_secret_value()) as session:
        exits = (
            await session.execute(
                select(Event.lead_id, Event.sequence_id, Event.data).where(Event.type == "exited")
            )
        ).all()
    assert sorted(exits, key=lambda e: e[1]) == [
        (leaving.id, "b2b-nurture", {"reason": "goal_mql", "after_step": 1}),
        (leaving.id, "b2b-recycle", {"reason": "goal_mql", "after_step": 0}),
    ]


async def test_exit_enrollments_ends_one_leads_live_enrollments_only(settings):
    sequence = load_project(settings.config_dir).sequences["b2b-nurture"]
    a, b, c = await new_leads(settings.database_url.get_secret_value(), 3)
    await enrol(settings.database_url.get_secret_value(), [a, b, c], [sequence])
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(
            update(Enrollment).where(Enrollment.lead_id == c.id).values(state="completed")
        )
        assert await exit_enrollments(session, a.id, "unsubscribed", LATER) == 1
        assert await exit_enrollments(session, c.id, "unsubscribed", LATER) == 0  # completed
    states = dict(
        await table(settings.database_url.get_secret_value(), Enrollment.lead_id, Enrollment.state)
    )
    assert states == {a.id: "exited", b.id: "active", c.id: "completed"}
