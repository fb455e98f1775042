"""Start the sequences that a stage, an event, inactivity or a date triggers, set-based: one
query per sequence finds the leads it enrols (with the number of their entry), one insert
each for their enrollments, first touches and events (``ledger.enrollment.enrol_many``).

The rules, exactly (docs/lifecycle.md):

- every trigger enrols only leads that can be mailed (``engagement.mailable``) and whom the
  sequence's ``reenter`` lets in: ``never``, no earlier entry; a period, none that is live or
  ended less than that period ago;
- ``stage: X``: the lead is at X or a later funnel stage now, and changed to one of them
  within the catch-up window and after its last entry into this sequence began;
- ``event: E`` (+ ``properties``): a person's event E whose data has those values, within
  the catch-up window and after the lead's last entry began;
- ``inactive_for: P``: the lead has been known for P and did not engage for P;
- ``date_field: custom.F`` (+ ``offset``): the ISO date in custom.F, moved by the offset, is
  today (UTC) or passed within the catch-up window; once per date: a lead that entered
  within the window does not enter again.

The catch-up window keeps a new sequence, or a pass that did not run for a while, from
enrolling the whole history: a change, event or date older than it starts nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig, Trigger
from nurture.db import is_postgres
from nurture.journeys.engagement import engaged_since, mailable
from nurture.journeys.goals import short_of_goals
from nurture.leads.events import EventType, human
from nurture.leads.models import Event, Lead
from nurture.leads.stages import FUNNEL, Stage, at_or_after
from nurture.ledger.enrollment import enrol_many
from nurture.ledger.models import Enrollment

CATCH_UP = timedelta(days=7)


def reached(stage: str) -> tuple[str, ...]:
    """The stages at which a lead has reached ``stage``: it and the later funnel stages
    (recycled, outside the funnel, only itself)."""
    return at_or_after(Stage(stage)) if stage in FUNNEL else (stage,)


def _property(key: str, value: bool | int | str, postgres: bool) -> ColumnElement[bool]:
    """The event's data has ``value`` at ``key``, of the same JSON type: "3" is not 3, nor
    "true" true (PostgreSQL's casts would take them)."""
    item = Event.data[key]
    if isinstance(value, bool):  # before int: a bool is an int
        compare, pg, lite = item.as_boolean() == value, "boolean", ("true", "false")
    elif isinstance(value, int):
        compare, pg, lite = item.as_integer() == value, "number", ("integer",)
    else:
        compare, pg, lite = item.as_string() == value, "string", ("text",)
    if postgres:
        return and_(func.jsonb_typeof(item) == pg, compare)
    path = '$."' + key.replace('"', "") + '"'
    return and_(func.json_type(Event.data, path).in_(lite), compare)


def _candidates(sequence: SequenceConfig, now: datetime, postgres: bool) -> Select[Any] | None:
    """The leads the sequence's trigger enrols now, with the number of their entry; None for
    a sequence that only forms start."""
    trigger: Trigger = sequence.trigger
    e = aliased(Enrollment)
    mine = and_(e.lead_id == Lead.id, e.sequence_id == sequence.id)
    if sequence.reenter == "never":
        allowed = ~exists().where(mine)
    else:
        recent = or_(e.ended_at.is_(None), e.ended_at > now - sequence.reenter)
        allowed = ~exists().where(mine, recent)
    entry = select(func.coalesce(func.max(e.entry), 0) + 1).where(mine).scalar_subquery()
    # The events that start it, read from the events' (type, occurred_at) index: the few
    # recent ones of one type, not every lead's whole log. Each came after the lead's last
    # entry into this sequence began.
    after_last = ~exists().where(
        e.lead_id == Event.lead_id, e.sequence_id == sequence.id, e.enrolled_at >= Event.occurred_at
    )
    since = now - CATCH_UP
    when: ColumnElement[bool]
    if trigger.stage:
        stages = reached(trigger.stage)
        changed = select(Event.lead_id).where(
            Event.type == EventType.STAGE_CHANGED,
            Event.occurred_at > since,
            Event.data["stage"].as_string().in_(stages),
            after_last,
        )
        when = and_(Lead.lifecycle_stage.in_(stages), Lead.id.in_(changed))
    elif trigger.event:
        matches = [_property(k, v, postgres) for k, v in trigger.properties.items()]
        happened = select(Event.lead_id).where(
            Event.type == trigger.event,
            Event.occurred_at > since,
            human(),
            *matches,
            after_last,
        )
        when = Lead.id.in_(happened)
    elif trigger.inactive_for:
        quiet_since = now - trigger.inactive_for
        when = and_(Lead.created_at <= quiet_since, ~engaged_since(Lead.id, quiet_since))
    elif trigger.date_field:
        name = trigger.date_field.removeprefix("custom.")
        day = func.substr(Lead.custom[name].as_string(), 1, 10)
        # ISO dates order as strings; the LIKE keeps other strings out of the comparison
        latest = (now.date() - trigger.offset).isoformat()
        earliest = (now.date() - trigger.offset - CATCH_UP).isoformat()
        once = ~exists().where(mine, e.enrolled_at > since)
        when = and_(day.like("____-__-__"), day <= latest, day > earliest, once)
    else:
        return None
    return (
        select(Lead.id, Lead.timezone, entry.label("entry"))
        # a lead past the goal would be enrolled and get a first touch before the next
        # pass ended the drip (a quiet customer and the re-engagement's goal mql)
        .where(mailable(), allowed, when, short_of_goals(sequence))
        .order_by(Lead.id)
    )


async def enrol_triggered(session: AsyncSession, project: Project, now: datetime) -> Counter[str]:
    """Enrol every lead a sequence's trigger starts now. Returns how many, by trigger kind."""
    counts: Counter[str] = Counter()
    for sequence in project.sequences.values():
        query = _candidates(sequence, now, is_postgres(session))
        if query is None:
            continue
        rows = (await session.execute(query)).all()
        if not rows:
            continue
        entries = {(r.id, sequence.id): r.entry for r in rows}
        wanted = [(r, [sequence], False, now) for r in rows]
        enrolled = await enrol_many(session, project.versions, wanted, entries)
        counts[sequence.trigger.kind or ""] += len(enrolled)
    return counts
