"""Test data made through the real services (no hand-written rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Lead
from nurture.leads.service import upsert_leads
from nurture.ledger.enrollment import enrol_many
from nurture.ledger.models import Touch
from nurture.settings import Settings

# What a person's browser or mail client sends: opens and clicks from it count as human (an
# httpx client's own user agent is a bot's).
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
}


async def enrolled_leads(
    settings: Settings,
    n: int,
    now: datetime,
    sequence_id: str = "b2b-nurture",
    domain: str = "example.com",
    **fields: Any,
) -> list[str]:
    """``n`` leads enrolled (already confirmed) in a sequence at ``now``; returns addresses."""
    project = load_project(settings.config_dir)
    sequence = project.sequences[sequence_id]
    emails = [f"lead{i}@{domain}" for i in range(n)]
    values = {"first_name": "Max", "timezone": "Europe/Berlin", **fields}
    async with session_scope(settings.database_url.get_secret_value()) as session:
        for start in range(0, n, 500):  # the databases' bound-parameter limits
            chunk = emails[start : start + 500]
            leads = await upsert_leads(session, [(e, values, now, None) for e in chunk])
            await enrol_many(
                session, project.versions, [(lead, [sequence], False, now) for lead, _ in leads]
            )
    return emails


async def touch_states(settings: Settings) -> dict[str, int]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(select(Touch.state, func.count()).group_by(Touch.state))
        return dict(rows.all())  # type: ignore[arg-type]


async def sent_touches(settings: Settings, n: int, now: datetime) -> list[Any]:
    """``n`` leads enrolled and their first touch sent (a dispatch pass to the settings' mail
    URL); returns each send's row: id, lead_id, email, sequence_id, step_id, message_id."""
    await enrolled_leads(settings, n, now)
    report = await run_pass(build_dispatcher(settings), now)
    assert report.total("sent") == n
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(
                Touch.id,
                Touch.lead_id,
                Lead.email,
                Touch.sequence_id,
                Touch.step_id,
                Touch.message_id,
            )
            .join(Lead, Lead.id == Touch.lead_id)
            .where(Touch.message_id.is_not(None))
            .order_by(Touch.id)
        )
        return list(rows.all())
