"""The funnel, computed in SQL over the event log (a handful of grouped queries, no loop over
leads): per sequence step, lifecycle stages, sales hand-offs and lead sources, for a time
range. ``nurture report`` prints it as text, JSON or one self-contained HTML file.

The result is a typed ``FunnelReport`` (``reporting.funnel_models``); its JSON dump is the
stable format of docs/reporting.md, its schema docs/schemas/funnel-report.schema.json.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from sqlalchemy import case, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.leads import stages
from nurture.leads.events import EventType, human
from nurture.leads.models import Event
from nurture.leads.stages import Stage
from nurture.reporting.experiments import DEFAULT_DIFFERENCE, experiment_metrics
from nurture.reporting.funnel_lifecycle import lifecycle_metrics
from nurture.reporting.funnel_models import (
    COMPLAINT_LIMIT,
    FORMAT_VERSION,
    FunnelReport,
    MedianSeconds,
    ReportRange,
    SequenceDeliverability,
    StageConversion,
    StageFunnel,
    StagesReached,
    StepDropOff,
    StepMetrics,
)
from nurture.reporting.funnel_queries import in_range, median_seconds, rate
from nurture.reporting.funnel_sales import revenue_metrics, sales_metrics, source_metrics

# events per send outcome, and what the mail system reported after delivery
STEP_COUNTS = (EventType.SENT, EventType.BOUNCED, EventType.SOFT_BOUNCED, EventType.COMPLAINED)
# distinct leads per step
STEP_UNIQUE = (EventType.OPEN, EventType.CLICK, EventType.UNSUBSCRIBED, EventType.REPLIED)


async def step_metrics(
    session: AsyncSession,
    project: Project,
    since: datetime,
    until: datetime,
    sequence_id: str | None = None,
) -> list[StepMetrics]:
    """One row per sequence step: sends, engagement, rates and who left the sequence there."""
    where = [in_range(since, until), Event.sequence_id.is_not(None)]
    if sequence_id:
        where.append(Event.sequence_id == sequence_id)
    # A bounce the feedback service recorded (a provider's or the inbox's report) names its
    # source; one the dispatcher recorded at SMTP time does not.
    later = case((Event.data["source"].as_string().is_not(None), 1), else_=0)
    counted: dict[tuple[str, str, str, int], int] = {
        (r.sequence_id, r.step_id, r.type, int(r.later)): r.n
        for r in await session.execute(
            select(
                Event.sequence_id,
                Event.step_id,
                Event.type,
                later.label("later"),
                func.count().label("n"),
            )
            .where(*where, Event.type.in_(STEP_COUNTS))
            .group_by(Event.sequence_id, Event.step_id, Event.type, later)
        )
    }
    person = case((human(), Event.lead_id), else_=None)
    unique: dict[tuple[str, str, str], tuple[int, int]] = {
        (r.sequence_id, r.step_id, r.type): (r.human, r.raw)
        for r in await session.execute(
            select(
                Event.sequence_id,
                Event.step_id,
                Event.type,
                func.count(distinct(person)).label("human"),
                func.count(distinct(Event.lead_id)).label("raw"),
            )
            .where(*where, Event.type.in_(STEP_UNIQUE))
            .group_by(Event.sequence_id, Event.step_id, Event.type)
        )
    }
    after = Event.data["after_step"].as_integer()
    reason = case(
        (Event.type == EventType.COMPLETED, literal("finished")),
        else_=Event.data["reason"].as_string(),
    )
    left: dict[tuple[str, int], dict[str, int]] = {}
    for r in await session.execute(
        select(
            Event.sequence_id, after.label("after"), reason.label("reason"), func.count().label("n")
        )
        .where(*where, Event.type.in_((EventType.EXITED, EventType.COMPLETED)))
        .group_by(Event.sequence_id, after, reason)
    ):
        left.setdefault((r.sequence_id, int(r.after or 0)), {})[str(r.reason)] = r.n
    rows = []
    for sequence in project.sequences.values():
        if sequence_id and sequence.id != sequence_id:
            continue
        before = left.get((sequence.id, 0), {})
        for number, step in enumerate(sequence.steps, start=1):
            key = (sequence.id, step.id)
            delivered = sum(counted.get((*key, EventType.SENT, x), 0) for x in (0, 1))
            bounced = counted.get((*key, EventType.BOUNCED, 0), 0)
            bounced_later = counted.get((*key, EventType.BOUNCED, 1), 0)
            soft = sum(counted.get((*key, EventType.SOFT_BOUNCED, x), 0) for x in (0, 1))
            complaints = sum(counted.get((*key, EventType.COMPLAINED, x), 0) for x in (0, 1))
            opens, raw_opens = unique.get((*key, EventType.OPEN), (0, 0))
            clicks, raw_clicks = unique.get((*key, EventType.CLICK), (0, 0))
            unsubscribes, _ = unique.get((*key, EventType.UNSUBSCRIBED), (0, 0))
            replies, _ = unique.get((*key, EventType.REPLIED), (0, 0))
            exits = dict(left.get((sequence.id, number), {}))
            if number == 1 and before:  # ended before the first email (e.g. a goal)
                for k, v in before.items():
                    exits[k] = exits.get(k, 0) + v
            rows.append(
                StepMetrics(
                    sequence=sequence.id,
                    step=step.id,
                    number=number,
                    sent=delivered + bounced,
                    delivered=delivered,
                    bounced=bounced,
                    bounced_after_delivery=bounced_later,
                    soft_bounces=soft,
                    complaints=complaints,
                    unique_opens=opens,
                    unique_clicks=clicks,
                    raw_opens=raw_opens,
                    raw_clicks=raw_clicks,
                    replies=replies,
                    unsubscribes=unsubscribes,
                    open_rate=rate(opens, delivered),
                    click_rate=rate(clicks, delivered),
                    click_to_open_rate=rate(clicks, opens),
                    unsubscribe_rate=rate(unsubscribes, delivered),
                    bounce_rate=rate(bounced + bounced_later, delivered + bounced),
                    complaint_rate=rate(complaints, delivered),
                    over_complaint_limit=over_limit(complaints, delivered),
                    left=dict(sorted(exits.items())),
                    left_total=sum(exits.values()),
                )
            )
    return rows


def over_limit(complaints: int, delivered: int) -> bool:
    # on the exact ratio: the rates are rounded to 4 places
    return delivered > 0 and complaints / delivered > COMPLAINT_LIMIT


def deliverability(steps: list[StepMetrics]) -> list[SequenceDeliverability]:
    """Bounce and complaint rates per sequence, summed over its steps."""
    out = []
    for sequence in dict.fromkeys(s.sequence for s in steps):
        rows = [s for s in steps if s.sequence == sequence]
        sent, delivered = sum(s.sent for s in rows), sum(s.delivered for s in rows)
        bounced = sum(s.bounced + s.bounced_after_delivery for s in rows)
        complaints = sum(s.complaints for s in rows)
        complaint_rate = rate(complaints, delivered)
        out.append(
            SequenceDeliverability(
                sequence=sequence,
                sent=sent,
                delivered=delivered,
                bounced=bounced,
                soft_bounces=sum(s.soft_bounces for s in rows),
                complaints=complaints,
                bounce_rate=rate(bounced, sent),
                complaint_rate=complaint_rate,
                over_complaint_limit=over_limit(complaints, delivered),
            )
        )
    return out


async def stage_funnel(session: AsyncSession, since: datetime, until: datetime) -> StageFunnel:
    """Leads that reached each stage in the range: one grouped pass over the stage events."""
    stage = Event.data["stage"].as_string()
    counted = dict(
        (
            await session.execute(
                select(stage, func.count(distinct(Event.lead_id)))
                .where(Event.type == EventType.STAGE_CHANGED, in_range(since, until))
                .group_by(stage)
            )
        ).all()
    )
    captured = await session.scalar(
        select(func.count(distinct(Event.lead_id))).where(
            Event.type == EventType.CAPTURED, in_range(since, until)
        )
    )
    reached = {s: int(counted.get(s, 0)) for s in stages.FUNNEL}
    reached[Stage.SUBSCRIBER] = int(captured or 0)
    steps = [
        StageConversion(
            from_=a,
            to=b,
            conversion=rate(reached[b], reached[a]),
            lost=max(reached[a] - reached[b], 0),
        )
        for a, b in pairwise(stages.FUNNEL)
    ]
    known = [s for s in steps if s.conversion is not None]
    return StageFunnel(
        # one field per stage of stages.FUNNEL: a stage added there fails here, not silently
        reached=StagesReached(**reached),
        conversions=steps,
        biggest_drop_off=min(known, key=lambda s: s.conversion or 0.0) if known else None,
        median_seconds=MedianSeconds(
            capture_to_mql=await median_seconds(session, Stage.SUBSCRIBER, Stage.MQL, since, until),
            mql_to_sql=await median_seconds(session, Stage.MQL, Stage.SQL, since, until),
        ),
    )


async def funnel_report(
    session: AsyncSession,
    project: Project,
    since: datetime,
    until: datetime,
    sequence_id: str | None = None,
    min_difference: float = DEFAULT_DIFFERENCE,
) -> FunnelReport:
    """The whole report for ``since`` to ``until`` (exclusive), one sequence's steps or all;
    ``min_difference``: the difference the experiments' "sends still needed" are for."""
    steps = await step_metrics(session, project, since, until, sequence_id)
    sources = await source_metrics(session, since, until)
    # Where most leads left a sequence before its end (unsubscribed, bounced, a goal, ...):
    # not the fall in sends from one step to the next, which counts leads not yet due.
    drops = [
        StepDropOff(sequence=s.sequence, step=s.step, left=s.left_total - s.left.get("finished", 0))
        for s in steps
    ]
    drops = [d for d in drops if d.left]
    return FunnelReport(
        format=FORMAT_VERSION,
        range=ReportRange(since=since, until=until),
        sequence=sequence_id,
        steps=steps,
        deliverability=deliverability(steps),
        biggest_step_drop_off=max(drops, key=lambda d: d.left) if drops else None,
        stages=await stage_funnel(session, since, until),
        sales=await sales_metrics(session, since, until),
        sources=sources,
        revenue=await revenue_metrics(session, project, since, until, sources),
        lifecycle=await lifecycle_metrics(session, since, until, sequence_id),
        experiments=await experiment_metrics(session, project, sequence_id, min_difference),
    )
