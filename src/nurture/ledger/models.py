"""Tables: enrollments (a lead in a sequence) and sends, the ledger: one row per touch
(enrollment x step), created when it is scheduled. The states are the vocabulary the
dispatcher, the reports and the operator commands share."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime, utcnow
from nurture.leads.models import BigId


class EnrollmentState(StrEnum):
    PENDING = "pending"  # waiting for double opt-in confirmation
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


LIVE = (EnrollmentState.PENDING, EnrollmentState.ACTIVE)


class TouchState(StrEnum):
    SCHEDULED = "scheduled"  # waiting for due_at
    RETRYING = "retrying"  # SMTP said 4xx; due again at due_at
    CLAIMED = "claimed"  # a dispatcher holds it; nothing handed to SMTP yet
    SENDING = "sending"  # about to be handed to SMTP: after a crash, in doubt, never resent
    SENT = "sent"
    BOUNCED = "bounced"  # 5xx, or 4xx until max attempts
    SKIPPED = "skipped"  # suppressed, enrollment ended, ... (reason says which)
    IN_DOUBT = "in_doubt"  # the dispatcher died between SMTP and recording the reply


CLAIMABLE = (TouchState.SCHEDULED, TouchState.RETRYING)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        # a lead's entries into a sequence are numbered: re-entry (sequence.reenter) adds one
        UniqueConstraint(
            "lead_id", "sequence_id", "entry", name="uq_enrollments_lead_sequence_entry"
        ),
        Index("ix_enrollments_state_due", "state", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    sequence_id: Mapped[str] = mapped_column(String(64))
    entry: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Hash of the sequence config when enrolled; steps are matched by their stable ids.
    sequence_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=EnrollmentState.ACTIVE)
    # Number of steps done (sent or skipped): the index of the next step.
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Touch(Base):
    __tablename__ = "sends"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", name="uq_sends_enrollment_step"),
        Index("ix_sends_state_due", "state", "due_at"),
        Index("ix_sends_lead", "lead_id"),
        # bounce and complaint reports name the send by our Message-ID
        Index("ix_sends_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    sequence_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(64))
    step_index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=TouchState.SCHEDULED)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_reply: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(255))
    # The step's experiment arm this touch got (docs/experiments.md): set once, in the claim's
    # transaction before any send, so a retry or a crash never reassigns it.
    variant: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
