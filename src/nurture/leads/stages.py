"""Lifecycle stages: the funnel a lead moves down. Every change is a ``stage_changed`` event."""

from __future__ import annotations

SUBSCRIBER = "subscriber"  # gave an address, not yet confirmed (double opt-in)
LEAD = "lead"  # confirmed; in nurture
MQL = "mql"  # marketing-qualified: the score crossed the threshold; offered to sales
SQL = "sql"  # sales-accepted
OPPORTUNITY = "opportunity"
CUSTOMER = "customer"
RECYCLED = "recycled"  # sales rejected it: back to nurture, engagement counts afresh

FUNNEL = (SUBSCRIBER, LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER)
STAGES = (*FUNNEL, RECYCLED)


def at_or_after(stage: str) -> tuple[str, ...]:
    """The funnel stages from ``stage`` on (a goal 'mql' is reached by an SQL, too)."""
    return FUNNEL[FUNNEL.index(stage) :]
