"""Prefect flow: dispatch due touches. It reads like the job's outline; the work is in
nurture.dispatch (claim -> render and send a batch -> record -> schedule next)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from nurture.db import session_scope, utcnow
from nurture.dispatch.batch import BatchReport, Dispatcher, DispatchFailed, dispatch_batch
from nurture.dispatch.outcome import OutcomeKind
from nurture.dispatch.run import PassReport, decide, live_dispatcher, run_batches
from nurture.experiments.decide import Decision
from nurture.flows.config import config_checks, show_live
from nurture.ledger.claims import count_due
from nurture.reporting.dispatch import outcome_rows, summary_markdown
from nurture.settings import get_settings


@task(name="count-due", task_run_name="count-due", cache_policy=NO_CACHE)
async def count_due_touches(d: Dispatcher, now: datetime) -> int:
    async with session_scope(d.db_url) as session:
        return await count_due(session, now)


@task(name="decide-experiments", task_run_name="decide-experiments", cache_policy=NO_CACHE)
async def decide_experiments(d: Dispatcher, now: datetime) -> list[Decision]:
    """Before the batches: steps whose experiment has a winner now send only it. Each
    decision is logged and emitted as a Prefect event (for an automation, e.g. to tell the
    marketer); a concurrent pass that lost the race to decide emits nothing."""
    decisions = await decide(d, now)
    log = get_run_logger()
    for x in decisions:
        p = x.stats["variants"].get(x.variant, {}).get("p_value")
        log.info(
            "experiment %s/%s: %s wins on %s (p=%s)",
            x.sequence_id,
            x.step_id,
            x.variant,
            x.metric,
            p,
        )
        emit_event(
            event="nurture.experiment.decided",
            resource={
                "prefect.resource.id": f"nurture.experiment.{x.sequence_id}.{x.step_id}",
                "prefect.resource.name": f"{x.sequence_id}/{x.step_id}",
            },
            occurred=x.decided_at,
            payload={
                "sequence": x.sequence_id,
                "step": x.step_id,
                "winner": x.variant,
                "metric": x.metric,
                "stats": x.stats,
            },
        )
    return decisions


# No retries: a failed batch has already recorded what it sent and left the rest due; the
# next pass picks that up. Retrying here could only repeat an SMTP outage faster.
@task(name="send-batch", task_run_name="send-batch-{number}", cache_policy=NO_CACHE, retries=0)
async def send_batch(d: Dispatcher, now: datetime, number: int) -> BatchReport:
    report = await dispatch_batch(d, now)
    get_run_logger().info(
        "batch %d: claimed %d, sent %d, retrying %d, bounced %d, skipped %d, in doubt %d, "
        "deferred %d",
        number,
        report.claimed,
        report.total(OutcomeKind.SENT),
        report.total(OutcomeKind.RETRYING),
        report.total(OutcomeKind.BOUNCED),
        report.total(OutcomeKind.SKIPPED),
        report.total(OutcomeKind.IN_DOUBT),
        report.total(OutcomeKind.DEFERRED),
    )
    return report


def _run_name() -> str:
    from prefect.runtime import flow_run

    now = flow_run.parameters.get("now") or utcnow()
    stamp = now if isinstance(now, str) else now.strftime("%Y-%m-%d %H:%M")
    return f"dispatch {stamp[:16]}"


async def _label_run(at: datetime, report: PassReport) -> None:
    """Once the pass knows what it did: the run's name says how many went out, and it gets a
    tag per sequence it sent for (filterable in the UI)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    sequences = sorted({sequence for sequence, _, _ in report.counts})
    name = f"dispatch {at:%Y-%m-%d %H:%M} · {report.total('sent')} sent"
    if sequences:
        name += f" ({', '.join(sequences)})"
    async with get_client() as client:
        current = await client.read_flow_run(flow_run.id)
        tags = sorted({*current.tags, *(f"sequence:{s}" for s in sequences)})
        await client.update_flow_run(flow_run.id, name=name, tags=tags)


@flow(name="dispatch-due-touches", flow_run_name=_run_name, log_prints=False)
async def dispatch_due_touches(now: datetime | None = None, max_batches: int | None = None) -> dict:
    """Send every touch due at ``now`` (default: the current time), one task run per batch."""
    log = get_run_logger()
    at = now or utcnow()
    # The wall clock for the config: "applied last" must not go back with a backfill's now.
    d, live = await live_dispatcher(get_settings(), "dispatch", config_checks, utcnow())
    await show_live(live)
    await decide_experiments(d, at)
    total = await count_due_touches(d, at)
    progress = await create_progress_artifact(
        0.0, key="dispatch-progress", description=f"{total} touches due at {at:%Y-%m-%d %H:%M}"
    )

    async def show(report: PassReport) -> None:
        done = report.claimed / total * 100 if total else 100.0
        await update_progress_artifact(progress, min(done, 100.0))

    failure: DispatchFailed | None = None
    try:
        report = await run_batches(d, lambda n: send_batch(d, at, n), max_batches, show)
    except DispatchFailed as exc:  # artifacts first, then the run fails with the reason
        failure = exc
        report = exc.report if isinstance(exc.report, PassReport) else PassReport()
    await update_progress_artifact(progress, 100.0)
    await create_table_artifact(
        outcome_rows(report),
        key="dispatch-outcomes",
        description="Touches per sequence, step and outcome in this pass",
    )
    await create_markdown_artifact(summary_markdown(report, at, failure), key="dispatch-summary")
    await _label_run(at, report)
    log.info(
        "pass done: %d batches, %d claimed, %d sent, %d deferred",
        report.batches,
        report.claimed,
        report.total(OutcomeKind.SENT),
        report.total(OutcomeKind.DEFERRED),
    )
    if failure is not None:
        raise failure  # the run shows as Failed, with the reason
    return {
        "batches": report.batches,
        "claimed": report.claimed,
        "sent": report.total(OutcomeKind.SENT),
        "deferred": report.total(OutcomeKind.DEFERRED),
    }
