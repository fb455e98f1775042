"""Wakes the dispatcher on an interval (APScheduler), after an inbox pass when an inbox is
set. It holds no state: what is due lives in the database, so a restart, or several
schedulers, lose and duplicate nothing."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from nurture.checks import config_checks
from nurture.config.yamlfile import ConfigError
from nurture.db import utcnow
from nurture.dispatch.batch import DispatchFailed
from nurture.dispatch.run import live_dispatcher, run_pass
from nurture.inbox.sources import InboxUnavailable
from nurture.liveconfig.live import Live
from nurture.reporting.dispatch import summary_text
from nurture.settings import Settings

log = logging.getLogger(__name__)


def prefect_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


async def dispatch_once(
    settings: Settings, now: datetime | None = None, use_prefect: bool | None = None
) -> str:
    """One pass: as the Prefect flow when a Prefect API is configured (visible in its UI),
    else in-process. Returns a one-line summary; raises DispatchFailed."""
    if use_prefect is None:
        use_prefect = prefect_api_url() is not None
    if use_prefect:
        from nurture.flows.dispatch import dispatch_due_touches

        result = await dispatch_due_touches(now=now)
        sent = f"{result['sent']} sent, {result['deferred']} deferred"
        return f"{sent} in {result['batches']} batch(es) (Prefect flow run)"
    d, live = await live_dispatcher(settings, "dispatch", config_checks, utcnow())
    report = await run_pass(d, now or utcnow())
    return f"{summary_text(report)} in {report.batches} batch(es){_kept(live)}"


async def handoff_once(
    settings: Settings, now: datetime | None = None, use_prefect: bool | None = None
) -> str:
    """One scoring and hand-off pass, as the Prefect flow when a Prefect API is configured."""
    if use_prefect is None:
        use_prefect = prefect_api_url() is not None
    if use_prefect:
        from nurture.flows.handoff import score_and_hand_off

        result = await score_and_hand_off(now=now)
        return f"{result['promoted']} promoted, {result['notified']} notified (Prefect flow run)"
    from nurture.handoff.run import live_context, run_handoff_pass

    c, live = await live_context(settings, "handoff", config_checks, utcnow())
    report = await run_handoff_pass(c, now or utcnow())
    return report.summary() + _kept(live)


async def inbox_once(
    settings: Settings, now: datetime | None = None, use_prefect: bool | None = None
) -> str:
    """One inbox pass (replies, auto-replies, bounce and complaint reports), as the Prefect
    flow when a Prefect API is configured. Raises InboxUnavailable (or the flow run's failure)
    when the inbox cannot be read."""
    if use_prefect is None:
        use_prefect = prefect_api_url() is not None
    if use_prefect:
        from nurture.flows.inbox import ingest_inbox

        result = await ingest_inbox(now=now)
        return f"{result['read']} read, {result['replies']} replies (Prefect flow run)"
    from nurture.inbox.run import live_context, run_inbox_pass

    c, live = await live_context(settings, "inbox", config_checks, utcnow())
    report = await run_inbox_pass(c, now or utcnow())
    return report.summary() + _kept(live)


def _kept(live: Live) -> str:
    """A pass on a refused config says so (load_live logged each problem)."""
    if not live.refused:
        return ""
    return f" (config refused, {len(live.refused)} problem(s): config {live.hash[:12]} kept)"


def start_scheduler(settings: Settings) -> AsyncIOScheduler:
    async def job() -> None:
        # The inbox first: a reply that came in ends its drip before the next step goes out.
        if settings.inbox_url.get_secret_value():
            try:
                log.info("inbox: %s", await inbox_once(settings))
            except InboxUnavailable as exc:  # nothing read or marked: the next interval
                log.error("inbox not read: %s", exc)
            except ConfigError as exc:  # refused, and no config applied before: nothing to keep
                log.error("inbox not read, no valid config:\n%s", exc)
            except Exception:
                log.exception("inbox pass failed")
        try:
            log.info("dispatch: %s", await dispatch_once(settings))
        except DispatchFailed as exc:
            log.error("dispatch failed (touches stay due): %s", exc)
        except ConfigError as exc:
            log.error("nothing dispatched, no valid config (touches stay due):\n%s", exc)
        try:
            log.info("scoring and hand-off: %s", await handoff_once(settings))
        except ConfigError as exc:
            log.error("no scoring and hand-off, no valid config:\n%s", exc)
        except Exception:  # logged with its traceback; the next interval tries again
            log.exception("scoring and hand-off failed")

    async def daily_report() -> None:
        # Only as a Prefect flow: its artifact in the UI is the point.
        if prefect_api_url() is None:
            return
        from nurture.flows.report import daily_funnel_report

        try:
            await daily_funnel_report()
        except Exception:
            log.exception("funnel report failed")

    scheduler = AsyncIOScheduler()
    scheduler.add_job(
        daily_report, "cron", hour=6, minute=0, id="funnel-report", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        job,
        "interval",
        seconds=settings.dispatch_interval_seconds,
        id="dispatch",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(),
    )
    scheduler.start()
    return scheduler
