"""Lead services: normalise addresses, create or update leads, append events.

Functions take a session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Row, TextClause, bindparam, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import is_postgres
from nurture.leads.models import Event, Lead, new_public_id


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


async def find_by_email(session: AsyncSession, address: str) -> Lead | None:
    """The lead with this address, however it is spelt (normalised as on capture: case,
    spaces, IDNA); None also for a string that is no address, since no lead can have it."""
    try:
        email = normalise_email(address)
    except InvalidEmail:
        return None
    return await session.scalar(select(Lead).where(Lead.email == email))


async def find_by_public_id(session: AsyncSession, public_id: str) -> Lead | None:
    return await session.scalar(select(Lead).where(Lead.public_id == public_id))


# Filled once, by the submission that created the lead: the source that brought it in.
FIRST_TOUCH = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
               "referrer", "source_form")  # fmt: skip
PROFILE = ("first_name", "last_name", "company", "job_title", "country", "timezone", "locale")


_UPSERT_COLUMNS = ("email", "public_id", "custom", "lifecycle_stage", "created_at", "updated_at",
                   *PROFILE, *FIRST_TOUCH)  # fmt: skip


@lru_cache(maxsize=128)
def _upsert_sql(dialect: str, rows: int) -> TextClause:
    """INSERT ... VALUES (row 0), (row 1), ... ON CONFLICT (email) DO UPDATE, as text cached per
    row count: SQLAlchemy cannot cache the compiled form of its dialect-specific upsert, and
    compiling it costs more than running it."""
    lead = Lead.__table__
    merge = "leads.custom || excluded.custom" if dialect == "postgresql" else (
        "json_patch(leads.custom, excluded.custom)")  # fmt: skip
    updates = ", ".join(f"{c} = COALESCE(excluded.{c}, leads.{c})" for c in PROFILE)
    values = ", ".join(
        "(" + ", ".join(f":{c}_{i}" for c in _UPSERT_COLUMNS) + ")" for i in range(rows)
    )
    sql = (
        f"INSERT INTO leads ({', '.join(_UPSERT_COLUMNS)}) VALUES {values} "
        f"ON CONFLICT (email) DO UPDATE SET {updates}, custom = {merge}, "
        f"updated_at = excluded.updated_at RETURNING {', '.join(c.name for c in lead.c)}"
    )
    typed = [bindparam(f"{c}_{i}", type_=lead.c[c].type)
             for i in range(rows) for c in _UPSERT_COLUMNS]  # fmt: skip
    return text(sql).bindparams(*typed).columns(*lead.c)


async def upsert_leads(
    session: AsyncSession,
    rows: Sequence[tuple[str, Mapping[str, Any], datetime, Mapping[str, Any] | None]],
) -> list[tuple[Row[Any], bool]]:
    """Create or update leads, in one statement: rows of (email, profile values, now, first-touch
    source), each email once. Returns (the lead's row, created) in the order given.

    A new submission never blanks a field filled before (empty values are ignored), custom
    fields merge, and the first-touch source (UTM, referrer, form) is kept from creation.
    """
    params: dict[str, Any] = {}
    for i, (email, values, now, first_touch) in enumerate(rows):
        row = {k: (values.get(k) or None) for k in PROFILE}
        row.update({k: (first_touch or {}).get(k) for k in FIRST_TOUCH})
        row.update(
            email=email, public_id=new_public_id(), lifecycle_stage="subscriber",
            custom={k: v for k, v in (values.get("custom") or {}).items() if v not in (None, "")},
            created_at=now, updated_at=now,
        )  # fmt: skip
        params.update({f"{k}_{i}": v for k, v in row.items()})
    dialect = "postgresql" if is_postgres(session) else "sqlite"
    result = (await session.execute(_upsert_sql(dialect, len(rows)), params)).all()
    by_email = {r.email: r for r in result}  # RETURNING order is not promised: match by email
    return [(by_email[email], by_email[email].created_at == now) for email, _, now, _ in rows]


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
        insert(Event.__table__).values(
            lead_id=lead_id,
            type=type_,
            occurred_at=at,
            sequence_id=sequence_id,
            step_id=step_id,
            data=data,
        )
    )


async def record_events(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> None:
    """Append many events with one executemany (rows: lead_id, type, occurred_at, ...)."""
    rows = [{"sequence_id": None, "step_id": None, "data": {}, **r} for r in rows]
    if rows:
        await session.execute(insert(Event.__table__), rows)


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


# Stages a CRM reports back (the API and `nurture leads stage`): sales owns the lead by then.
CRM_STAGES = ("sql", "opportunity", "customer")


async def record_crm_stage(
    session: AsyncSession, lead: Lead, stage: str, at: datetime, value: float | None, via: str
) -> str:
    """A later stage from the CRM, with an optional deal value. Reporting the same stage again
    with another value records it again (reports take each lead's latest value). Returns the
    previous stage."""
    if stage not in CRM_STAGES:
        raise ValueError(f"stage must be one of {', '.join(CRM_STAGES)}")
    previous = lead.lifecycle_stage
    lead.lifecycle_stage, lead.updated_at = stage, at
    await record_event(session, lead.id, "stage_changed", at, stage=stage, previous=previous,
                       value=value, via=via)  # fmt: skip
    return previous
