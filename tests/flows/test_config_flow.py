"""A dispatch flow run on config files that do not validate: it completes, sending from the
last config that did; its logs carry a warning with each problem's file and line, and its
config-refused artifact lists them with the config kept."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
)

from nurture.flows.dispatch import dispatch_due_touches
from nurture.liveconfig.snapshot import read_tree, tree_hash
from nurture.settings import get_settings
from tests.conftest import CONTENT
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.e2e


@pytest.fixture
def working(flow_settings, tmp_path, monkeypatch):
    """The flow's settings on a copy of the fixture project (to break)."""
    shutil.copytree(CONTENT, tmp_path / "project")
    s = flow_settings.model_copy(
        update={
            "config_dir": tmp_path / "project" / "config",
            "templates_dir": tmp_path / "project" / "templates",
        }
    )
    monkeypatch.setenv("NURTURE_CONFIG_DIR", str(s.config_dir))
    monkeypatch.setenv("NURTURE_TEMPLATES_DIR", str(s.templates_dir))
    monkeypatch.setenv("NURTURE_VAR_DIR", str(s.var_dir))
    get_settings.cache_clear()
    return s


async def test_a_refused_config_is_a_warning_and_an_artifact_and_the_last_good_one_sends(
    working, smtp
):
    good = tree_hash(read_tree(working.config_dir, working.templates_dir))
    assert (await dispatch_due_touches(now=MONDAY, return_state=True)).is_completed()
    await enrolled_leads(working, 2, MONDAY)
    welcome = working.templates_dir / "email" / "b2b-nurture" / "01_welcome.txt.j2"
    welcome.write_text(welcome.read_text().replace("Hallo", "HALB {% if lead.company %}"))

    state = await dispatch_due_touches(now=MONDAY, return_state=True)
    assert state.is_completed()
    assert len(smtp.messages) == 2
    for message in smtp.messages:  # the last good welcome email, nothing of the broken one
        body = message.parsed().get_body(("plain",))
        assert body is not None
        assert "Hallo Max" in body.get_content() and "HALB" not in body.get_content()
    run_id = state.state_details.flow_run_id
    async with get_client() as client:
        [artifact] = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["config-refused"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
            )
        )
        assert f"`{welcome}` |" in str(artifact.data)
        assert good[:12] in str(artifact.data)
        warnings: list[str] = []
        for _ in range(100):  # logs reach the API a moment later
            logs = await client.read_logs(
                log_filter=LogFilter(
                    flow_run_id=LogFilterFlowRunId(any_=[run_id]),
                    level=LogFilterLevel(ge_=30),
                )
            )
            warnings = [entry.message for entry in logs]
            if warnings:
                break
            await asyncio.sleep(0.1)
        assert any("config refused" in w and str(welcome) in w for w in warnings), warnings
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
        assert run.name.startswith("dispatch 2026-11-23 09:00 · 2 sent")
