"""What of a claimed batch may go out, decided in the claim's transaction (docs/delivery.md,
step 3): touches whose lead is suppressed, whose enrollment ended, whose sequence or step was
removed, or whose step condition is false now are skipped, with the reason; of the rest,
the contact policy defers some (nurture.policy.gate: a higher-priority sequence, a quiet day,
the cap) to a later due time; what is left becomes ``Work``. Set-based: one statement per kind
of skip, not one per lead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.dispatch.work import Work
from nurture.experiments.assign import assign
from nurture.leads.models import Lead
from nurture.ledger import claims
from nurture.ledger.claims import Claimed
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import Enrollment, EnrollmentState, Touch
from nurture.ledger.progress import advance
from nurture.policy.gate import Candidate, Deferral, DeferReason, hold_back
from nurture.preferences.gate import respect_preferences
from nurture.rendering.compose import LEAD_FIELDS, lead_context
from nurture.scoring.score import score_of
from nurture.sequences.conditions import Engagement, evaluate, load_engagement


@dataclass
class Triage:
    work: list[Work] = field(default_factory=list)  # to render and send, in touch id order
    skipped: list[tuple[Claimed, str]] = field(default_factory=list)  # recorded, with reason
    # Their step's condition could not be evaluated: due again after the retry delay.
    unevaluated: list[Claimed] = field(default_factory=list)
    error: str | None = None  # why (the last such failure)
    # Not sent now by a rule of the gate: released, due again at their new time.
    deferred: list[Deferral] = field(default_factory=list)

    def defer(self, deferrals: list[Deferral]) -> None:
        """Take these touches out of the work: they are released with their new due time."""
        self.deferred += deferrals
        held = {d.touch.id for d in deferrals}
        self.work = [w for w in self.work if w.touch.id not in held]


async def triage(
    session: AsyncSession,
    project: Project,
    ids: list[int],
    now: datetime,
    worker: str,
    clock: datetime,
) -> Triage:
    """Sort the claimed touches ``ids`` (claimed by ``worker``, leases tested by ``clock``)
    and record the skipped ones ('skipped' with the reason; their enrollments end or move on
    as the reason says) and the deferred ones (released, due again later)."""
    batch = Triage()
    candidates: list[Work] = []
    for row in await _load(session, ids):
        reason = _skip_reason(row, project)
        if reason:
            batch.skipped.append((_claimed(row, row.step_index), reason))
        else:
            # Steps are matched by id: they may have been reordered since scheduling.
            index = project.sequences[row.sequence_id].step_index(row.step_id)
            work = Work(_claimed(row, index), lead_context(row), row.public_id, row.variant)  # type: ignore[arg-type]
            candidates.append(work)
    candidates, paused = await respect_preferences(session, project, candidates, batch.skipped, now)
    batch.defer([Deferral(t, due, DeferReason.PAUSED) for t, due in paused])
    verdicts = await _conditions(session, project, candidates)
    for work in candidates:
        verdict = verdicts.get(work.touch.id, True)
        if verdict is True:
            batch.work.append(work)
        elif verdict is False:
            batch.skipped.append((work.touch, "condition_false"))
        else:
            batch.unevaluated.append(work.touch)
            batch.error = verdict
    # The gate's rules in order, each on what the one before let through.
    batch.defer(await hold_back(session, project, _candidates(batch), now, worker, clock))
    # What goes out gets its experiment arm here, in the claim's transaction: recorded before
    # SMTP, so a crash or a retry sends the same variant (docs/experiments.md).
    batch.work = await assign(session, project, batch.work)
    await _skip(session, batch.skipped, project, now)
    await claims.defer(session, [(d.touch.id, d.due_at) for d in batch.deferred], worker, now)
    return batch


def _candidates(batch: Triage) -> list[Candidate]:
    return [Candidate(w.touch, w.lead["country"]) for w in batch.work]


async def _load(session: AsyncSession, ids: list[int]) -> list[Row[Any]]:
    """One plain row per claimed touch with what rendering and the skip rules need (Core,
    not ORM objects: a batch loads thousands)."""
    columns = [getattr(Lead, f) for f in LEAD_FIELDS]
    rows = await session.execute(
        select(
            Touch.id,
            Touch.enrollment_id,
            Touch.lead_id,
            Touch.sequence_id,
            Touch.step_id,
            Touch.step_index,
            Touch.attempts,
            Touch.variant,
            Lead.public_id,
            Lead.custom,
            Lead.suppressed_at,
            Lead.suppression_reason,
            Enrollment.state.label("enrollment_state"),
            score_of(Lead.id).label("score"),
            *columns,
        )
        .join(Lead, Lead.id == Touch.lead_id)
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .where(Touch.id.in_(ids))
        .order_by(Touch.id)
    )
    return list(rows.all())


def _claimed(row: Row[Any], step_index: int) -> Claimed:
    return Claimed(
        row.id,
        row.enrollment_id,
        row.lead_id,
        row.timezone,
        row.sequence_id,
        row.step_id,
        step_index,
        row.attempts,
    )


def _skip_reason(row: Row[Any], project: Project) -> str | None:
    if row.suppressed_at is not None:
        return f"suppressed_{row.suppression_reason or 'lead'}"
    if row.enrollment_state != EnrollmentState.ACTIVE:
        return f"enrollment_{row.enrollment_state}"
    if row.sequence_id not in project.sequences:
        return "sequence_removed"
    if project.sequences[row.sequence_id].step_index(row.step_id) is None:
        return "step_removed"
    return None


async def _conditions(
    session: AsyncSession, project: Project, candidates: list[Work]
) -> dict[int, bool | str]:
    """Touch id -> whether its step's condition holds now, or why it cannot be evaluated;
    only for touches whose step has a condition."""

    def condition(w: Work) -> str | None:
        return project.sequences[w.touch.sequence_id].steps[w.touch.step_index].condition

    conditional = [w for w in candidates if condition(w)]
    if not conditional:
        return {}
    engagement = await load_engagement(
        session, {(w.touch.lead_id, w.touch.sequence_id) for w in conditional}
    )
    verdicts: dict[int, bool | str] = {}
    for work in conditional:
        touch = work.touch
        sequence = project.sequences[touch.sequence_id]
        done = engagement.get((touch.lead_id, touch.sequence_id), Engagement())
        try:
            verdicts[touch.id] = evaluate(sequence, touch.step_index, work.lead, done)
        except Exception as exc:
            verdicts[touch.id] = (
                f"{sequence.id}/{touch.step_id}: condition cannot be evaluated: {exc}"
            )
    return verdicts


async def _skip(
    session: AsyncSession, skipped: list[tuple[Claimed, str]], project: Project, now: datetime
) -> None:
    by_reason: dict[str, list[Claimed]] = defaultdict(list)
    for touch, reason in skipped:
        by_reason[reason].append(touch)
    for reason, touches in by_reason.items():
        await claims.skip(session, [t.id for t in touches], reason, now)
        if reason.startswith("suppressed"):
            leads = sorted({t.lead_id for t in touches})
            await exit_matching(session, [Enrollment.lead_id.in_(leads)], reason, now)
        elif reason == "sequence_removed":
            ended = [t.enrollment_id for t in touches]
            await exit_matching(session, [Enrollment.id.in_(ended)], reason, now)
    # advance() finds the next step by id.
    moving_on = by_reason.get("condition_false", []) + by_reason.get("step_removed", [])
    if moving_on:
        await advance(session, moving_on, project, now)
