"""Lead services: normalise addresses, create or update leads, append events.

Functions take a session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.leads.models import Event, Lead


class InvalidEmail(ValueError):
    pass


def normalise_email(raw: str) -> str:
    """Syntax-checked, IDNA-encoded, lower-cased address; no DNS lookups."""
    try:
        result = validate_email(
            raw.strip(), check_deliverability=False, allow_smtputf8=False, allow_quoted_local=False
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return result.ascii_email.lower()  # type: ignore[union-attr]


async def find_by_email(session: AsyncSession, email: str) -> Lead | None:
    return await session.scalar(select(Lead).where(Lead.email == email))


async def find_by_public_id(session: AsyncSession, public_id: str) -> Lead | None:
    return await session.scalar(select(Lead).where(Lead.public_id == public_id))


async def upsert_lead(
    session: AsyncSession, email: str, values: Mapping[str, Any], now: datetime
) -> tuple[Lead, bool]:
    """Create the lead, or update it with the non-empty values given. Returns (lead, created).

    A new submission never blanks a field a lead filled in before; custom fields merge.
    """
    lead = await find_by_email(session, email)
    created = lead is None
    if lead is None:
        lead = Lead(email=email, custom={}, created_at=now, updated_at=now)
        session.add(lead)
    custom = dict(lead.custom or {})
    for key, value in values.items():
        if value in (None, ""):
            continue
        if key == "custom":
            custom.update({k: v for k, v in value.items() if v not in (None, "")})
        else:
            setattr(lead, key, value)
    lead.custom = custom
    lead.updated_at = now
    await session.flush()
    return lead, created


async def record_event(
    session: AsyncSession,
    lead_id: int,
    type_: str,
    at: datetime,
    *,
    sequence_id: str | None = None,
    step_id: str | None = None,
    **data: Any,
) -> None:
    await session.execute(
        insert(Event).values(
            lead_id=lead_id,
            type=type_,
            occurred_at=at,
            sequence_id=sequence_id,
            step_id=step_id,
            data=data,
        )
    )


async def record_events(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> None:
    """Append many events in one statement (rows: lead_id, type, occurred_at, ...)."""
    rows = [{"sequence_id": None, "step_id": None, "data": {}, **r} for r in rows]
    if rows:
        await session.execute(insert(Event), rows)


async def set_stage(
    session: AsyncSession, lead: Lead, stage: str, at: datetime, **data: Any
) -> None:
    """Move a lead to a lifecycle stage; every change is an event (reporting reads them)."""
    if lead.lifecycle_stage == stage:
        return
    previous, lead.lifecycle_stage = lead.lifecycle_stage, stage
    await record_event(
        session, lead.id, "stage_changed", at, stage=stage, previous=previous, **data
    )


async def suppress(session: AsyncSession, lead: Lead, reason: str, at: datetime) -> None:
    """No further marketing email to this address until it opts in again with consent."""
    if lead.suppressed_at is None:
        lead.suppressed_at, lead.suppression_reason = at, reason
        await record_event(session, lead.id, "suppressed", at, reason=reason)
