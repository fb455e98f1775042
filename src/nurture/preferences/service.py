"""Saving a lead's preferences: which topics it wants no mail of, and a pause of all marketing
mail. Set-based over many leads, idempotent: saving the same choice again changes nothing and
records nothing; each save that changes something records one ``preferences_changed`` event
saying what changed.

Opting out of a topic also ends the lead's live enrollments in that topic's sequences (reason
``topic_opted_out``): nothing of them is due any more, and opting back in later does not
restart a drip half-way (a new form post or trigger enrols again). A pause ends nothing:
touches falling due during it wait until it is over (``gate``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.db import chunked, insert_ignoring_conflicts
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import Lead
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment
from nurture.locales.codes import localized
from nurture.preferences.models import Pause, TopicOptOut

# "Pause all marketing mail for 30 days" on the page.
PAUSE = timedelta(days=30)
# Why a touch or an enrollment ended: the lead opted out of its sequence's topic.
TOPIC_OPTED_OUT = "topic_opted_out"


def topics(project: Project) -> list[str]:
    """The topics a lead can opt out of: every ``topic`` of the project's sequences."""
    return sorted({s.topic for s in project.sequences.values() if s.topic})


def topic_labels(project: Project, locale: str) -> dict[str, str]:
    """Each topic as the preference page names it in ``locale``: the sequences'
    ``topic_label`` by the fallback chain over their locales, else the topic with hyphens as
    spaces."""
    labels = {t: t.replace("-", " ").replace("_", " ").capitalize() for t in topics(project)}
    for sequence in project.sequences.values():
        if sequence.topic and sequence.topic_label is not None:
            labels[sequence.topic] = localized(sequence.topic_label, locale, sequence.locales)
    return labels


@dataclass(frozen=True)
class Choice:
    """What a lead chose on the page. ``offered``: the topics the page showed (others stay as
    they were: a topic added to the config after the page was loaded is not opted out of);
    ``wanted``: those of them still ticked. ``pause``: paused (a running pause keeps its end:
    a replayed post does not extend it) or not (a running pause is lifted). ``sent``: the
    (sequence, step) whose email the page's link was in, recorded on the event for reports."""

    lead_id: int
    offered: frozenset[str]
    wanted: frozenset[str]
    pause: bool
    sent: tuple[str, str] | None = None


@dataclass(frozen=True)
class Preferences:
    opted_out: dict[str, datetime] = field(default_factory=dict)  # topic -> since when
    paused_until: datetime | None = None  # a running pause only

    def paused(self) -> bool:
        return self.paused_until is not None


async def preferences_of(
    session: AsyncSession, lead_ids: Iterable[int], now: datetime
) -> dict[int, Preferences]:
    """Each lead's preferences as they hold at ``now`` (the default for leads without any)."""
    ids = sorted(set(lead_ids))
    opted: dict[int, dict[str, datetime]] = defaultdict(dict)
    for part in chunked(ids):
        rows = await session.execute(
            select(TopicOptOut.lead_id, TopicOptOut.topic, TopicOptOut.opted_out_at).where(
                TopicOptOut.lead_id.in_(part)
            )
        )
        for lead_id, topic, at in rows:
            opted[lead_id][topic] = at
    paused = await running_pauses(session, ids, now)
    return {i: Preferences(dict(opted.get(i, {})), paused.get(i)) for i in ids}


async def running_pauses(
    session: AsyncSession, lead_ids: Iterable[int], now: datetime
) -> dict[int, datetime]:
    """Lead id -> the end of its pause, for the leads paused at ``now``."""
    paused: dict[int, datetime] = {}
    for part in chunked(sorted(set(lead_ids))):
        rows = await session.execute(
            select(Pause.lead_id, Pause.paused_until).where(
                Pause.lead_id.in_(part), Pause.paused_until > now
            )
        )
        paused.update(dict(rows.all()))  # type: ignore[arg-type]
    return paused


def _changes(choice: Choice, now_holds: Preferences, now: datetime) -> dict[str, Any]:
    """What saving ``choice`` changes (empty: nothing), as the event's data."""
    out = set(now_holds.opted_out)
    changes: dict[str, Any] = {}
    if opted_out := sorted((choice.offered - choice.wanted) - out):
        changes["opted_out"] = opted_out
    if opted_in := sorted((choice.offered & choice.wanted) & out):
        changes["opted_in"] = opted_in
    if choice.pause and not now_holds.paused():
        changes["paused_until"] = now + PAUSE
    elif not choice.pause and now_holds.paused():
        changes["pause_lifted"] = True
    return changes


async def set_preferences(
    session: AsyncSession, project: Project, choices: list[Choice], now: datetime, via: str
) -> dict[int, dict[str, Any]]:
    """Save the leads' choices; returns what changed per lead (empty: nothing). ``via``: where
    the choice was made (``page``), recorded on the event."""
    ids = sorted({c.lead_id for c in choices})
    # Two posts of one lead at once (a double click, a replay) are serialised here, and the
    # second then sees what the first saved (PostgreSQL; SQLite holds the writer lock).
    for part in chunked(ids):
        await session.execute(select(Lead.id).where(Lead.id.in_(part)).with_for_update())
    holds = await preferences_of(session, ids, now)
    changed = {c.lead_id: _changes(c, holds[c.lead_id], now) for c in choices}
    changed = {lead_id: data for lead_id, data in changed.items() if data}
    opt_outs = [
        {"lead_id": i, "topic": t, "opted_out_at": now}
        for i, data in changed.items()
        for t in data.get("opted_out", [])
    ]
    opt_ins = [(i, t) for i, data in changed.items() for t in data.get("opted_in", [])]
    pause_changes = [i for i, d in changed.items() if "paused_until" in d or "pause_lifted" in d]
    pauses = [
        {"lead_id": i, "paused_at": now, "paused_until": d["paused_until"]}
        for i, d in changed.items()
        if "paused_until" in d
    ]
    for rows in chunked(opt_outs):
        stmt = insert_ignoring_conflicts(session, TopicOptOut.__table__, "lead_id", "topic")
        await session.execute(stmt, list(rows))
    for pairs in chunked(opt_ins):
        key = tuple_(TopicOptOut.lead_id, TopicOptOut.topic)
        await session.execute(delete(TopicOptOut).where(key.in_(pairs)))
    # A new pause replaces an ended one; a lifted pause goes.
    for part in chunked(pause_changes):
        await session.execute(delete(Pause).where(Pause.lead_id.in_(part)))
    for rows in chunked(pauses):
        await session.execute(Pause.__table__.insert(), list(rows))
    await _end_opted_out(session, project, opt_outs, now)
    sent = {c.lead_id: c.sent or (None, None) for c in choices}
    await record_events(
        session,
        (
            event_row(
                i,
                EventType.PREFERENCES_CHANGED,
                now,
                sequence_id=sent[i][0],
                step_id=sent[i][1],
                via=via,
                **_storable(data),
            )
            for i, data in changed.items()
        ),
    )
    return changed


async def _end_opted_out(
    session: AsyncSession, project: Project, opt_outs: list[dict[str, Any]], now: datetime
) -> None:
    """End the live enrollments of the sequences whose topics were just opted out of."""
    by_topic: dict[str, list[str]] = defaultdict(list)
    for sequence in project.sequences.values():
        if sequence.topic:
            by_topic[sequence.topic].append(sequence.id)
    pairs = [(o["lead_id"], s) for o in opt_outs for s in by_topic.get(str(o["topic"]), [])]
    for part in chunked(pairs):
        key = tuple_(Enrollment.lead_id, Enrollment.sequence_id)
        await exit_matching(session, [key.in_(part)], TOPIC_OPTED_OUT, now)


def _storable(changes: dict[str, Any]) -> dict[str, Any]:
    """The event's data: the pause's end as ISO 8601 (JSON has no datetimes)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()}
