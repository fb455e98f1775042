"""Synthetic data for benchmarks and fault tests: many leads with a touch due, in bulk SQL.

Not for production data: it writes rows directly, skipping capture and consent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, text

from nurture.config.project import Project
from nurture.db import PARAM_CHUNK, session_scope
from nurture.leads.models import Lead
from nurture.leads.stages import Stage
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState


async def seed_due_touches(
    url: str,
    project: Project,
    n: int,
    now: datetime,
    sequence_id: str = "b2b-nurture",
    step_index: int = 1,
    domain: str = "example.com",
) -> list[str]:
    """``n`` new leads, each enrolled with step ``step_index`` due at ``now``; their emails."""
    sequence = project.sequences[sequence_id]
    step = sequence.steps[step_index]
    async with session_scope(url) as session:
        offset = (await session.scalar(select(func.max(Lead.id)))) or 0
    emails = []
    for start in range(offset + 1, offset + n + 1, PARAM_CHUNK):
        ids = range(start, min(offset + n, start + PARAM_CHUNK - 1) + 1)
        leads = [
            {
                "id": i,
                "public_id": f"{i:032x}",
                "email": f"lead{i}@{domain}",
                "first_name": "Max",
                "last_name": f"Muster{i}",
                "company": "Beispiel GmbH",
                "timezone": "Europe/Berlin",
                "custom": {},
                "lifecycle_stage": Stage.LEAD,
                "created_at": now,
                "updated_at": now,
            }
            for i in ids
        ]
        emails += [lead["email"] for lead in leads]
        async with session_scope(url) as session:
            await session.execute(insert(Lead), leads)
            await session.execute(
                insert(Enrollment),
                [
                    {
                        "id": i,
                        "lead_id": i,
                        "sequence_id": sequence.id,
                        "sequence_version": project.versions[sequence.id],
                        "state": EnrollmentState.ACTIVE,
                        "current_step": step_index,
                        "next_due_at": now,
                        "enrolled_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            await session.execute(
                insert(Touch),
                [
                    {
                        "enrollment_id": i,
                        "lead_id": i,
                        "sequence_id": sequence.id,
                        "step_id": step.id,
                        "step_index": step_index,
                        "state": TouchState.SCHEDULED,
                        "due_at": now,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
    async with session_scope(url) as session:
        if session.get_bind().dialect.name == "postgresql":
            # Ids were given explicitly: move the sequences past them for later inserts.
            for table in ("leads", "enrollments"):
                await session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            # As after any bulk load: planner statistics now. Without them PostgreSQL takes
            # the fresh tables for tiny ones and hash-joins all of leads and enrollments
            # for every batch it loads, until autovacuum analyses them some minute later.
            await session.execute(text("ANALYZE leads, enrollments, sends"))
    return emails
