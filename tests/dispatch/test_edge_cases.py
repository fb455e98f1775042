"""The send path's edge cases a review found: sequences edited while leads are under way,
passes longer than the lease, replies for touches moved on meanwhile, leads suppressed during
a batch, and templates failing with any kind of error. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from nurture.config.project import Project, load_project
from nurture.db import session_scope
from nurture.dispatch.batch import DispatchFailed, dispatch_batch
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Lead
from nurture.ledger.models import Enrollment, Touch, TouchState
from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import MemoryTransport, SendResult, Transport
from nurture.rights.forget import forget_lead
from tests.factories import enrolled_leads, touch_states

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = MONDAY + timedelta(days=30)  # every step of the example sequence due by then


def with_steps(project: Project, order: list[str]) -> Project:
    """The project with b2b-nurture's steps replaced by ``order`` (ids)."""
    sequence = project.sequences["b2b-nurture"]
    steps = {s.id: s for s in sequence.steps}
    edited = sequence.model_copy(update={"steps": [steps[i] for i in order]})
    return dataclasses.replace(project, sequences={**project.sequences, "b2b-nurture": edited})


async def steps_of(settings, email: str) -> dict[str, str]:
    """step id -> state of every touch of one lead."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Touch.step_id, Touch.state)
            .join(Lead, Lead.id == Touch.lead_id)
            .where(Lead.email == email)
        )
        return dict(rows.all())  # type: ignore[arg-type]


async def enrollment_of(settings, email: str) -> Enrollment:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await session.scalar(
            select(Enrollment).join(Lead, Lead.id == Enrollment.lead_id).where(Lead.email == email)
        )


async def test_swapped_steps_go_on_with_the_first_later_step_not_had(settings):
    [email] = await enrolled_leads(settings, 1, MONDAY)
    project = load_project(settings.config_dir)
    ids = [s.id for s in project.sequences["b2b-nurture"].steps]
    await run_pass(build_dispatcher(settings, project), MONDAY)  # welcome sent, problem next
    # The marketer swaps the first two steps: after "problem" (now first) comes "welcome",
    # which the lead has had; the step after that is the one to schedule.
    swapped = with_steps(project, [ids[1], ids[0], *ids[2:]])
    report = await run_pass(build_dispatcher(settings, swapped), LATER, max_batches=1)
    assert report.total("sent") == 1
    states = await steps_of(settings, email)
    assert states == {ids[0]: "sent", ids[1]: "sent", ids[2]: "scheduled"}
    enrollment = await enrollment_of(settings, email)
    assert enrollment.state == "active" and enrollment.current_step == 2


async def test_removed_steps_go_on_with_the_first_step_not_had(settings):
    [email] = await enrolled_leads(settings, 1, MONDAY)
    project = load_project(settings.config_dir)
    ids = [s.id for s in project.sequences["b2b-nurture"].steps]
    await run_pass(build_dispatcher(settings, project), MONDAY)  # welcome sent, problem next
    # Both steps the lead was at are removed: it goes on with the first one it has not had,
    # not with the step now at the old position (that would skip one).
    trimmed = with_steps(project, ids[2:])
    await run_pass(build_dispatcher(settings, trimmed), LATER, max_batches=1)
    states = await steps_of(settings, email)
    assert states == {ids[0]: "sent", ids[1]: "skipped", ids[2]: "scheduled"}


async def test_a_step_moved_before_the_lead_is_not_sent_backwards(settings, smtp):
    """Forward only: a step moved ahead of where a lead is stays unsent for that lead."""
    [email] = await enrolled_leads(settings, 1, MONDAY)
    project = load_project(settings.config_dir)
    ids = [s.id for s in project.sequences["b2b-nurture"].steps]
    await run_pass(build_dispatcher(settings, project), MONDAY)
    last_first = with_steps(project, [ids[-1], *ids[:-1]])
    await run_pass(build_dispatcher(settings, last_first), LATER, max_batches=1)
    states = await steps_of(settings, email)
    assert ids[-1] not in states and states[ids[2]] == "scheduled"


class GatedTransport(Transport):
    """Holds every batch until the test opens the gate (a slow SMTP server, in effect)."""

    def __init__(self) -> None:
        # a fresh outbox name: MemoryTransport keeps outboxes by name for the process, and
        # id(self) is reused once an earlier test's transport is gone
        self.inner = MemoryTransport(f"gated-{uuid.uuid4().hex}")
        self.arrived = asyncio.Event()
        self.gate = asyncio.Event()

    async def send(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        self.arrived.set()
        await self.gate.wait()
        return await self.inner.send(batch)


async def test_a_pass_longer_than_the_lease_keeps_its_chunk_from_other_passes(settings):
    await enrolled_leads(settings, 3, MONDAY)
    transport = GatedTransport()
    slow = build_dispatcher(settings, transport=transport)
    # This pass started at MONDAY and has been running for twice the lease by now.
    slow.started -= 2 * settings.lease_seconds
    batch = asyncio.create_task(dispatch_batch(slow, MONDAY))
    await asyncio.wait_for(transport.arrived.wait(), 30)
    # A pass that starts now (its clock: MONDAY + 2 leases) must see the chunk's lease as
    # running: it was taken when the chunk was marked, not when the slow pass began.
    other = build_dispatcher(settings, transport=MemoryTransport("other"))
    report = await dispatch_batch(other, MONDAY + timedelta(seconds=2 * settings.lease_seconds))
    assert report.in_doubt_expired == 0 and report.claimed == 0
    transport.gate.set()
    assert (await batch).total("sent") == 3
    assert (await touch_states(settings))[TouchState.SENT] == 3


async def test_replies_are_recorded_only_for_touches_still_held(settings):
    emails = await enrolled_leads(settings, 3, MONDAY)
    transport = GatedTransport()
    d = build_dispatcher(settings, transport=transport)
    batch = asyncio.create_task(dispatch_batch(d, MONDAY))
    await asyncio.wait_for(transport.arrived.wait(), 30)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = dict((await session.execute(select(Lead.email, Touch.id).join(Touch))).all())
        # Another pass expired one as in doubt (the reply will settle it); an operator
        # released another for resending (it is not ours to record any more).
        await session.execute(
            update(Touch).where(Touch.id == ids[emails[0]]).values(state=TouchState.IN_DOUBT)
        )
        await session.execute(
            update(Touch)
            .where(Touch.id == ids[emails[1]])
            .values(state=TouchState.SCHEDULED, claimed_by=None)
        )
    transport.gate.set()
    report = await batch
    assert report.total("sent") == 2
    states = {e: (await steps_of(settings, e))["welcome"] for e in emails}
    assert states == {emails[0]: "sent", emails[1]: "scheduled", emails[2]: "sent"}


async def test_lead_suppressed_during_the_batch_is_not_sent(settings):
    emails = await enrolled_leads(settings, 2, MONDAY)
    transport = GatedTransport()
    d = dataclasses.replace(build_dispatcher(settings, transport=transport), chunk_size=1)
    batch = asyncio.create_task(dispatch_batch(d, MONDAY))
    await asyncio.wait_for(transport.arrived.wait(), 30)  # first chunk on the wire
    # the other unsubscribes
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(
            update(Lead)
            .where(Lead.email == emails[1])
            .values(suppressed_at=MONDAY, suppression_reason="unsubscribed")
        )
    transport.gate.set()
    report = await batch
    assert report.total("sent") == 1 and report.total("released") == 1
    assert [m.recipient for m in transport.inner.outbox] == [emails[0]]
    await run_pass(d, MONDAY)  # the next batch skips it, with the reason
    assert (await steps_of(settings, emails[1]))["welcome"] == "skipped"


async def test_a_template_failing_with_any_error_keeps_the_chunk_in_flight_recorded(settings):
    emails = await enrolled_leads(settings, 12, MONDAY)
    transport = MemoryTransport("any-error")
    d = dataclasses.replace(build_dispatcher(settings, transport=transport), chunk_size=5)
    compose = d.composer.compose

    def failing(sequence, index, lead, public_id, now, touch_id, **kw):  # type: ignore[no-untyped-def]
        if lead["email"] == emails[7]:  # in the second chunk, while the first is sent
            raise TypeError("'>' not supported between instances of 'str' and 'int'")
        return compose(sequence, index, lead, public_id, now, touch_id, **kw)

    d.composer.compose = failing  # type: ignore[method-assign]
    with pytest.raises(DispatchFailed, match="TypeError") as failed:
        await run_pass(d, MONDAY)
    assert not failed.value.fatal and failed.value.report.total("sent") == 11
    states = await touch_states(settings)
    assert states.get(TouchState.IN_DOUBT, 0) == 0
    assert states[TouchState.SENT] == 11
    assert (await steps_of(settings, emails[7]))["welcome"] == "scheduled"


async def test_one_lead_that_fails_to_render_does_not_hold_up_the_pass(settings):
    """Its touch waits for the retry delay; the pass goes on with the other batches and
    fails at its end with the reason."""
    emails = await enrolled_leads(settings, 12, MONDAY)
    d = dataclasses.replace(
        build_dispatcher(settings, transport=MemoryTransport("one-bad")), batch_size=5
    )
    compose = d.composer.compose

    def failing(sequence, index, lead, public_id, now, touch_id, **kw):  # type: ignore[no-untyped-def]
        if lead["email"] == emails[0]:  # the oldest: first in every batch if it stayed due
            raise ZeroDivisionError("division by zero")
        return compose(sequence, index, lead, public_id, now, touch_id, **kw)

    d.composer.compose = failing  # type: ignore[method-assign]
    with pytest.raises(DispatchFailed, match="ZeroDivisionError") as failed:
        await run_pass(d, MONDAY)
    report = failed.value.report
    assert report.batches == 3 and report.total("sent") == 11 and report.total("released") == 1
    async with session_scope(settings.database_url.get_secret_value()) as session:
        touch = await session.scalar(
            select(Touch).join(Lead, Lead.id == Touch.lead_id).where(Lead.email == emails[0])
        )
    assert touch.state == TouchState.SCHEDULED
    assert touch.due_at == MONDAY + timedelta(seconds=settings.retry_base_seconds)


async def test_a_lead_forgotten_while_its_touch_is_on_the_wire_keeps_no_server_reply(settings):
    """forget blanks the SMTP replies it finds; a reply recorded after it (the touch was with
    the server meanwhile) may echo the address too, and is not kept."""
    [email] = await enrolled_leads(settings, 1, MONDAY)
    transport = GatedTransport()
    d = build_dispatcher(settings, transport=transport)
    batch = asyncio.create_task(dispatch_batch(d, MONDAY))
    await asyncio.wait_for(transport.arrived.wait(), 30)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead).where(Lead.email == email))
        assert lead is not None
        await forget_lead(session, lead, settings.resolved_secret_key(), MONDAY, "cli")
    transport.gate.set()
    assert (await batch).total("sent") == 1
    async with session_scope(settings.database_url.get_secret_value()) as session:
        sent = select(Touch.smtp_code, Touch.smtp_reply).where(Touch.state == TouchState.SENT)
        [(code, reply)] = (await session.execute(sent)).all()
    assert (code, reply) == (250, None)
