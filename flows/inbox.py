"""Prefect flow: read the inbox (NURTURE_INBOX_URL) and record replies, auto-replies, bounce
and complaint reports, then forward the replies. One task run per batch of messages (the work
is set-based, in nurture.inbox), one for forwarding; an inbox that cannot be reached fails the
flow run with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from nurture.db import utcnow
from nurture.flows.config import config_checks, show_live
from nurture.inbox.ingest import InboxReport
from nurture.inbox.run import (
    InboxContext,
    forward_step,
    ingest_batch,
    live_context,
    run_inbox_pass,
)
from nurture.inbox.sources import Source
from nurture.settings import get_settings


# No retries: what a failed batch did not mark is read again by the next run, and its
# receipts keep a message that was recorded from being recorded twice.
@task(name="ingest-inbox-batch", cache_policy=NO_CACHE)
async def batch(c: InboxContext, source: Source, ids: Sequence[str], now: datetime) -> InboxReport:
    return await ingest_batch(c, source, ids, now)


# No retries: a forward is claimed before it is sent; a failed one is retried by the next run.
@task(name="forward-replies", cache_policy=NO_CACHE)
async def forward(c: InboxContext, now: datetime) -> InboxReport:
    return await forward_step(c, now)


def _run_name() -> str:
    from prefect.runtime import flow_run

    now = flow_run.parameters.get("now") or utcnow()
    stamp = now if isinstance(now, str) else now.strftime("%Y-%m-%d %H:%M")
    return f"ingest-inbox {stamp[:16]}"


ROWS = (
    ("replies", "replies"),
    ("auto-replies", "auto_replies"),
    ("hard bounces", "hard_bounces"),
    ("soft bounces", "soft_bounces"),
    ("complaints", "complaints"),
    ("unmatched", "unmatched"),
    ("replies unverified (forwarded only)", "unverified"),
    ("unreadable (set aside)", "unreadable"),
    ("read before (nothing recorded)", "duplicates"),
    ("drips ended", "exited"),
    ("replies forwarded", "forwarded"),
    ("forwards failed (retried next run)", "forward_failed"),
    ("forwards in doubt", "forwards_in_doubt"),
)


@flow(name="ingest-inbox", flow_run_name=_run_name)
async def ingest_inbox(now: datetime | None = None) -> dict[str, int]:
    """Record what arrived in the inbox since the last run and forward the replies."""
    at = now or utcnow()
    c, live = await live_context(get_settings(), "inbox", config_checks, utcnow())
    await show_live(live)
    report = await run_inbox_pass(c, at, batch, forward)
    counts = report.as_dict()
    await create_table_artifact(
        [{"what": what, "count": counts[name]} for what, name in ROWS],
        key="inbox-counts",
        description="This inbox run",
    )
    await create_markdown_artifact(
        f"# Inbox at {at:%Y-%m-%d %H:%M} UTC\n\n{report.summary()}.\n",
        key="inbox-summary",
    )
    get_run_logger().info("inbox: %s", report.summary())
    return counts
