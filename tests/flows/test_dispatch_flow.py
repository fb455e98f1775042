"""The Prefect flow itself, against a real (temporary) Prefect API: one task run per batch,
artifacts published, and a failed pass is a Failed flow run that keeps touches due."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from nurture.dispatch.batch import DispatchFailed
from nurture.flows.dispatch import dispatch_due_touches
from nurture.settings import get_settings
from tests.factories import enrolled_leads, touch_states

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.e2e


async def test_flow_sends_in_batches_and_publishes_artifacts(flow_settings, smtp):
    await enrolled_leads(flow_settings, 45, MONDAY)
    state = await dispatch_due_touches(now=MONDAY, return_state=True)
    assert state.is_completed()
    assert len(smtp.messages) == 45
    async with get_client() as client:
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
        assert run.name == "dispatch 2026-11-23 09:00 · 45 sent (b2b-nurture)"
        assert "sequence:b2b-nurture" in run.tags
        expected = [
            "count-due",
            "decide-experiments",
            "send-batch-1",
            "send-batch-2",
            "send-batch-3",
        ]
        for _ in range(100):  # task runs reach the API through events, a moment later
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            )
            names = sorted(t.name for t in tasks)
            if names == expected:
                break
            await asyncio.sleep(0.1)
        assert names == expected
        artifacts = await client.read_artifacts()
        keys = {a.key for a in artifacts if a.flow_run_id == run.id}
        assert {"dispatch-progress", "dispatch-outcomes", "dispatch-summary"} <= keys


async def test_flow_fails_visibly_when_smtp_is_down(flow_settings, monkeypatch):
    await enrolled_leads(flow_settings, 3, MONDAY)
    monkeypatch.setenv("NURTURE_MAIL_URL", "smtp://127.0.0.1:1?timeout=2")
    get_settings.cache_clear()
    state = await dispatch_due_touches(now=MONDAY, return_state=True)
    assert state.is_failed()
    with pytest.raises(DispatchFailed, match="cannot reach SMTP"):
        await state.result()
    assert await touch_states(flow_settings) == {"scheduled": 3}
