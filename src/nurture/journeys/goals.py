"""End the drips whose goals their leads reached: the hand-off pass for every lead, the CRM
API at once for the lead it moved (a customer gets no further nurture touch, even before the
next pass). Several sequences can end at once: each one's goals are checked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sequences import SequenceConfig
from nurture.leads import stages
from nurture.leads.events import human
from nurture.leads.models import Event, Lead
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment


def goal_stages(sequence: SequenceConfig) -> set[str]:
    """The stages at which a lead has reached one of the sequence's stage goals already."""
    return {s for goal in sequence.goals if goal.stage for s in stages.at_or_after(goal.stage)}


def short_of_goals(sequence: SequenceConfig) -> ColumnElement[bool]:
    """Leads (``Lead``) who have not reached a stage goal of the sequence: only these are
    enrolled by a trigger or an import. An event goal is counted from the entry on, so a new
    entry has reached none."""
    return Lead.lifecycle_stage.not_in(sorted(goal_stages(sequence)))


async def apply_goals(
    session: AsyncSession, project: Project, now: datetime, lead_ids: Sequence[int] | None = None
) -> int:
    """End every live enrollment whose sequence has a goal its lead has reached (set-based:
    one statement per goal), of the leads ``lead_ids`` or of all. Returns how many ended."""
    ended = 0
    only: list[ColumnElement[bool]] = []
    if lead_ids is not None:
        only = [Enrollment.lead_id.in_(list(lead_ids))]
    for sequence in project.sequences.values():
        for goal in sequence.goals:
            if goal.stage:
                # The lead's stage by primary key for each live enrollment: a scalar subquery
                # cannot be turned into a join, which PostgreSQL, with statistics gone stale
                # by the promotion in this very transaction, ran as 20k x 1k nested loops.
                stage = select(Lead.lifecycle_stage).where(Lead.id == Enrollment.lead_id)
                reached = stage.scalar_subquery().in_(stages.at_or_after(goal.stage))
            else:
                # since this entry began: a re-entered lead reaches the goal afresh
                reached = exists().where(
                    Event.lead_id == Enrollment.lead_id,
                    Event.type == goal.event,
                    Event.occurred_at >= Enrollment.enrolled_at,
                    human(),  # a scanner's click reaches no goal
                )
            where = [Enrollment.sequence_id == sequence.id, reached, *only]
            ended += await exit_matching(session, where, goal.name, now)
    return ended
