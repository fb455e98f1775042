"""The scoring and hand-off flow against a real (temporary) Prefect API: six task runs,
whatever the number of leads; its counts come back; artifacts published."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from nurture.flows.handoff import score_and_hand_off
from tests.handoff.test_handoff import MONDAY, qualified

pytestmark = pytest.mark.e2e


async def test_flow_scores_hands_off_and_reports(flow_settings, smtp):
    await qualified(flow_settings, 3)
    state = await score_and_hand_off(now=MONDAY, return_state=True)
    assert state.is_completed()
    result = await state.result()
    assert (result["promoted"], result["handed_off"], result["notified"]) == (3, 3, 3)
    reps = sorted(r for m in smtp.messages for r in m.rcpt_tos)
    assert reps == ["jonas.albrecht@planwerk.example"] * 2 + ["mira.schaefer@planwerk.example"]
    expected = [
        "expire-visitors",
        "follow-up-sla",
        "journeys",
        "notify-reps",
        "promote-and-route",
        "score-leads",
    ]
    async with get_client() as client:
        run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        [run] = await client.read_flow_runs(flow_run_filter=run_filter)
        assert run.name == "score-and-hand-off 2026-11-23 09:00"
        for _ in range(100):  # task runs reach the API through events, a moment later
            tasks = await client.read_task_runs(flow_run_filter=run_filter)
            names = sorted(t.name.rsplit("-", 1)[0] for t in tasks)
            if names == expected:
                break
            await asyncio.sleep(0.1)
        assert names == expected
        keys = {a.key for a in await client.read_artifacts() if a.flow_run_id == run.id}
        assert {"handoff-outcomes", "handoff-summary"} <= keys
