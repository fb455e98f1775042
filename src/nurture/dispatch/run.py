"""A dispatch pass: batches until nothing is due. The Prefect flow (flows/dispatch.py) runs
the same batches as task runs; this module runs them without Prefect (tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from nurture.config.project import Project, load_project
from nurture.db import session_scope
from nurture.dispatch.batch import BatchReport, Dispatcher, DispatchFailed, dispatch_batch
from nurture.dispatch.outcome import Policy
from nurture.experiments.decide import Decision, decide_experiments
from nurture.liveconfig.live import Checks, Live, load_live
from nurture.mail.transports import Transport, transport_from_url
from nurture.rendering.compose import Composer, build_composer
from nurture.settings import Settings


def build_dispatcher(
    settings: Settings,
    project: Project | None = None,
    transport: Transport | None = None,
    composer: Composer | None = None,
) -> Dispatcher:
    """A dispatcher on the files as they are (tests, benchmarks); a running system's passes
    use live_dispatcher, which refuses files that do not validate."""
    return Dispatcher(
        db_url=settings.database_url.get_secret_value(),
        project=project or load_project(settings.config_dir),
        composer=composer or build_composer(settings),  # new each pass: sees template edits
        transport=transport or transport_from_url(settings.mail_url.get_secret_value()),
        policy=Policy(settings.retry_base_seconds, settings.max_attempts),
        batch_size=settings.dispatch_batch_size,
        chunk_size=settings.dispatch_chunk_size,
        lease_seconds=settings.lease_seconds,
    )


async def live_dispatcher(
    settings: Settings,
    applied_by: str,
    checks: Checks,
    now: datetime,
    transport: Transport | None = None,
) -> tuple[Dispatcher, Live]:
    """A dispatcher on the live config (liveconfig/live.py): the working files if they
    validate, else the last config that did. Raises ConfigError when there is none."""
    live = await load_live(settings, applied_by, checks, now)
    return build_dispatcher(live.settings, live.project, transport, live.composer), live


@dataclass
class PassReport(BatchReport):
    batches: int = 0


def more_to_do(batch: BatchReport, d: Dispatcher) -> bool:
    return batch.claimed >= d.batch_size


async def run_batches(
    d: Dispatcher,
    send: Callable[[int], Awaitable[BatchReport]],
    max_batches: int | None = None,
    progress: Callable[[PassReport], Awaitable[None]] | None = None,
) -> PassReport:
    """Batches (``send(number)``) until nothing more is due. Raises DispatchFailed, with the
    pass's report, when SMTP is unreachable (at once) or when some touches failed to render
    (at the end of the pass, after the others were sent)."""
    report = PassReport()
    failure: DispatchFailed | None = None
    try:
        while max_batches is None or report.batches < max_batches:
            report.batches += 1
            try:
                batch = await send(report.batches)
            except DispatchFailed as exc:
                batch = exc.report or BatchReport()
                if failure is None or exc.fatal:
                    failure = exc
            report.merge(batch)
            if progress is not None:
                await progress(report)
            if (failure is not None and failure.fatal) or not more_to_do(batch, d):
                break
    finally:
        await d.transport.close()
    if failure is not None:
        raise DispatchFailed(str(failure), report, failure.fatal) from failure
    return report


async def decide(d: Dispatcher, now: datetime) -> list[Decision]:
    """Decide the experiments that are due a winner before a pass sends (its own
    transaction): what this pass sends of a decided step is the winner
    (docs/experiments.md)."""
    async with session_scope(d.db_url) as session:
        return await decide_experiments(session, d.project, now)


async def run_pass(d: Dispatcher, now: datetime, max_batches: int | None = None) -> PassReport:
    """Dispatch everything due at ``now`` without Prefect (see run_batches), after deciding
    the experiments that are due (as the flow's decide-experiments task does)."""
    await decide(d, now)
    return await run_batches(d, lambda _: dispatch_batch(d, now), max_batches)
