"""One scoring and hand-off pass, in steps the Prefect flow runs as tasks (flows/handoff.py)
and the CLI and scheduler run in-process: score -> promote and route (and goals) -> journeys
(sunset, triggers) -> notify -> follow up.

Each step is its own short transaction; a rerun of any step after a crash is harmless: scoring
recomputes, promotion finds MQLs already promoted, a notification is claimed (notified_at set)
before it is sent, and the SLA only acts on pending handoffs past their time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from nurture.config.project import Project, load_project
from nurture.db import session_scope
from nurture.handoff import notify
from nurture.handoff.models import Handoff, HandoffState
from nurture.handoff.service import overdue, promote, reassign
from nurture.journeys.goals import apply_goals
from nurture.journeys.sunset import sunset_quiet
from nurture.journeys.triggers import enrol_triggered
from nurture.leads.events import EventType, event_row, record_events
from nurture.liveconfig.live import Checks, Live, load_live
from nurture.mail.backend import SendStatus, Transport, TransportUnavailable
from nurture.mail.transports import transport_from_url
from nurture.rendering.compose import Composer, build_composer
from nurture.scoring.score import breakdowns, score_leads
from nurture.settings import Settings
from nurture.verdict.bursts import judge_bursts
from nurture.visitors.service import expire


@dataclass
class HandoffReport:
    scored_rules: int = 0  # lead_scores rows written
    promoted: int = 0
    handed_off: int = 0
    goals_ended: int = 0
    notified: int = 0
    notify_failed: int = 0
    reminded: int = 0
    reassigned: int = 0
    webhooks_ok: int = 0
    webhooks_failed: int = 0
    visitor_events_expired: int = 0  # unknown website visitors' events past the retention
    # journeys: leads a sequence's trigger enrolled, by kind, and leads sunset
    enrolled_by_stage: int = 0
    enrolled_by_event: int = 0
    enrolled_by_inactivity: int = 0
    enrolled_by_date: int = 0
    sunset: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def merge(self, other: HandoffReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def summary(self) -> str:
        text = (
            f"{self.promoted} promoted to MQL, {self.handed_off} handed off, "
            f"{self.notified} notified, {self.reminded} reminded, "
            f"{self.reassigned} reassigned"
        )
        if self.enrolled or self.sunset:  # only with journeys beyond forms at work
            text += f", {self.enrolled} enrolled by triggers, {self.sunset} sunset"
        return text

    @property
    def enrolled(self) -> int:
        return (
            self.enrolled_by_stage
            + self.enrolled_by_event
            + self.enrolled_by_inactivity
            + self.enrolled_by_date
        )


@dataclass
class HandoffContext:
    db_url: str
    project: Project
    composer: Composer
    transport: Transport


def build_context(
    settings: Settings,
    transport: Transport | None = None,
    project: Project | None = None,
    composer: Composer | None = None,
) -> HandoffContext:
    """A pass's context on the files as they are (tests); a running system's passes use
    live_context, which refuses files that do not validate."""
    return HandoffContext(
        settings.database_url.get_secret_value(),
        project or load_project(settings.config_dir),
        composer or build_composer(settings),
        transport or transport_from_url(settings.mail_url.get_secret_value()),
    )


async def live_context(
    settings: Settings,
    applied_by: str,
    checks: Checks,
    now: datetime,
    transport: Transport | None = None,
) -> tuple[HandoffContext, Live]:
    """A pass's context on the live config (liveconfig/live.py). Raises ConfigError when no
    config validates."""
    live = await load_live(settings, applied_by, checks, now)
    return build_context(live.settings, transport, live.project, live.composer), live


# How far back the pass looks for bursts that other processes' hits completed.
BURST_LOOKBACK = timedelta(days=1)


async def score_step(c: HandoffContext, now: datetime) -> int:
    if c.project.scoring is None:
        return 0
    async with session_scope(c.db_url) as session:
        # Settle the verdicts first: a burst whose hits two server processes wrote at the
        # same time was seen whole by neither.
        burst = c.project.signals.engagement.burst_seconds
        await judge_bursts(session, burst, since=now - BURST_LOOKBACK)
        return await score_leads(session, c.project.scoring, now)


async def promote_step(c: HandoffContext, now: datetime) -> HandoffReport:
    report = HandoffReport()
    async with session_scope(c.db_url) as session:
        promoted = await promote(session, c.project, now)
        report.goals_ended += await apply_goals(session, c.project, now)
    report.promoted += len(promoted.lead_ids)
    report.handed_off += promoted.handoffs
    return report


async def journeys_step(c: HandoffContext, now: datetime) -> HandoffReport:
    """Sunset the quiet leads past a sequence's sunset, then start what the triggers start
    (in this order: a lead sunset now is enrolled nowhere). One transaction: a crash leaves
    nothing half-enrolled, and a rerun enrols only who is still missing."""
    async with session_scope(c.db_url) as session:
        sunset = await sunset_quiet(session, c.project, now)
        enrolled = await enrol_triggered(session, c.project, now)
    return HandoffReport(
        enrolled_by_stage=enrolled["stage"],
        enrolled_by_event=enrolled["event"],
        enrolled_by_inactivity=enrolled["inactive_for"],
        enrolled_by_date=enrolled["date_field"],
        sunset=sunset,
    )


async def _send(
    c: HandoffContext,
    handoffs: list[Handoff],
    reminder: bool,
    now: datetime,
    report: HandoffReport,
) -> None:
    """Email (and webhook) the reps; a notification that did not go out is claimed again by
    the next pass (notified_at back to NULL)."""
    sales = c.project.sales
    assert sales is not None
    async with session_scope(c.db_url) as session:
        contexts = await notify.contexts(session, c.composer, handoffs)
    messages = {
        h.id: notify.handoff_message(
            c.composer, sales, contexts[h.id], reminder, now, default_locale=c.project.locales[0]
        )
        for h in handoffs
    }
    failed_reply = "not sent"
    try:
        await c.transport.open()
        results = await c.transport.send(list(messages.values()))
    except TransportUnavailable as exc:
        results = []
        failed_reply = str(exc)
    by_message = {r.message.message_id: r for r in results}
    failed, events = [], []
    for h in handoffs:
        result = by_message.get(messages[h.id].message_id)
        ok = result is not None and result.status == SendStatus.SENT
        if not ok:
            failed.append(h.id)
        reply = result.reply if result else failed_reply
        done = EventType.HANDOFF_REMINDED if reminder else EventType.HANDOFF_NOTIFIED
        kind = done if ok else EventType.HANDOFF_NOTIFY_FAILED
        events.append(event_row(h.lead_id, kind, now, rep=h.rep_email, reply=reply[:200]))
    async with session_scope(c.db_url) as session:
        if failed:
            column = "reminded_at" if reminder else "notified_at"
            await session.execute(
                update(Handoff).where(Handoff.id.in_(failed)).values({column: None})
            )
        await record_events(session, events)
    sent = len(handoffs) - len(failed)
    if reminder:
        report.reminded += sent
    else:
        report.notified += sent
    report.notify_failed += len(failed)
    if not reminder:
        await _webhooks(c, handoffs, contexts, now, report)


async def _webhooks(
    c: HandoffContext,
    handoffs: list[Handoff],
    contexts: dict[int, dict[str, Any]],
    now: datetime,
    report: HandoffReport,
) -> None:
    sales = c.project.sales
    assert sales is not None
    targets = []
    for h in handoffs:
        territory = next((t for t in sales.territories if t.id == h.territory), None)
        url = territory.webhook if territory else sales.fallback_webhook
        if url:
            targets.append((h, url))
    if not targets:
        return
    # The channel is the rep's: what the rep reads is in the rep's (or the lead's) locale.
    locales = {
        h.id: notify.rep_facing_locale(
            sales, h.rep_email, contexts[h.id]["lead"].get("locale"), c.project.locales[0]
        )
        for h, _ in targets
    }
    events = []
    async with httpx.AsyncClient(timeout=10) as client:
        for h, url in targets:
            ok, detail = await notify.post_webhook(
                client, url, notify.webhook_payload(contexts[h.id], locales[h.id])
            )
            report.webhooks_ok += ok
            report.webhooks_failed += not ok
            kind = EventType.WEBHOOK_DELIVERED if ok else EventType.WEBHOOK_FAILED
            events.append(event_row(h.lead_id, kind, now, url=url, detail=detail))
    async with session_scope(c.db_url) as session:
        await record_events(session, events)


async def notify_step(c: HandoffContext, now: datetime, limit: int = 500) -> HandoffReport:
    """Notify the reps of new handoffs: claimed (notified_at set) before sending, so two
    passes at once never notify twice."""
    report = HandoffReport()
    if c.project.sales is None:
        return report
    while True:
        async with session_scope(c.db_url) as session:
            handoffs = list(
                (
                    await session.scalars(
                        select(Handoff)
                        .where(Handoff.state == HandoffState.PENDING, Handoff.notified_at.is_(None))
                        .order_by(Handoff.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            scores = await breakdowns(session, [h.lead_id for h in handoffs])
            for h in handoffs:
                h.notified_at = now
                # what the rep is shown, kept: reminders and reports show the same
                h.breakdown = h.breakdown or {**scores[h.lead_id].as_dict(), "total": h.score}
        if not handoffs:
            return report
        await _send(c, handoffs, False, now, report)
        if len(handoffs) < limit or report.notify_failed:
            return report


async def follow_up_step(c: HandoffContext, now: datetime) -> HandoffReport:
    """The SLA: remind the rep, later hand the lead to the next rep."""
    report = HandoffReport()
    sales = c.project.sales
    if sales is None:
        return report
    async with session_scope(c.db_url) as session:
        remind, late = await overdue(session, sales, now)
        for h in remind:
            h.reminded_at = now
        new = await reassign(session, sales, late, now)
    report.reassigned += new
    if remind:
        await _send(c, remind, True, now, report)
    if new:
        report.merge(await notify_step(c, now))
    return report


async def expire_visitors_step(c: HandoffContext, now: datetime) -> HandoffReport:
    """Forget what website visitors who never became a lead did, after the retention."""
    retention = c.project.signals.website.anonymous_retention_days
    async with session_scope(c.db_url) as session:
        return HandoffReport(visitor_events_expired=await expire(session, retention, now))


Step = Callable[[HandoffContext, datetime], Awaitable[HandoffReport]]


async def run_handoff_pass(
    c: HandoffContext,
    now: datetime,
    score: Callable[[HandoffContext, datetime], Awaitable[int]] = score_step,
    steps: tuple[Step, ...] = (
        promote_step,
        journeys_step,
        notify_step,
        follow_up_step,
        expire_visitors_step,
    ),
) -> HandoffReport:
    """The whole pass, in-process; the Prefect flow passes its tasks as the steps."""
    report = HandoffReport()
    try:
        report.scored_rules = await score(c, now)
        for step in steps:
            report.merge(await step(c, now))
    finally:
        await c.transport.close()
    return report
