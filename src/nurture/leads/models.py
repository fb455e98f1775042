"""Tables: leads, consents, events."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, JSONType, UTCDateTime, utcnow
from nurture.leads.stages import Stage

BigId = BigInteger().with_variant(Integer, "sqlite")


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"  # the lead asked (page or one-click)
    BOUNCED = "bounced"  # the address does not exist (a 5xx, a bounce report, soft bounces)
    COMPLAINED = "complained"  # the lead marked our mail as spam: never mailed again
    SUNSET = "sunset"  # no human engagement even after a re-engagement sequence
    FORGOTTEN = "forgotten"  # the person asked to be forgotten: the row is anonymous


# The lead's profile columns: what a form, an import or a CRM may fill in (besides the address).
PROFILE = ("first_name", "last_name", "company", "job_title", "country", "timezone", "locale")


def new_public_id() -> str:
    return uuid.uuid4().hex


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Opaque id for links and the API; the integer id never leaves the database.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company: Mapped[str | None] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    custom: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    referrer: Mapped[str | None] = mapped_column(String(2000))
    source_form: Mapped[str | None] = mapped_column(String(64))
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default=Stage.SUBSCRIBER)
    # Set when the lead first confirmed a double opt-in link: the address is theirs.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when no marketing email may go out (the reason is a SuppressionReason).
    suppressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suppression_reason: Mapped[str | None] = mapped_column(String(20))
    # Engagement before this instant no longer counts (set when sales recycles the lead).
    score_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sales rep who accepted the lead (or has it for review).
    owner_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LeadScore(Base):
    """One row per lead and scoring rule that gave it points, as of the last scoring pass.
    A lead's score is the rounded sum of its rows (kept here only: rewriting a score column
    on every lead each pass cost more than the scoring)."""

    __tablename__ = "lead_scores"

    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # fit or engagement
    points: Mapped[float] = mapped_column(Float)


class Consent(Base):
    """Proof of consent: what was agreed to, when, from where, and when it was confirmed."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(4000))
    text_version: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_ip: Mapped[str | None] = mapped_column(String(45))
    # The request that confirmed: a person pressing the button (a POST), not a mail scanner.
    confirmed_user_agent: Mapped[str | None] = mapped_column(String(500))


class Event(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_lead_occurred", "lead_id", "occurred_at"),
        Index("ix_events_type_occurred", "type", "occurred_at"),
        Index("ix_events_lead_type", "lead_id", "type"),
        # the funnel report's per-step counts (migration 0004)
        Index(
            "ix_events_type_sequence_step",
            "type",
            "sequence_id",
            "step_id",
            "occurred_at",
            "lead_id",
        ),
        Index("ix_events_touch", "touch_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sequence_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(64))
    # The send it is about (opens, clicks, replies, bounces). No foreign key: the log keeps
    # its rows whatever happens to the ledger's.
    touch_id: Mapped[int | None] = mapped_column(BigId)
    # Opens and clicks: why a machine did it (a MachineReason); NULL: a person did.
    machine: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
