"""The verdicts only several hits show: the hidden link's burst, several links at once."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked
from nurture.leads.events import ENGAGEMENT, EventType, MachineReason, mark_machine
from nurture.leads.models import Event


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    touch_id: int
    type: str
    at: datetime
    url: str | None
    machine: str | None


def bursts(hits: Iterable[Hit], burst: timedelta) -> dict[int, MachineReason]:
    """Which of a send's hits (judged a person's so far) the bursts show to be a machine's:
    every open and click within ``burst`` of a fetch of the hidden link, and every click
    within ``burst`` of a click on another link of the same message. A person who clicks two
    links a minute apart stays a person. Linear after sorting, however many hits a send has
    (a replayed link must not stall the pass)."""
    by_touch: dict[int, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_touch[hit.touch_id].append(hit)
    found: dict[int, MachineReason] = {}
    for touch_hits in by_touch.values():
        touch_hits.sort(key=lambda h: (h.at, h.id))
        hidden = [h.at for h in touch_hits if h.machine == MachineReason.HIDDEN_LINK]
        for hit in touch_hits:
            if hit.machine is None and _near(hidden, hit.at, burst):
                found[hit.id] = MachineReason.HIDDEN_LINK
        clicks = [h for h in touch_hits if h.type == EventType.CLICK]
        for i in _other_link_within(clicks, burst):
            if clicks[i].machine is None and clicks[i].id not in found:
                found[clicks[i].id] = MachineReason.LINK_BURST
    return found


def _near(times: list[datetime], at: datetime, burst: timedelta) -> bool:
    """Whether sorted ``times`` hold one within ``burst`` of ``at``."""
    i = bisect_left(times, at - burst)
    return i < len(times) and times[i] <= at + burst


def _other_link_within(clicks: list[Hit], burst: timedelta) -> list[int]:
    """Indexes of the (time-sorted) clicks with a click on another URL within ``burst``: the
    nearest click on another URL on either side is the only one to look at."""
    n = len(clicks)
    before: list[int | None] = [None] * n
    after: list[int | None] = [None] * n
    for i in range(1, n):
        before[i] = i - 1 if clicks[i - 1].url != clicks[i].url else before[i - 1]
    for i in range(n - 2, -1, -1):
        after[i] = i + 1 if clicks[i + 1].url != clicks[i].url else after[i + 1]
    return [
        i
        for i in range(n)
        if any(
            j is not None and abs(clicks[j].at - clicks[i].at) <= burst
            for j in (before[i], after[i])
        )
    ]


async def judge_bursts(
    session: AsyncSession,
    burst_seconds: float,
    *,
    touch_ids: Iterable[int] | None = None,
    around: tuple[datetime, datetime] | None = None,
    since: datetime | None = None,
) -> int:
    """Mark the opens and clicks that bursts show to be a machine's, over the sends given
    (after a batch of hits: only their hits ``around`` the batch's first and last, a burst
    apart, matter) or over the sends with a hit since a moment (before a scoring pass: hits
    that other processes wrote at the same time). Returns how many were marked."""
    if burst_seconds <= 0:
        return 0
    columns = (
        Event.id,
        Event.touch_id,
        Event.type,
        Event.occurred_at,
        Event.data["url"].as_string().label("url"),
        Event.machine,
    )
    where: list[Any] = [Event.type.in_(ENGAGEMENT), Event.touch_id.is_not(None)]
    queries = []
    if touch_ids is not None:
        if around is not None:
            gap = timedelta(seconds=burst_seconds)
            where += [Event.occurred_at >= around[0] - gap, Event.occurred_at <= around[1] + gap]
        queries = [
            select(*columns).where(*where, Event.touch_id.in_(part))
            for part in chunked(sorted(set(touch_ids)))
        ]
    elif since is not None:
        # The hits of the sends hit since then, from a burst before it: one may straddle it.
        recent = select(Event.touch_id).where(*where, Event.occurred_at >= since)
        queries = [
            select(*columns).where(
                *where,
                Event.touch_id.in_(recent.scalar_subquery()),
                Event.occurred_at >= since - timedelta(seconds=burst_seconds),
            )
        ]
    hits = [
        Hit(r.id, r.touch_id, r.type, r.occurred_at, r.url, r.machine)
        for query in queries
        for r in await session.execute(query)
    ]
    found = bursts(hits, timedelta(seconds=burst_seconds))
    await mark_machine(session, found)
    return len(found)
