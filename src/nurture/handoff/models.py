"""Table: handoffs (a qualified lead offered to a sales rep)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, JSONType, UTCDateTime, utcnow
from nurture.leads.models import BigId


class HandoffState(StrEnum):
    PENDING = "pending"  # waiting for the rep to accept or reject
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"  # no answer within the SLA: a new handoff went to the next rep


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (
        # At most one open handoff per lead, whatever reruns or races happen.
        Index(
            "uq_handoffs_pending_lead",
            "lead_id",
            unique=True,
            sqlite_where=text(f"state = '{HandoffState.PENDING}'"),
            postgresql_where=text(f"state = '{HandoffState.PENDING}'"),
        ),
        Index("ix_handoffs_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    territory: Mapped[str] = mapped_column(String(64))
    rep_name: Mapped[str] = mapped_column(String(100))
    rep_email: Mapped[str] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(String(16), default=HandoffState.PENDING)
    score: Mapped[int] = mapped_column(Integer)
    # The score breakdown when handed off: what the rep was shown.
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    previous_id: Mapped[int | None] = mapped_column(BigId)  # reassigned from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(1000))
