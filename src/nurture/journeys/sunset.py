"""The sunset: after a sequence with ``sunset: {after: 14d}``, a lead that completed it at
least that long ago and did not engage (``engagement``) since it entered gets no more
marketing mail: suppressed with reason ``sunset``, its other drips ended. What keeps a list
deliverable. A lead that engaged during the sequence is left alone (a goal such as
``event: click`` ends the sequence for it, as an exit, not a completion)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from nurture.config.project import Project
from nurture.db import chunked
from nurture.journeys.engagement import engaged_since
from nurture.leads.models import Lead, SuppressionReason
from nurture.leads.service import suppress
from nurture.ledger.enrollment import exit_matching
from nurture.ledger.models import LIVE, Enrollment, EnrollmentState


async def sunset_quiet(session: AsyncSession, project: Project, now: datetime) -> int:
    """Suppress (reason sunset) the leads past a sequence's sunset. Returns how many."""
    done = 0
    for sequence in project.sequences.values():
        if sequence.sunset is None:
            continue
        again = aliased(Enrollment)  # a later entry still running: not over yet
        live = exists().where(
            again.lead_id == Enrollment.lead_id,
            again.sequence_id == sequence.id,
            again.state.in_(LIVE),
        )
        rows = await session.scalars(
            select(Enrollment.lead_id)
            .join(Lead, Lead.id == Enrollment.lead_id)
            .where(
                Enrollment.sequence_id == sequence.id,
                Enrollment.state == EnrollmentState.COMPLETED,
                Enrollment.ended_at <= now - sequence.sunset.after,
                Lead.suppressed_at.is_(None),
                ~engaged_since(Enrollment.lead_id, Enrollment.enrolled_at),
                ~live,
            )
            .distinct()
        )
        lead_ids = sorted(rows.all())
        ids = await suppress(
            session,
            {i: {"sequence": sequence.id} for i in lead_ids},
            SuppressionReason.SUNSET,
            now,
        )
        for part in chunked(ids):
            await exit_matching(
                session, [Enrollment.lead_id.in_(part)], SuppressionReason.SUNSET, now
            )
        done += len(ids)
    return done
