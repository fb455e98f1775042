"""Lead services: normalise addresses, find, create or update leads, change their stage,
suppress them.

Functions take a session and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import chunked, insert_values, is_postgres
from nurture.leads.events import EventType, event_row, record_events
from nurture.leads.models import PROFILE, Lead, SuppressionReason, new_public_id
from nurture.leads.stages import CRM_STAGES, Stage


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


def mask_email(email: str) -> str:
    """An address as a page shows it to whoever holds a link: m***@example.com."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(1, len(local) - 1)}@{domain}"


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
FIRST_TOUCH = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "source_form",
)


_UPSERT_COLUMNS = (
    "email",
    "public_id",
    "custom",
    "lifecycle_stage",
    "created_at",
    "updated_at",
    *PROFILE,
    *FIRST_TOUCH,
)


def _upsert_tail(dialect: str) -> str:
    merge = (
        "leads.custom || excluded.custom"
        if dialect == "postgresql"
        else ("json_patch(leads.custom, excluded.custom)")
    )
    updates = ", ".join(f"{c} = COALESCE(excluded.{c}, leads.{c})" for c in PROFILE)
    return (
        f"ON CONFLICT (email) DO UPDATE SET {updates}, custom = {merge}, "
        "updated_at = excluded.updated_at"
    )


async def upsert_leads(
    session: AsyncSession,
    rows: Sequence[tuple[str, Mapping[str, Any], datetime, Mapping[str, Any] | None]],
) -> list[tuple[Row[Any], bool]]:
    """Create or update leads, in one statement: rows of (email, profile values, now, first-touch
    source), each email once. Returns (the lead's row, created) in the order given.

    A new submission never blanks a field filled before (empty values are ignored), custom
    fields merge, and the first-touch source (UTM, referrer, form) is kept from creation.
    """
    params: list[dict[str, Any]] = []
    for email, values, now, first_touch in rows:
        row = {k: (values.get(k) or None) for k in PROFILE}
        row.update({k: (first_touch or {}).get(k) for k in FIRST_TOUCH})
        row.update(
            email=email,
            public_id=new_public_id(),
            lifecycle_stage=Stage.SUBSCRIBER,
            custom={k: v for k, v in (values.get("custom") or {}).items() if v not in (None, "")},
            created_at=now,
            updated_at=now,
        )
        params.append(row)
    dialect = "postgresql" if is_postgres(session) else "sqlite"
    lead = Lead.__table__
    returning = [c.name for c in lead.c]
    result = await insert_values(
        session, lead, _UPSERT_COLUMNS, params, _upsert_tail(dialect), returning
    )
    by_email = {r.email: r for r in result}  # RETURNING order is not promised: match by email
    return [(by_email[email], by_email[email].created_at == now) for email, _, now, _ in rows]


@dataclass(frozen=True)
class StageChange:
    """A lead about to move to another stage: its id, the stage it is in, what the
    ``stage_changed`` event should say about why (beyond what all changes share), and when,
    if not at the time all changes share (a group commit writes many form posts at once)."""

    lead_id: int
    previous: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None


async def change_stage(
    session: AsyncSession,
    stage: Stage,
    changes: Sequence[StageChange],
    at: datetime,
    *,
    again: bool = False,
    **data: Any,
) -> int:
    """Move leads to ``stage``, set-based: every stage change in nurture goes through here, so
    every change is a ``stage_changed`` event (reporting reads them). A lead already at
    ``stage`` is left alone unless ``again`` (a CRM reporting the same stage with a new deal
    value is recorded again). ORM objects of these leads in the session see the new stage.
    Returns how many moved."""
    moved = [c for c in changes if again or c.previous != stage]
    by_time: dict[datetime, list[int]] = {}
    for c in moved:
        by_time.setdefault(c.at or at, []).append(c.lead_id)
    for when, ids in by_time.items():  # one UPDATE per instant (usually one)
        for part in chunked(ids):
            await session.execute(
                update(Lead).where(Lead.id.in_(part)).values(lifecycle_stage=stage, updated_at=when)
            )
    await record_events(
        session,
        [
            event_row(
                c.lead_id,
                EventType.STAGE_CHANGED,
                c.at or at,
                stage=stage,
                previous=c.previous,
                **data,
                **c.data,
            )
            for c in moved
        ],
    )
    return len(moved)


# The reasons a suppression for this reason replaces (the others stay as they were).
_OUTRANKED_BY = {
    SuppressionReason.COMPLAINED: (
        SuppressionReason.UNSUBSCRIBED,
        SuppressionReason.BOUNCED,
        SuppressionReason.SUNSET,
    ),
    SuppressionReason.FORGOTTEN: (
        SuppressionReason.UNSUBSCRIBED,
        SuppressionReason.BOUNCED,
        SuppressionReason.SUNSET,
        SuppressionReason.COMPLAINED,
    ),
}


async def suppress(
    session: AsyncSession,
    leads: Mapping[int, Mapping[str, Any]],
    reason: SuppressionReason,
    at: datetime,
) -> list[int]:
    """No further marketing email to these addresses until each opts in again with consent.
    Set-based; ``leads``: lead id -> what its ``suppressed`` event should say besides the
    reason (e.g. the server's reply to a bounce). A lead suppressed already is left as it
    was, with no second event. ORM objects of these leads in the session see the change.
    Returns the ids suppressed now. A complaint outranks the other reasons: it replaces an
    earlier ``bounced`` or ``unsubscribed`` (which a form post may lift; a complaint never);
    being forgotten outranks them all, a complaint too, and nothing replaces it."""
    done: list[int] = []
    unsuppressed: ColumnElement[bool] = Lead.suppressed_at.is_(None)
    if reason in _OUTRANKED_BY:
        unsuppressed = or_(unsuppressed, Lead.suppression_reason.in_(_OUTRANKED_BY[reason]))
    for part in chunked(list(leads)):
        result = await session.execute(
            update(Lead)
            .where(Lead.id.in_(part), unsuppressed)
            .values(suppressed_at=at, suppression_reason=reason, updated_at=at)
            .returning(Lead.id)
        )
        done += result.scalars().all()
    await record_events(
        session,
        [event_row(i, EventType.SUPPRESSED, at, reason=reason, **leads[i]) for i in done],
    )
    return done


async def record_crm_stage(
    session: AsyncSession, lead: Lead, stage: Stage, at: datetime, value: float | None, via: str
) -> str:
    """A later stage from the CRM, with an optional deal value. Reporting the same stage again
    with another value records it again (reports take each lead's latest value). Returns the
    previous stage."""
    if stage not in CRM_STAGES:
        raise ValueError(f"stage must be one of {', '.join(CRM_STAGES)}")
    previous = lead.lifecycle_stage
    change = StageChange(lead.id, previous)
    await change_stage(session, stage, [change], at, again=True, value=value, via=via)
    return previous
