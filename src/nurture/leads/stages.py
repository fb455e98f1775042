"""Lifecycle stages: the funnel a lead moves down. Every change is a ``stage_changed`` event,
written by ``leads.service.change_stage`` (the one path every stage change takes)."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    SUBSCRIBER = "subscriber"  # gave an address, not yet confirmed (double opt-in)
    LEAD = "lead"  # confirmed; in nurture
    MQL = "mql"  # marketing-qualified: the score crossed the threshold; offered to sales
    SQL = "sql"  # sales-accepted
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    RECYCLED = "recycled"  # sales rejected it: back to nurture, engagement counts afresh


FUNNEL = (Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
# Stages a CRM reports back (the API and `nurture leads stage`): sales owns the lead by then.
CRM_STAGES = (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
# Stages a sequence goal may name: reaching it or any later funnel stage ends the drip.
GOAL_STAGES = (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)


def at_or_after(stage: Stage) -> tuple[Stage, ...]:
    """The funnel stages from ``stage`` on (a goal 'mql' is reached by an SQL, too)."""
    return FUNNEL[FUNNEL.index(stage) :]
