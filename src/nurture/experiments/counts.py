"""An experiment's numbers, counted in SQL (two grouped queries for all steps at once): per
(sequence, step, variant) the touches sent and the distinct sends a *person* opened and
clicked. Human is the one predicate the report and scoring use (leads.events.human): a
scanner's click or an image proxy's open is kept on the lead but never counts here
(docs/signals.md). Over the whole history: an experiment's arms are compared on everything
they sent, not on a time range."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import distinct, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked
from nurture.leads.events import EventType, human
from nurture.leads.models import Event
from nurture.ledger.models import Touch, TouchState

Key = tuple[str, str]  # (sequence id, step id)


@dataclass(frozen=True, slots=True)
class VariantCounts:
    sends: int = 0  # touches of this variant sent (accepted by SMTP)
    opens: int = 0  # of them, opened by a person
    clicks: int = 0  # of them, clicked by a person

    def successes(self, metric: str) -> int:
        return self.clicks if metric == "clicks" else self.opens


async def variant_counts(
    session: AsyncSession, keys: set[Key]
) -> dict[Key, dict[str, VariantCounts]]:
    """(sequence id, step id) -> variant id -> its counts, for the steps of ``keys``; a
    variant that sent nothing yet is missing."""
    sends: dict[tuple[str, str, str], int] = {}
    engaged: dict[tuple[str, str, str, str], int] = {}
    for part in chunked(sorted(keys), 200):
        step = tuple_(Touch.sequence_id, Touch.step_id).in_(part)
        for r in await session.execute(
            select(Touch.sequence_id, Touch.step_id, Touch.variant, func.count())
            .where(step, Touch.state == TouchState.SENT, Touch.variant.is_not(None))
            .group_by(Touch.sequence_id, Touch.step_id, Touch.variant)
        ):
            sends[(r[0], r[1], r[2])] = r[3]
        for r in await session.execute(
            select(
                Touch.sequence_id,
                Touch.step_id,
                Touch.variant,
                Event.type,
                func.count(distinct(Touch.id)),
            )
            .join(Event, Event.touch_id == Touch.id)
            .where(
                step,
                Touch.state == TouchState.SENT,
                Touch.variant.is_not(None),
                Event.type.in_((EventType.OPEN, EventType.CLICK)),
                human(),
            )
            .group_by(Touch.sequence_id, Touch.step_id, Touch.variant, Event.type)
        ):
            engaged[(r[0], r[1], r[2], r[3])] = r[4]
    out: dict[Key, dict[str, VariantCounts]] = {}
    for (sequence_id, step_id, variant), n in sends.items():
        out.setdefault((sequence_id, step_id), {})[variant] = VariantCounts(
            sends=n,
            opens=engaged.get((sequence_id, step_id, variant, EventType.OPEN), 0),
            clicks=engaged.get((sequence_id, step_id, variant, EventType.CLICK), 0),
        )
    return out
