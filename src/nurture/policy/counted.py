"""What the cap counts, loaded for a whole batch of leads at once (one statement each)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked
from nurture.leads.models import Lead
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState

T, E, L = Touch.__table__, Enrollment.__table__, Lead.__table__


async def lock_leads(session: AsyncSession, lead_ids: Collection[int]) -> None:
    """Serialise concurrent triages of the same lead (PostgreSQL; SQLite's writer lock does it
    already): each dispatcher's claim is invisible to the others until it commits, so two
    batches holding touches of one lead would each count without the other's and together
    exceed the cap. In id order, so two batches never wait on each other in a cycle.
    ``FOR NO KEY UPDATE``: it does not block the key-share lock an insert into sends or
    events takes on its lead (a concurrent recording of replies), only another triage and
    updates of the lead row."""
    for part in chunked(sorted(lead_ids)):
        await session.execute(
            select(L.c.id).where(L.c.id.in_(part)).order_by(L.c.id).with_for_update(key_share=True)
        )


async def counted_sends(
    session: AsyncSession,
    lead_ids: Collection[int],
    since: datetime,
    now: datetime,
    clock: datetime,
    worker: str,
    exempt: Collection[str],
) -> dict[int, list[datetime]]:
    """Lead id -> the times of its marketing touches the cap counts after ``since``: sent
    (at ``sent_at``), being or maybe sent (``sending``, ``in_doubt``: at their last change),
    and those another dispatcher holds with a live lease (they go out now). Not this
    dispatcher's own claims (the batch being triaged counts its accepted touches itself), not
    exempt sequences, not bounced, skipped or retrying touches (nothing was delivered)."""
    counted: dict[int, list[datetime]] = defaultdict(list)
    for part in chunked(sorted(lead_ids)):
        rows = await session.execute(
            select(T.c.lead_id, T.c.state, T.c.sent_at, T.c.updated_at).where(
                T.c.lead_id.in_(part),
                T.c.sequence_id.not_in(list(exempt)) if exempt else true(),
                or_(
                    (T.c.state == TouchState.SENT) & (T.c.sent_at > since),
                    T.c.state.in_((TouchState.SENDING, TouchState.IN_DOUBT))
                    & (T.c.updated_at > since),
                    (T.c.state == TouchState.CLAIMED)
                    & (T.c.claimed_by != worker)
                    & (T.c.lease_until >= clock),
                ),
            )
        )
        for lead_id, state, sent_at, updated_at in rows.all():
            moment = {TouchState.SENT: sent_at, TouchState.CLAIMED: now}.get(state, updated_at)
            counted[lead_id].append(moment)
    return counted


async def active_sequences(session: AsyncSession, lead_ids: Collection[int]) -> dict[int, set[str]]:
    """Lead id -> the sequences it is actively enrolled in (for priority pauses)."""
    active: dict[int, set[str]] = defaultdict(set)
    for part in chunked(sorted(lead_ids)):
        rows = await session.execute(
            select(E.c.lead_id, E.c.sequence_id).where(
                E.c.lead_id.in_(part), E.c.state == EnrollmentState.ACTIVE
            )
        )
        for lead_id, sequence_id in rows.all():
            active[lead_id].add(sequence_id)
    return active
