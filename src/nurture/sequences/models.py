"""Table: enrollments (a lead in a sequence)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime, utcnow
from nurture.leads.models import BigId


class EnrollmentState:
    PENDING = "pending"  # waiting for double opt-in confirmation
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("lead_id", "sequence_id", name="uq_enrollments_lead_sequence"),
        Index("ix_enrollments_state_due", "state", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    sequence_id: Mapped[str] = mapped_column(String(64))
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
