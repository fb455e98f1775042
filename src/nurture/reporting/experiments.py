"""The report's experiments section: per step with variants, each variant's sends, a
person's opens and clicks, and its difference to the control with the interval and p-value
at the step's confidence level (experiments.stats), the winner if decided, and how many
more sends a stated difference needs. Counted over the variants' whole history (an
experiment's arms are compared on everything they sent), two grouped queries for all steps
(experiments.counts)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.experiments.counts import VariantCounts, variant_counts
from nurture.experiments.decide import arms, experiments
from nurture.experiments.models import ExperimentWinner
from nurture.experiments.stats import compare, sends_needed
from nurture.reporting.funnel_models import ExperimentMetrics, VariantMetrics
from nurture.reporting.funnel_queries import rate

POWER = 0.8
DEFAULT_DIFFERENCE = 0.02  # two points: 5 % -> 7 % is a change a marketer acts on


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


async def experiment_metrics(
    session: AsyncSession,
    project: Project,
    sequence_id: str | None = None,
    min_difference: float = DEFAULT_DIFFERENCE,
) -> list[ExperimentMetrics]:
    steps = {
        key: step
        for key, step in experiments(project).items()
        if sequence_id is None or key[0] == sequence_id
    }
    if not steps:
        return []
    counts = await variant_counts(session, set(steps))
    decided = {
        (w.sequence_id, w.step_id): w
        for w in await session.scalars(select(ExperimentWinner))
        if (w.sequence_id, w.step_id) in steps
    }
    out = []
    for key, step in steps.items():
        metric = step.winner.metric if step.winner else "clicks"
        confidence = step.winner.confidence if step.winner else 0.95
        mine = counts.get(key, {})
        arm_list = arms(step, mine, metric)
        control = arm_list[0]
        baseline = control.rate
        needed = (
            sends_needed(baseline, min_difference, 1 - confidence, POWER)
            if baseline is not None and 0 < baseline < 1 and baseline + min_difference < 1
            else None
        )
        rows = []
        for i, (variant, arm) in enumerate(zip(step.variants, arm_list, strict=True)):
            c = mine.get(variant.id, VariantCounts())
            vs = compare(control, arm, confidence) if i else None
            rows.append(
                VariantMetrics(
                    variant=variant.id,
                    control=i == 0,
                    weight=variant.weight,
                    sends=c.sends,
                    human_opens=c.opens,
                    human_clicks=c.clicks,
                    open_rate=rate(c.opens, c.sends),
                    click_rate=rate(c.clicks, c.sends),
                    difference=_round(vs.difference) if vs else None,
                    low=_round(vs.low) if vs else None,
                    high=_round(vs.high) if vs else None,
                    # significant figures: a p-value of 0.00004 is not 0
                    p_value=float(f"{vs.p_value:.4g}") if vs and vs.p_value is not None else None,
                    significant=vs.significant() if vs else False,
                    sends_still_needed=None if needed is None else max(needed - c.sends, 0),
                )
            )
        winner = decided.get(key)
        out.append(
            ExperimentMetrics(
                sequence=key[0],
                step=key[1],
                metric=metric,
                confidence=confidence,
                after=step.winner.after if step.winner else None,
                winner=winner.variant if winner else None,
                decided_at=winner.decided_at if winner else None,
                min_difference=min_difference,
                sends_needed=needed,
                variants=rows,
            )
        )
    return out
