"""The daily funnel report flow: the report as a markdown artifact in the Prefect UI."""

from __future__ import annotations

import jsonschema
import pytest
from prefect.client.orchestration import get_client

from nurture.flows.report import daily_funnel_report
from nurture.reporting.schemas import schema
from tests.reporting.known_history import UNTIL, history

pytestmark = pytest.mark.e2e


async def test_report_flow_publishes_the_funnel(flow_settings):
    await history(flow_settings.database_url.get_secret_value())
    state = await daily_funnel_report(until=UNTIL, days=40, return_state=True)
    assert state.is_completed()
    report = await state.result()
    jsonschema.validate(report, schema("funnel-report"))  # the JSON of `nurture report`
    assert report["stages"]["reached"]["mql"] == 4
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
        assert run.name == f"funnel-report {UNTIL:%Y-%m-%d}"
        [artifact] = [a for a in await client.read_artifacts() if a.flow_run_id == run.id]
    assert artifact.key == "funnel-report" and "b2b-nurture/welcome" in artifact.data
