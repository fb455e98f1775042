"""The dispatch flow decides a due experiment in its decide-experiments task, emits the
Prefect event once, and sends only the winner after."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

from nurture.flows.dispatch import dispatch_due_touches
from nurture.settings import get_settings
from tests.experiments.project import SEQ, history, project
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.e2e


async def decided_events() -> list:
    window = EventOccurredFilter(since=MONDAY - timedelta(days=1), until=MONDAY + timedelta(days=1))
    only = EventFilter(occurred=window, event=EventNameFilter(name=["nurture.experiment.decided"]))
    async with get_client() as client:
        return (await client.read_events(filter=only, limit=50)).events


async def test_the_flow_decides_emits_once_and_sends_the_winner(
    flow_settings, smtp, tmp_path, monkeypatch
):
    s = project(flow_settings, tmp_path, winner={"after": 100})
    monkeypatch.setenv("NURTURE_CONFIG_DIR", str(s.config_dir))
    get_settings.cache_clear()
    await enrolled_leads(s, 300, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (150, 0, 5, 0), "b": (150, 0, 30, 0)})
    await enrolled_leads(s, 10, MONDAY, sequence_id=SEQ, domain="later.example")
    # the Prefect API is the session's: other tests' events are in it too
    seen = {e.id for e in await decided_events()}
    state = await dispatch_due_touches(now=MONDAY + timedelta(hours=1), return_state=True)
    assert state.is_completed()
    assert sorted(m.parsed()["Subject"] for m in smtp.messages) == ["Subject b"] * 10
    again = await dispatch_due_touches(now=MONDAY + timedelta(hours=2), return_state=True)
    assert again.is_completed()
    for _ in range(100):  # events reach the API a moment later
        if [e for e in await decided_events() if e.id not in seen]:
            break
        await asyncio.sleep(0.1)
    # the second pass found the step decided: it decided nothing and emitted nothing
    [event] = [e for e in await decided_events() if e.id not in seen]
    assert event.resource.id == f"nurture.experiment.{SEQ}.step0"
    assert event.payload["winner"] == "b" and event.payload["metric"] == "clicks"
    assert event.payload["stats"]["variants"]["b"]["successes"] == 30
