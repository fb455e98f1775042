"""Prefect flow: score leads and hand the qualified ones to sales. Six task runs a pass,
whatever the number of leads (the work is set-based SQL in nurture.scoring/nurture.handoff)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from nurture.db import utcnow
from nurture.flows.config import config_checks, show_live
from nurture.handoff.run import (
    HandoffContext,
    HandoffReport,
    expire_visitors_step,
    follow_up_step,
    journeys_step,
    live_context,
    notify_step,
    promote_step,
    run_handoff_pass,
    score_step,
)
from nurture.settings import get_settings


@task(name="score-leads", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def score(c: HandoffContext, now: datetime) -> int:
    # Retrying is safe: scoring recomputes from the event log.
    return await score_step(c, now)


@task(name="promote-and-route", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def promote(c: HandoffContext, now: datetime) -> HandoffReport:
    # Safe to retry: a promoted lead is an MQL and is not promoted (or handed off) again.
    return await promote_step(c, now)


@task(name="journeys", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def journeys(c: HandoffContext, now: datetime) -> HandoffReport:
    # Safe to retry: one transaction; an enrolled entry is not enrolled again, a sunset lead
    # is suppressed already.
    return await journeys_step(c, now)


# No retries on notifying: a notification is claimed before it is sent; a retry would not
# resend it, and the SLA reminder covers one that was lost.
@task(name="notify-reps", cache_policy=NO_CACHE)
async def notify(c: HandoffContext, now: datetime) -> HandoffReport:
    return await notify_step(c, now)


@task(name="follow-up-sla", cache_policy=NO_CACHE)
async def follow_up(c: HandoffContext, now: datetime) -> HandoffReport:
    return await follow_up_step(c, now)


@task(name="expire-visitors", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
async def expire_visitors(c: HandoffContext, now: datetime) -> HandoffReport:
    # Safe to retry: deleting what is past the retention again deletes nothing.
    return await expire_visitors_step(c, now)


def _run_name() -> str:
    from prefect.runtime import flow_run

    now = flow_run.parameters.get("now") or utcnow()
    stamp = now if isinstance(now, str) else now.strftime("%Y-%m-%d %H:%M")
    return f"score-and-hand-off {stamp[:16]}"


@flow(name="score-and-hand-off", flow_run_name=_run_name)
async def score_and_hand_off(now: datetime | None = None) -> dict[str, int]:
    """Rescore every lead, promote those over the threshold to MQL, start the sequences
    triggers start (and sunset the quiet), notify the reps, and follow up on handoffs past
    the SLA."""
    at = now or utcnow()
    c, live = await live_context(get_settings(), "handoff", config_checks, utcnow())
    await show_live(live)
    report = await run_handoff_pass(
        c,
        at,
        score,
        (promote, journeys, notify, follow_up, expire_visitors),
    )
    await create_table_artifact(
        [{"what": k.replace("_", " "), "count": v} for k, v in report.as_dict().items()],
        key="handoff-outcomes",
        description="This scoring and hand-off pass",
    )
    await create_markdown_artifact(
        f"# Scoring and hand-off at {at:%Y-%m-%d %H:%M} UTC\n\n{report.summary()}.\n",
        key="handoff-summary",
    )
    get_run_logger().info("pass done: %s", report.summary())
    return report.as_dict()
