"""Prefect flow: the daily funnel report, published as a markdown artifact (key
``funnel-report``) and returned as the stable JSON of ``nurture report --format json``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from nurture.config.project import load_project
from nurture.db import session_scope, utcnow
from nurture.reporting.funnel import funnel_report
from nurture.reporting.funnel_format import as_text
from nurture.reporting.funnel_models import FunnelReport
from nurture.settings import get_settings


@task(name="compute-funnel", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=30)
async def compute(since: datetime, until: datetime) -> FunnelReport:
    settings = get_settings()
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return await funnel_report(session, load_project(settings.config_dir), since, until)


def _run_name() -> str:
    from prefect.runtime import flow_run

    until = flow_run.parameters.get("until") or utcnow()
    stamp = until if isinstance(until, str) else until.strftime("%Y-%m-%d")
    return f"funnel-report {stamp[:10]}"


@flow(name="funnel-report", flow_run_name=_run_name)
async def daily_funnel_report(until: datetime | None = None, days: int = 30) -> dict[str, Any]:
    """The funnel over the ``days`` before ``until`` (default: now)."""
    end = until or utcnow()
    report = await compute(end - timedelta(days=days), end)
    await create_markdown_artifact(
        f"# Funnel, last {days} days\n\n```\n{as_text(report)}```\n",
        key="funnel-report",
        description="Where leads drop out: steps, stages, sales, sources",
    )
    reached = report.stages.reached
    get_run_logger().info(
        "funnel: %d captured, %d MQL, %d SQL", reached.subscriber, reached.mql, reached.sql
    )
    return report.model_dump(mode="json")
