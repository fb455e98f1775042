"""Promote qualified leads to MQL, route each to a sales rep, and take the rep's answer (the
goals that end drips are in journeys/goals.py). Functions take a session and never commit.

Promotion and the handoff row are written in the same transaction as the stage change, so a
rerun finds the lead already an MQL and hands nothing off twice; a partial unique index allows
one pending handoff per lead whatever races happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project
from nurture.config.sales import Rep, SalesConfig
from nurture.config.scoring import ScoringConfig
from nurture.db import chunked, update_by_id
from nurture.handoff.models import Handoff, HandoffState
from nurture.leads.events import EventType, event_row, record_event, record_events
from nurture.leads.models import Lead
from nurture.leads.service import StageChange, change_stage
from nurture.leads.stages import Stage
from nurture.ledger.enrollment import enrol_many
from nurture.scoring.score import score_total, totals

FALLBACK = "fallback"


@dataclass(frozen=True)
class Promoted:
    lead_ids: list[int]
    handoffs: int


def qualifying(scoring: ScoringConfig) -> Subquery:
    """The leads that qualify as MQL by their current scores: at or over the threshold,
    confirmed (lead or recycled) and not suppressed; (id, lifecycle_stage, score, country).
    What the hand-off pass promotes, and what ``nurture plan`` counts."""
    t = totals().having(score_total() >= scoring.mql_threshold).subquery()
    return (
        select(Lead.id, Lead.lifecycle_stage, t.c.total.label("score"), Lead.country)
        .join(t, t.c.lead_id == Lead.id)
        .where(Lead.lifecycle_stage.in_((Stage.LEAD, Stage.RECYCLED)), Lead.suppressed_at.is_(None))
        .subquery()
    )


async def promote(session: AsyncSession, project: Project, now: datetime) -> Promoted:
    """Leads at or over the MQL threshold (confirmed, not suppressed) become MQLs and, with a
    config/sales.yaml, are handed to a rep."""
    if project.scoring is None:
        return Promoted([], 0)
    q = qualifying(project.scoring)
    rows = (await session.execute(select(q).order_by(q.c.id))).all()
    if not rows:
        return Promoted([], 0)
    ids = [r.id for r in rows]
    changes = [StageChange(r.id, r.lifecycle_stage, {"score": r.score}) for r in rows]
    await change_stage(session, Stage.MQL, changes, now)
    handoffs = 0
    if project.sales is not None:
        leads = [(r.id, r.country, r.score) for r in rows]
        handoffs = await hand_off(session, project.sales, leads, now)
    return Promoted(ids, handoffs)


async def _last_assigned(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(Handoff.territory, Handoff.rep_email, func.max(Handoff.id)).group_by(
            Handoff.territory, Handoff.rep_email
        )
    )
    return {(t, e): n for t, e, n in rows.all()}


def _pick(
    sales: SalesConfig,
    country: str | None,
    last: dict[tuple[str, str], int],
    seq: list[int],
    exclude: str | None = None,
) -> tuple[str, Rep]:
    """Round-robin within the lead's territory: the rep whose last handoff there is oldest
    (never first, in config order); the fallback owner when no territory covers the country
    or nobody else is left."""
    territory = sales.territory_for(country)
    reps = [r for r in (territory.reps if territory else []) if r.email != exclude]
    if not reps:
        return FALLBACK, sales.fallback_owner
    assert territory is not None
    rep = min(reps, key=lambda r: last.get((territory.id, r.email), 0))
    seq[0] += 1
    last[(territory.id, rep.email)] = seq[0]
    return territory.id, rep


async def hand_off(
    session: AsyncSession,
    sales: SalesConfig,
    leads: list[tuple[int, str | None, int]],
    now: datetime,
    *,
    exclude: dict[int, str] | None = None,
    previous: dict[int, int] | None = None,
) -> int:
    """Create a pending handoff per (lead id, country, score), routed to a rep. Returns how
    many."""
    last = await _last_assigned(session)
    seq = [max(last.values(), default=0) + 1_000_000]  # after every real id
    rows, events = [], []
    for lead_id, country, score in leads:
        territory, rep = _pick(sales, country, last, seq, (exclude or {}).get(lead_id))
        rows.append(
            {
                "lead_id": lead_id,
                "territory": territory,
                "rep_name": rep.name,
                "rep_email": str(rep.email),
                "state": HandoffState.PENDING,
                "score": score,
                "breakdown": {},  # the snapshot is taken when the rep is notified
                "previous_id": (previous or {}).get(lead_id),
                "created_at": now,
            }
        )
        events.append(
            event_row(lead_id, EventType.HANDED_OFF, now, rep=str(rep.email), territory=territory)
        )
    # executemany without RETURNING: one statement (RETURNING would go row by row on SQLite)
    await session.execute(Handoff.__table__.insert(), rows)
    lead_ids = [r["lead_id"] for r in rows]
    for part in chunked(lead_ids):
        await session.execute(
            update(Lead)
            .where(Lead.id.in_(part))
            .values(owner_email=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    await record_events(session, events)
    return len(rows)


class HandoffClosed(ValueError):
    """The handoff was answered already, or went to another rep."""

    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


async def respond(
    session: AsyncSession,
    project: Project,
    handoff_id: int,
    accept: bool,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
) -> Handoff:
    """The rep's answer. Accepted: the lead becomes an SQL owned by the rep. Rejected: the lead
    is recycled (engagement counts afresh) into the recycle sequence, with the reason."""
    handoff = await session.get(Handoff, handoff_id, with_for_update=True)
    if handoff is None:
        raise LookupError(handoff_id)
    if handoff.state != HandoffState.PENDING:
        raise HandoffClosed(handoff.state)
    lead = await session.get(Lead, handoff.lead_id, with_for_update=True)
    assert lead is not None
    handoff.responded_at = now
    if accept:
        handoff.state = HandoffState.ACCEPTED
        lead.owner_email = handoff.rep_email
        stage, kind, data = Stage.SQL, EventType.HANDOFF_ACCEPTED, {"rep": handoff.rep_email}
    else:
        handoff.state, handoff.reason, handoff.note = HandoffState.REJECTED, reason, note
        lead.score_reset_at = now
        stage, kind = Stage.RECYCLED, EventType.HANDOFF_REJECTED
        data = {"rep": handoff.rep_email, "reason": reason, "note": note}
    await record_event(session, lead.id, kind, now, **data)
    # again: the answer is recorded as a stage event even if a CRM moved the lead there first
    await change_stage(
        session, stage, [StageChange(lead.id, lead.lifecycle_stage)], now, again=True
    )
    sales = project.sales
    if not accept and sales and sales.recycle_sequence in project.sequences:
        sequence = project.sequences[sales.recycle_sequence]  # type: ignore[index]
        await enrol_many(session, project.versions, [(lead, [sequence], False, now)])
    return handoff


async def overdue(
    session: AsyncSession, sales: SalesConfig, now: datetime
) -> tuple[list[Handoff], list[Handoff]]:
    """Pending handoffs past the SLA: (to remind, to reassign)."""
    remind_before = now - sales.sla.remind_after_td
    reassign_before = now - sales.sla.reassign_after_td
    pending = Handoff.state == HandoffState.PENDING
    reassign = list(
        (
            await session.scalars(
                select(Handoff)
                .where(pending, Handoff.created_at <= reassign_before)
                .order_by(Handoff.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    remind = list(
        (
            await session.scalars(
                select(Handoff)
                .where(
                    pending,
                    Handoff.reminded_at.is_(None),
                    Handoff.notified_at.is_not(None),
                    and_(Handoff.created_at <= remind_before, Handoff.created_at > reassign_before),
                )
                .order_by(Handoff.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    return remind, reassign


async def reassign(
    session: AsyncSession, sales: SalesConfig, handoffs: list[Handoff], now: datetime
) -> int:
    """No answer within the SLA: close each and hand the lead to the next rep. Returns how
    many were handed on."""
    if not handoffs:
        return 0
    await update_by_id(
        session, Handoff, [{"id": h.id, "state": HandoffState.REASSIGNED} for h in handoffs]
    )
    await session.flush()
    countries = dict(
        (
            await session.execute(
                select(Lead.id, Lead.country).where(Lead.id.in_([h.lead_id for h in handoffs]))
            )
        ).all()
    )
    await record_events(
        session,
        [
            event_row(h.lead_id, EventType.HANDOFF_REASSIGNED, now, **{"from": h.rep_email})
            for h in handoffs
        ],
    )
    return await hand_off(
        session,
        sales,
        [(h.lead_id, countries.get(h.lead_id), h.score) for h in handoffs],
        now,
        exclude={h.lead_id: h.rep_email for h in handoffs},
        previous={h.lead_id: h.id for h in handoffs},
    )
