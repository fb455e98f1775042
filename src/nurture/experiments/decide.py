"""Deciding an experiment (docs/experiments.md#the-winner): a step with ``winner.after: N``
is decided once every variant that is sent (weight above 0) has at least N sends and one
variant is significantly better than the control at the step's confidence level (the best
of those, if several), or the control is significantly better than every other. The
decision is a row in experiment_winners, inserted with ON CONFLICT DO NOTHING on its key
(sequence, step): two dispatchers deciding at once decide once, and only the one whose row
went in reports it. From then on new touches of the step get only the winner
(experiments.assign)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sequences import Step
from nurture.db import insert_ignoring_conflicts
from nurture.experiments.counts import Key, VariantCounts, variant_counts
from nurture.experiments.models import ExperimentWinner
from nurture.experiments.stats import Arm, Comparison, compare

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    sequence_id: str
    step_id: str
    variant: str
    metric: str
    stats: dict[str, Any]
    decided_at: datetime


def experiments(project: Project) -> dict[Key, Step]:
    """Every step with variants, by (sequence id, step id)."""
    return {
        (sequence.id, step.id): step
        for sequence in project.sequences.values()
        for step in sequence.steps
        if step.variants
    }


def arms(step: Step, counts: dict[str, VariantCounts], metric: str) -> list[Arm]:
    """One arm per variant of the config, in its order (the control first)."""
    return [
        Arm(
            v.id,
            counts.get(v.id, VariantCounts()).sends,
            counts.get(v.id, VariantCounts()).successes(metric),
        )
        for v in step.variants
    ]


def stats_of(arm_list: list[Arm], comparisons: list[Comparison]) -> dict[str, Any]:
    """What a decision rests on, as stored in experiment_winners.stats."""
    out: dict[str, Any] = {
        "control": arm_list[0].variant,
        "variants": {a.variant: {"sends": a.sends, "successes": a.successes} for a in arm_list},
    }
    for arm, c in zip(arm_list[1:], comparisons, strict=True):
        out["variants"][arm.variant].update(
            difference=c.difference, low=c.low, high=c.high, p_value=c.p_value
        )
    out["confidence"] = comparisons[0].confidence if comparisons else None
    return out


def choose(step: Step, arm_list: list[Arm]) -> tuple[str, list[Comparison]] | None:
    """The winning variant id and the comparisons with the control, or None (not yet)."""
    assert step.winner is not None and step.winner.after is not None
    confidence = step.winner.confidence
    control, others = arm_list[0], arm_list[1:]
    comparisons = [compare(control, other, confidence) for other in others]
    sent = [a for a, v in zip(arm_list, step.variants, strict=True) if v.weight > 0]
    if not sent or any(a.sends < step.winner.after for a in sent) or control.sends == 0:
        return None
    better = [
        (c.difference, arm.variant)
        for arm, c in zip(others, comparisons, strict=True)
        if arm.sends and c.significant() and (c.difference or 0) > 0
    ]
    if better:
        return max(better)[1], comparisons
    worse = [c.significant() and (c.difference or 0) < 0 for c in comparisons]
    if worse and all(worse):
        return control.variant, comparisons
    return None


async def decide_experiments(
    session: AsyncSession, project: Project, now: datetime
) -> list[Decision]:
    """Decide every step that is due a decision and has none; returns the decisions this
    call made (a concurrent call's are not in it). Set-based: one count for all steps."""
    due = {
        key: step
        for key, step in experiments(project).items()
        if step.winner is not None and step.winner.after is not None
    }
    if not due:
        return []
    decided = set(
        (
            await session.execute(select(ExperimentWinner.sequence_id, ExperimentWinner.step_id))
        ).tuples()
    )
    open_ = {k: s for k, s in due.items() if k not in decided}
    if not open_:
        return []
    counts = await variant_counts(session, set(open_))
    made: list[Decision] = []
    for (sequence_id, step_id), step in sorted(open_.items()):
        assert step.winner is not None
        metric = step.winner.metric
        arm_list = arms(step, counts.get((sequence_id, step_id), {}), metric)
        chosen = choose(step, arm_list)
        if chosen is None:
            continue
        variant, comparisons = chosen
        stats = stats_of(arm_list, comparisons)
        row = dict(
            sequence_id=sequence_id,
            step_id=step_id,
            variant=variant,
            metric=metric,
            stats=stats,
            decided_at=now,
        )
        result = await session.execute(
            insert_ignoring_conflicts(
                session, ExperimentWinner.__table__, "sequence_id", "step_id"
            ),
            [row],
        )
        if result.rowcount:  # type: ignore[attr-defined]
            log.info(
                "experiment %s/%s decided: %s wins on %s (%s)",
                sequence_id,
                step_id,
                variant,
                metric,
                stats,
            )
            made.append(Decision(sequence_id, step_id, variant, metric, stats, now))
    return made
