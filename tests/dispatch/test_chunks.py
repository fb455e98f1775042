"""The chunk pipeline's one rule (docs/delivery.md): recording chunk k and marking chunk k+1
'sending' share one transaction, so at most one chunk is 'sending' with its replies
unrecorded, and a failed recording leaves the next chunk claimed. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from nurture.dispatch import record
from nurture.dispatch.batch import dispatch_batch
from nurture.dispatch.run import build_dispatcher
from nurture.mail.message import OutgoingMessage
from nurture.mail.transports import MemoryTransport, SendResult, Transport
from tests.factories import enrolled_leads, touch_states

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class SteppedTransport(Transport):
    """Holds each chunk until the test lets it through."""

    def __init__(self) -> None:
        self.inner = MemoryTransport(f"stepped-{id(self)}")
        self.arrivals: asyncio.Queue[tuple[list[OutgoingMessage], asyncio.Event]] = asyncio.Queue()

    async def send(self, batch: list[OutgoingMessage]) -> list[SendResult]:
        go = asyncio.Event()
        await self.arrivals.put((batch, go))
        await go.wait()
        return await self.inner.send(batch)


async def test_while_a_chunk_is_on_the_wire_the_earlier_are_recorded_the_later_claimed(
    settings,
):
    await enrolled_leads(settings, 7, MONDAY)
    transport = SteppedTransport()
    d = dataclasses.replace(build_dispatcher(settings, transport=transport), chunk_size=3)
    batch = asyncio.create_task(dispatch_batch(d, MONDAY))
    seen = []
    for _ in range(3):
        messages, go = await asyncio.wait_for(transport.arrivals.get(), 30)
        seen.append((len(messages), await touch_states(settings)))
        go.set()
    report = await batch
    # A sent touch's next step is scheduled in the same transaction that records it.
    assert seen == [
        (3, {"sending": 3, "claimed": 4}),
        (3, {"sent": 3, "scheduled": 3, "sending": 3, "claimed": 1}),
        (1, {"sent": 6, "scheduled": 6, "sending": 1}),
    ]
    assert report.total("sent") == 7
    assert await touch_states(settings) == {"sent": 7, "scheduled": 7}


async def test_a_recording_that_fails_leaves_the_next_chunk_claimed(settings, monkeypatch):
    await enrolled_leads(settings, 7, MONDAY)
    transport = MemoryTransport(f"fails-to-record-{uuid.uuid4().hex}")
    d = dataclasses.replace(build_dispatcher(settings, transport=transport), chunk_size=3)

    async def lost(session, rows):  # type: ignore[no-untyped-def]
        raise ConnectionError("database went away")

    monkeypatch.setattr(record, "record_events", lost)
    with pytest.raises(ConnectionError):
        await dispatch_batch(d, MONDAY)
    # Chunk 1 was handed over and is not recorded: in doubt once its lease runs out. The
    # marking of chunk 2 rolled back with the recording: claimed, never handed over.
    assert await touch_states(settings) == {"sending": 3, "claimed": 4}
    assert len(transport.outbox) == 3
